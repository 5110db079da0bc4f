"""HumanLevelAnalysis in a small pipeline of its own, found through ML Metadata.

CsvExampleGen -> HumanLevelAnalysis, with two models brought in by Importer:
stand-ins with the exported models' `serving_examples` contract (the output
dict comes from models/model.py itself) whose predictions are known exactly,
so every number the component reports about them can be checked:
  candidate:  the true outcome, except a wrong class on every broker row;
  "blessed":  always `repaid` (so it must score exactly as the majority baseline).
The Trainer's real model goes through the same code in the end-to-end test.
"""

import json
import os
import shutil

from ml_metadata.proto import metadata_store_pb2
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from analysis import baselines
from analysis import hlp_data
from analysis import hlp_report
from analysis import hlp_view
from cli import hlp_report as hlp_command
from components.human_level import component as hlp
from components.human_level import executor
from data import generator
import description
from models import model as model_lib
from pipeline import configs
from metadata import artifacts
from metadata import type_names
from metadata import connection
from metadata import run_summary

PIPELINE = 'hlp_test'
NODE = 'HumanLevelAnalysis'
FIRST_RUN_NODE = 'HumanLevelAnalysisWithoutBaseline'
ROWS = 2000
LABELER_FRACTION = 0.5


class _StandIn(tf.Module):
  """serving_examples -> the outputs models/model.py exports, by a fixed rule."""

  def __init__(self, classes, rule):
    super().__init__()
    self._classes = list(classes)
    self._rule = rule

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(self, serialized):
    parsed = tf.io.parse_example(serialized, {
        'outcome': tf.io.FixedLenFeature([], tf.string),
        'channel': tf.io.FixedLenFeature([], tf.string)})
    truth = tf.argmax(tf.cast(tf.equal(parsed['outcome'][:, None],
                                       tf.constant(self._classes)[None, :]), tf.int64), axis=1)
    if self._rule == 'wrong_on_broker':
      ids = tf.where(tf.equal(parsed['channel'], 'broker'), (truth + 1) % 3, truth)
    else:
      ids = tf.zeros_like(truth)
    return model_lib._prediction_outputs(  # pylint: disable=protected-access
        tf.one_hot(ids, len(self._classes)), self._classes)


def _save_model(directory, classes, rule):
  module = _StandIn(classes, rule)
  path = os.path.join(directory, 'Format-Serving')  # the Trainer's layout
  tf.saved_model.save(module, path, signatures={executor.SIGNATURE: module.serve})
  return directory


def _pipeline(spec, data_root, root, candidate_dir, blessed_dir):
  example_gen = tfx.components.CsvExampleGen(
      input_base=data_root,
      input_config=tfx.proto.Input(splits=[
          tfx.proto.Input.Split(name='single_split', pattern=spec.input_pattern)]),
      output_config=tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
          tfx.proto.SplitConfig.Split(name=name, hash_buckets=size)
          for name, size in spec.splits.items()])))
  candidate = tfx.dsl.Importer(
      source_uri=candidate_dir, artifact_type=standard_artifacts.Model).with_id('candidate')
  blessed = tfx.dsl.Importer(
      source_uri=blessed_dir, artifact_type=standard_artifacts.Model).with_id('blessed')
  analysis = hlp.HumanLevelAnalysis(
      examples=example_gen.outputs['examples'],
      model=candidate.outputs['result'],
      baseline_model=blessed.outputs['result'],
      spec=spec,
      data_root=data_root)
  # As create_pipeline wires it on a first run: the Resolver finds no blessed
  # model, so the optional baseline input is empty.
  resolver = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing)
  ).with_id('latest_blessed_model_resolver')
  first_run = hlp.HumanLevelAnalysis(
      examples=example_gen.outputs['examples'],
      model=candidate.outputs['result'],
      baseline_model=resolver.outputs['model'],
      spec=spec,
      data_root=data_root).with_id(FIRST_RUN_NODE)
  return tfx.dsl.Pipeline(
      pipeline_name=PIPELINE,
      pipeline_root=os.path.join(root, 'pipeline_root'),
      components=[example_gen, candidate, blessed, analysis, resolver, first_run],
      enable_cache=True,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(os.path.join(root, 'metadata.sqlite')),
      beam_pipeline_args=configs.beam_pipeline_args(ROWS, setup_file=configs.SETUP_FILE))


