"""The whole pipeline on a small generated dataset, checked through ML Metadata.

Three runs of the same command share one metadata store:
  1. cold: every component executes; the model is blessed and pushed;
  2. unchanged inputs, but a blessed model now exists: everything up to the
     Trainer comes from the cache, and only the Evaluator (which now has a
     baseline to compare against) and the Pusher execute again; the Pusher
     sees the same model already serving and pushes nothing (no canary of a
     model against itself);
  3. unchanged again: nothing executes, nothing new is pushed.
The generated data has personal data (names, e-mails; `pii: drop`): none of
it is in any file the runs wrote.
"""

import json
import os
import subprocess
import sys

import pytest
import tensorflow_model_analysis as tfma

from data import generator
import description
from pipeline import configs
from metadata import run_summary
from metadata import type_names
from testing import written_files

pytestmark = pytest.mark.e2e

PIPELINE = 'credit_risk'
ROWS = 6000
CACHEABLE = ['CsvExampleGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator',
             'Transform', 'Trainer']


def _run(data_root, work_dir):
  result = subprocess.run(
      [sys.executable, os.path.join(configs.REPO_ROOT, 'local_runner.py'),
       # One span per run: tests/all_spans_test.py covers the every-span default.
       '--data-root', data_root, '--work-dir', work_dir, '--span', '2'],
      capture_output=True, text=True, timeout=1200,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
  return result.stdout


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('e2e')
  data_root, work_dir = str(root / 'data'), str(root / 'work')
  generator.generate(data_root, spans=2, rows_per_span=ROWS, seed=7)
  metadata = configs.metadata_path(work_dir, PIPELINE)
  outputs, summaries, pushed_versions = [], [], []
  for _ in range(3):
    outputs.append(_run(data_root, work_dir))
    summaries.append(run_summary.summarize(metadata, PIPELINE))
    pushed_versions.append(sorted(os.listdir(
        configs.serving_model_dir(work_dir, PIPELINE))))
  return outputs, summaries, pushed_versions, data_root, work_dir


def test_cold_run_executes_every_component(runs):
  _, summaries, _, _, _ = runs
  first = summaries[0]
  for node in CACHEABLE + ['Evaluator', 'Pusher']:
    component = first.component(node)
    assert component is not None, f'{node} did not run'
    assert component.state == 'COMPLETE', (node, component.state)


def test_model_is_blessed_and_pushed_to_a_versioned_serving_dir(runs):
  outputs, summaries, pushed_versions, _, _ = runs
  first = summaries[0]
  assert first.blessed is True
  destination = first.pushed_destination
  assert destination and os.path.exists(os.path.join(destination, 'saved_model.pb'))
  assert os.path.basename(destination) in pushed_versions[0]
  assert os.path.basename(destination).isdigit()
  # The printed summary tells where everything is.
  for text in ('metadata store', first.metadata_path, 'pushed model', destination,
               'evaluation'):
    assert text in outputs[0]


def test_trainer_records_where_its_time_went(runs):
  _, summaries, _, _, _ = runs
  model_run = summaries[0].artifact('ModelRun')
  assert model_run is not None
  with open(os.path.join(model_run.uri, 'phase_seconds.json')) as f:
    phases = json.load(f)
  assert set(phases) == {'sanity_check', 'fit', 'export'}
  trainer = summaries[0].component('Trainer')
  assert all(0 < seconds for seconds in phases.values())
  assert sum(phases.values()) <= trainer.seconds


def test_the_trained_span_is_the_latest(runs):
  _, summaries, _, _, _ = runs
  # ExampleGen's output carries the span; Transform's output is Examples too.
  spans = {a.custom_properties['span'].int_value
           for a in summaries[0].artifacts['Examples']
           if 'span' in a.custom_properties}
  assert 2 in spans and 1 not in spans


def _slices(evaluation_uri):
  result = tfma.load_eval_result(evaluation_uri)
  return {tuple(sorted(dict(k).items())) if k else (): m
          for k, m in result.slicing_metrics}


def test_evaluation_has_every_protected_slice_and_rare_class_metrics(runs):
  _, summaries, _, _, _ = runs
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  slices = _slices(summaries[0].artifact('ModelEvaluation').uri)
  seen = {column: {dict(key)[column] for key in slices
                   if len(key) == 1 and column in dict(key)}
          for column in spec.protected_attributes}
  assert seen['gender'] >= {'female', 'male'}
  assert seen['age_band'] == {'18-24', '25-34', '35-49', '50-64', '65+'}
  assert seen['ethnicity'] == {'group_a', 'group_b', 'group_c', 'group_d'}
  overall = slices[()]['']
  rare = overall[f'classId:{spec.rare_class_id}']
  for metric in ('precision', 'recall', 'f1_score', 'auc'):
    value = rare[metric]['doubleValue']
    assert 0.0 <= value <= 1.0, (metric, value)
  assert rare['recall']['doubleValue'] >= spec.evaluation.min_rare_class_recall
  assert any(k.startswith('fairness_indicators_metrics/false_negative_rate')
             for k in rare)
  # Cross of two protected attributes is sliced too.
  assert any(len(key) == 2 for key in slices)


def test_rerun_with_a_baseline_only_reevaluates(runs):
  _, summaries, pushed_versions, _, _ = runs
  second = summaries[1]
  for node in CACHEABLE:
    assert second.component(node).state == 'CACHED', node
  assert second.component('Evaluator').state == 'COMPLETE'
  assert second.blessed is True  # the same model does not fall behind itself


def test_unchanged_rerun_executes_nothing_and_pushes_nothing(runs):
  _, summaries, pushed_versions, _, _ = runs
  third = summaries[2]
  executed = [c.node_id for c in third.components
              if c.state != 'CACHED' and not c.node_id.endswith('resolver')]
  assert executed == []  # resolvers only look up MLMD; they always run
  assert pushed_versions[2] == pushed_versions[1]


def test_human_level_analysis_is_recorded_in_mlmd(runs):
  _, summaries, _, _, _ = runs
  first = summaries[0]
  assert first.component('HumanLevelAnalysis').state == 'COMPLETE'
  hlp = first.artifact(type_names.HUMAN_LEVEL_PERFORMANCE)
  assert hlp is not None
  assert 0.5 < hlp.custom_properties['hlp'].double_value <= 1.0
  assert os.path.exists(os.path.join(hlp.uri, 'hlp_report.json'))


def test_first_deployment_is_promoted_from_shadow_and_not_canaried_again(runs):
  _, summaries, _, _, _ = runs
  first = summaries[0].artifact(type_names.ROLLOUT_DECISION)
  assert first is not None
  assert first.custom_properties['mode'].string_value == 'shadow'
  # A blessed first deployment that answers as well as itself in shadow is promoted.
  assert first.custom_properties['decision'].string_value == 'promoted'
  # The second run re-blessed the same model: not pushed again, not canaried.
  second = summaries[1].artifact(type_names.ROLLOUT_DECISION)
  assert second.custom_properties['decision'].string_value == 'not_pushed'


def test_the_same_model_blessed_again_is_not_pushed_again(runs):
  _, summaries, pushed_versions, _, _ = runs
  assert len(pushed_versions[0]) == 1
  assert pushed_versions[1] == pushed_versions[0]
  pushed = summaries[1].artifact('PushedModel')
  assert pushed.custom_properties['pushed'].int_value == 0
  assert (pushed.custom_properties['duplicate_of_version'].string_value ==
          pushed_versions[0][0])


def test_no_personal_data_in_anything_the_runs_wrote(runs):
  _, _, _, data_root, work_dir = runs
  planted = written_files.planted(
      [os.path.join(data_root, span, 'data.csv') for span in ('span-1', 'span-2')],
      ['email', 'applicant_name'])
  assert len(planted) > ROWS  # Every e-mail is unique.
  assert written_files.found_in(work_dir, planted) == {}
