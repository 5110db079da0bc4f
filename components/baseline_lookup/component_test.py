"""The lookups' executors: what they publish for a consumer, found or not."""

import json

from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.baseline_lookup import component as lookup
from components.baseline_lookup import executor
from kubeflow_support import kfp_metadata
from kubeflow_support import launch
from metadata import artifacts


def _record(metadata, run, task, inputs, outputs):
  """outputs: key -> (schema title, uri, metadata); returns key -> MLMD id."""
  runtime = {key: {'uri': uri, 'metadata': meta, 'type': {'schemaTitle': title}}
             for key, (title, uri, meta) in outputs.items()}
  _, ids = metadata.record(task, 'image', metadata_store_pb2.Execution.COMPLETE,
                           inputs, runtime, metadata.run_contexts('p', run))
  return ids


def _kfp_store(path, blessed=True):
  """Span 1 of pipeline `p`, accepted and blessed, as the KFP launcher records it."""
  metadata = kfp_metadata.KfpMetadata(path)
  examples = _record(metadata, 'r1', 'CsvExampleGen', {}, {'examples': (
      'tfx.Examples', '/b/1/examples', {'custom:span': 1, 'split_names': '["train"]'})})
  statistics = _record(metadata, 'r1', 'StatisticsGen', examples, {'statistics': (
      'tfx.ExampleStatistics', '/b/1/statistics', {'split_names': '["train"]'})})
  _record(metadata, 'r1', 'DataValidationGate',
          {'statistics': statistics['statistics'], 'examples': examples['examples']},
          {'verdict': (artifacts.DataValidationVerdict.TYPE_NAME, '/b/1/verdict',
                       {artifacts.VERDICT_PASSED: 1})})
  model = _record(metadata, 'r1', 'Trainer', {}, {'model': ('tfx.Model', '/b/1/model', {})})
  _record(metadata, 'r1', 'Evaluator', model, {'blessing': (
      'tfx.ModelBlessing', '/b/1/blessing', {'blessed': int(blessed)})})
  return statistics['statistics']


def _examples(span):
  examples = standard_artifacts.Examples()
  # As TFX's KFP entrypoint parses the driver's custom:span.
  examples.set_float_custom_property('span', float(span))
  return examples


def test_previous_span_points_the_outputs_at_the_accepted_span(tmp_path, monkeypatch):
  statistics_id = _kfp_store(str(tmp_path / 'm.sqlite'))
  monkeypatch.setenv(executor.METADATA_URI_ENV, str(tmp_path / 'm.sqlite'))
  outputs = {'baseline_statistics': [standard_artifacts.ExampleStatistics()],
             'baseline_examples': [standard_artifacts.Examples()]}
  executor.PreviousSpanExecutor().Do({'examples': [_examples(2)]}, outputs,
                                     {'pipeline_name': 'p'})
  [statistics], [examples] = outputs['baseline_statistics'], outputs['baseline_examples']
  assert (statistics.uri, examples.uri) == ('/b/1/statistics', '/b/1/examples')
  assert examples.span == 1 and json.loads(statistics.split_names) == ['train']
  assert statistics.get_int_custom_property(artifacts.FOUND) == 1
  assert statistics.get_int_custom_property(artifacts.SOURCE_ARTIFACT_ID) == statistics_id


def test_nothing_earlier_is_published_as_not_found(tmp_path, monkeypatch):
  _kfp_store(str(tmp_path / 'm.sqlite'))
  monkeypatch.setenv(executor.METADATA_URI_ENV, str(tmp_path / 'm.sqlite'))
  outputs = {'baseline_statistics': [standard_artifacts.ExampleStatistics()],
             'baseline_examples': [standard_artifacts.Examples()]}
  outputs['baseline_statistics'][0].uri = '/provisioned'
  executor.PreviousSpanExecutor().Do({'examples': [_examples(1)]}, outputs,
                                     {'pipeline_name': 'p'})
  [statistics] = outputs['baseline_statistics']
  assert statistics.uri == '/provisioned'
  assert statistics.get_int_custom_property(artifacts.FOUND) == 0


def test_blessed_model_found_and_not(tmp_path, monkeypatch):
  for blessed in (True, False):
    path = str(tmp_path / f'{blessed}.sqlite')
    _kfp_store(path, blessed=blessed)
    monkeypatch.setenv(executor.METADATA_URI_ENV, path)
    outputs = {'model': [standard_artifacts.Model()]}
    executor.BlessedModelExecutor().Do(
        {'candidate_model': [standard_artifacts.Model()]}, outputs, {'pipeline_name': 'p'})
    [model] = outputs['model']
    assert model.get_int_custom_property(artifacts.FOUND) == int(blessed)
    assert (model.uri == '/b/1/model') is blessed


def test_the_light_modules_restate_the_lookups_constants_alike():
  from kubeflow_support import mlmd  # pylint: disable=g-import-not-at-top
  assert launch.FOUND == artifacts.FOUND
  assert mlmd.CLUSTER_ADDRESS == executor.KFP_METADATA_URI
  assert mlmd.METADATA_URI_ENV == executor.METADATA_URI_ENV


def test_a_not_found_answer_reaches_the_consumer_as_an_empty_input():
  executor_input = {'inputs': {'artifacts': {
      'baseline_model': {'artifacts': [{'uri': '/x', 'metadata': {'found': 0.0}}]},
      'baseline_statistics': {'artifacts': [{'uri': '/y', 'metadata': {'found': 1.0}}]},
      'model': {'artifacts': [{'uri': '/z', 'metadata': {}}]}}}}
  launch.drop_not_found(executor_input, ['baseline_model', 'baseline_statistics'])
  inputs = executor_input['inputs']['artifacts']
  assert inputs['baseline_model'] == {'artifacts': []}
  assert inputs['baseline_statistics']['artifacts'][0]['uri'] == '/y'
  assert inputs['model']['artifacts'][0]['uri'] == '/z'


def test_components_take_the_pipeline_name_and_this_run_s_artifact():
  from tfx.types import channel  # pylint: disable=g-import-not-at-top
  examples = channel.Channel(type=standard_artifacts.Examples)
  previous = lookup.PreviousSpanLookup(examples=examples, pipeline_name='p')
  assert previous.exec_properties == {'pipeline_name': 'p'}
  assert set(previous.outputs) == {'baseline_statistics', 'baseline_examples'}
  model = channel.Channel(type=standard_artifacts.Model)
  blessed = lookup.BlessedModelLookup(candidate_model=model, pipeline_name='p')
  assert set(blessed.outputs) == {'model'}