@pytest.fixture(scope='module')
def spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='module')
def run(spec, tmp_path_factory):
  root = str(tmp_path_factory.mktemp('hlp_pipeline'))
  data_root = os.path.join(root, 'data')
  generator.generate(data_root, spans=2, rows_per_span=ROWS, seed=11,
                     labeler_fraction=LABELER_FRACTION, verbose=False)
  candidate = _save_model(os.path.join(root, 'candidate'), spec.classes, 'wrong_on_broker')
  blessed = _save_model(os.path.join(root, 'blessed'), spec.classes, 'always_first')
  tfx.orchestration.LocalDagRunner().run(
      _pipeline(spec, data_root, root, candidate, blessed))
  metadata = os.path.join(root, 'metadata.sqlite')
  with open(os.path.join(data_root, 'generation.json')) as f:
    generation = json.load(f)
  return {'root': root, 'data_root': data_root, 'metadata': metadata,
          'generation': generation}


def _uri(run, node=NODE):
  """The HLP artifact a given node produced in the run."""
  store = connection.open_store(run['metadata'])
  uris = [a.uri for a in store.get_artifacts_by_type(artifacts.HumanLevelPerformance.TYPE_NAME)
          if os.path.basename(os.path.dirname(os.path.dirname(a.uri))) == node]
  assert len(uris) == 1, uris
  return uris[0]


def _artifact(store, uri):
  found = [a for a in store.get_artifacts_by_type(artifacts.HumanLevelPerformance.TYPE_NAME) if a.uri == uri]
  assert len(found) == 1
  return found[0]


def _eval_split(run):
  """The evaluation split's rows as the component read them."""
  summary = run_summary.summarize(run['metadata'], PIPELINE)
  examples = standard_artifacts.Examples()
  examples.set_mlmd_artifact(summary.artifact('Examples'))
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  evaluation, _, _, _ = executor.read_examples(examples, spec, 'eval', set(), 0)
  return examples, evaluation


def test_the_artifact_is_in_mlmd_with_its_key_numbers_and_lineage(run):
  uri = _uri(run)
  # What the CLI finds: the newest of the run's two.
  assert hlp_command.latest_artifact_uri(run['metadata'], PIPELINE) in {
      uri, _uri(run, FIRST_RUN_NODE)}
  store = connection.open_store(run['metadata'])
  artifact = _artifact(store, uri)
  properties = {k: v.string_value or v.double_value or v.int_value
                for k, v in artifact.custom_properties.items()}
  assert properties['span'] == 2  # the latest span, from the Examples artifact
  assert properties['split'] == 'eval'
  assert properties['labelers_file'].endswith(os.path.join('labelers', 'span-2.csv'))
  assert properties['top_slice'] == 'channel=broker'
  assert properties['basis'] == 'ground_truth'
  assert 0.8 < properties['hlp'] < 0.95
  # The "blessed" stand-in always says repaid, the majority class.
  assert properties['blessed_model_accuracy'] == pytest.approx(properties['majority_accuracy'])
  for name in ('fleiss_kappa', 'krippendorff_alpha', 'linear_accuracy', 'gap_to_hlp'):
    assert name in properties
  assert os.path.exists(os.path.join(uri, hlp_report.REPORT_JSON))
  assert os.path.exists(os.path.join(uri, hlp_report.REPORT_HTML))

  # Lineage: produced from the Examples and both models.
  events = store.get_events_by_artifact_ids([artifact.id])
  execution = events[0].execution_id
  inputs = [e.artifact_id for e in store.get_events_by_execution_ids([execution])
            if e.type == metadata_store_pb2.Event.INPUT]
  types = {store.get_artifact_types_by_id([a.type_id])[0].name
           for a in store.get_artifacts_by_id(inputs)}
  assert types == {'Examples', 'Model'} and len(inputs) == 3


def test_model_numbers_match_the_stand_in_exactly(run):
  _, evaluation = _eval_split(run)
  report = hlp_report.read_report(_uri(run))
  broker = (evaluation['channel'] == 'broker').to_numpy()
  assert report['meta']['n_eval'] == len(evaluation)
  assert report['headline']['model_accuracy'] == pytest.approx(1 - broker.mean())
  tags = hlp_view.table_frame(report, 'error_analysis_by_tag').set_index('tag')
  assert tags.loc['channel=broker', 'fraction_of_errors'] == 1.0
  assert tags.loc['channel=broker', 'error_rate'] == 1.0
  systems = hlp_view.table_frame(report, 'baselines').set_index('system')
  assert list(systems.index) == [baselines.MAJORITY, baselines.LINEAR, baselines.BLESSED_MODEL,
                                 baselines.NEW_MODEL, hlp_report.HUMAN_SYSTEM]
  assert systems.loc[baselines.BLESSED_MODEL, 'accuracy'] == pytest.approx(
      (evaluation['outcome'] == 'repaid').mean())
  # Per slice too, on the same examples as the new model's figure beside it.
  slices = pd.concat([hlp_view.table_frame(report, 'what_to_work_on'),
                      hlp_view.table_frame(report, 'not_ranked')])
  single = slices[slices['slice_column'].isin(evaluation.columns)]  # crosses aside
  assert len(single) >= 5
  # Wherever the new model has a figure, the blessed one has one too.
  assert (slices['blessed_model'].notna() == slices['model'].notna()).all()
  for column, value, blessed in zip(single['slice_column'], single['slice_value'],
                                    single['blessed_model']):
    rows = evaluation[evaluation[column].astype(str) == str(value)]
    assert blessed == pytest.approx((rows['outcome'] == 'repaid').mean()), (column, value)


def test_labeler_accuracies_recover_the_planted_ones(run):
  """Within 4 binomial standard errors of generation.json's expected
  accuracy for the span's labeled sample (~1,000 rows: about +-0.04)."""
  report = hlp_report.read_report(_uri(run))
  span = next(s for s in run['generation']['spans'] if s['span'] == 2)
  overall = hlp_view.table_frame(report, 'hlp_by_slice').iloc[0]
  assert overall['slice_column'] == 'overall'
  n = overall['n_labeled']
  assert n == span['labelers']['rows'] == int(ROWS * LABELER_FRACTION)
  for labeler, expected in span['labelers']['expected_accuracy'].items():
    tolerance = 4 * np.sqrt(expected * (1 - expected) / n)
    assert overall[f'{labeler}_accuracy'] == pytest.approx(expected, abs=tolerance), labeler


def test_on_a_first_run_there_is_no_blessed_model_row(run):
  report = hlp_report.read_report(_uri(run, FIRST_RUN_NODE))
  assert report['meta']['baseline_model_uri'] is None
  assert baselines.BLESSED_MODEL not in report['meta']['systems']
  assert report['headline']['blessed_model_accuracy'] is None
  with_baseline = hlp_report.read_report(_uri(run))
  # The same ranking; only the blessed model's column is missing.
  assert report['tables']['what_to_work_on'] == [
      {k: v for k, v in row.items() if k != hlp_report.BLESSED_MODEL_COLUMN}
      for row in with_baseline['tables']['what_to_work_on']]
  assert all(hlp_report.BLESSED_MODEL_COLUMN in row
             for row in with_baseline['tables']['what_to_work_on'])


def test_cli_prints_the_latest_artifact_of_the_store(run, capsys):
  assert hlp_command.main(['--metadata', run['metadata'], '--pipeline-name', PIPELINE]) == 0
  out = capsys.readouterr().out
  for title in ('What to work on', 'Human-level performance per slice', 'Inter-annotator',
                "Pairwise Cohen's kappa", 'Which classes labelers confuse',
                'Error analysis by tag', 'Baselines'):
    assert title in out
  assert hlp_command.main(['--metadata', run['metadata'], '--pipeline-name', 'other']) == 2
  assert f'no {type_names.HUMAN_LEVEL_PERFORMANCE} artifact' in capsys.readouterr().err


def _execute(run, spec, data_root, tmp_path, model_dir=None):
  examples, _ = _eval_split(run)
  model = standard_artifacts.Model()
  model.uri = model_dir or os.path.join(run['root'], 'candidate')
  output = artifacts.HumanLevelPerformance()
  output.uri = str(tmp_path / 'out')
  os.makedirs(output.uri)
  properties = {
      description.EXEC_PROPERTY: description.to_exec_property(spec), 'data_root': data_root,
      'example_split': 'eval', 'use_ground_truth': 1, 'min_slice_examples': 30,
      'max_baseline_train_rows': 1000, 'max_unjoined_fraction': 0.0,
      'labelers_fingerprint': ''}
  executor.Executor().Do({'examples': [examples], 'model': [model]}, {'hlp': [output]}, properties)
  return output


def test_a_missing_labelers_file_names_its_path_and_span(run, spec, tmp_path):
  empty_root = str(tmp_path / 'no_labels')
  with pytest.raises(hlp_data.HlpDataError) as error:
    _execute(run, spec, empty_root, tmp_path)
  assert os.path.join(empty_root, 'labelers', 'span-2.csv') in str(error.value)
  assert 'span 2' in str(error.value)


def test_labels_of_another_span_are_refused_with_counts_and_examples(run, spec, tmp_path):
  data_root = str(tmp_path / 'data')
  os.makedirs(os.path.join(data_root, 'labelers'))
  # Span 1's labels filed as span 2's: no id joins.
  shutil.copy(os.path.join(run['data_root'], 'labelers', 'span-1.csv'),
              os.path.join(data_root, 'labelers', 'span-2.csv'))
  with pytest.raises(hlp_data.HlpDataError) as error:
    _execute(run, spec, data_root, tmp_path)
  message = str(error.value)
  assert f'{int(ROWS * LABELER_FRACTION)} of {int(ROWS * LABELER_FRACTION)} application_id' in message
  assert "e.g. ['S01-" in message and 'span 2' in message


def test_a_model_with_other_class_names_is_refused(run, spec, tmp_path):
  other = _save_model(str(tmp_path / 'other'), ['late', 'repaid', 'default'], 'wrong_on_broker')
  with pytest.raises(hlp_data.HlpDataError, match='names its classes differently'):
    _execute(run, spec, run['data_root'], tmp_path, model_dir=other)


def test_construction_checks_the_description_and_fingerprints_the_labels(spec, tmp_path):
  examples = tfx.dsl.Channel(type=standard_artifacts.Examples)
  model = tfx.dsl.Channel(type=standard_artifacts.Model)
  raw = dict(spec.raw)
  raw.pop('labelers')
  no_labelers = description.parse(raw, source='no_labelers.yaml')
  with pytest.raises(description.DatasetSpecError, match='labelers.pattern is not set'):
    hlp.HumanLevelAnalysis(examples=examples, model=model,
                           spec=no_labelers, data_root=str(tmp_path))

  path = tmp_path / 'labelers' / 'span-1.csv'
  path.parent.mkdir()
  path.write_text('application_id,labeler_1,labeler_2,labeler_3\nA,late,late,late\n')

  def fingerprint():
    component = hlp.HumanLevelAnalysis(examples=examples, model=model,
                                       spec=spec, data_root=str(tmp_path))
    return component.exec_properties['labelers_fingerprint']
  before = fingerprint()
  assert before == fingerprint()  # stable, so an unchanged run is cached
  path.write_text('application_id,labeler_1,labeler_2,labeler_3\nA,late,late,default\n')
  assert fingerprint() != before  # a relabeled example invalidates the cache
