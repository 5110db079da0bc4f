"""The CanaryRollout component: its executor, and a real TFX run through ML Metadata."""

import json
import os

import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.types import channel
from tfx.types import standard_artifacts

from components.canary_rollout import component as canary_rollout
from metadata.artifacts import RolloutDecision
from rollout import config as config_lib
from serving import routing_store
from testing import rollout_fixtures as tu
from metadata import artifacts

MODEL = tu.MODEL
SPEC = tu.toy_spec()
FAST = dict(steps=[25, 100], thresholds={'min_samples': 25}, concurrency=2,
            max_seconds_per_step=60.0)


@pytest.fixture(scope='module')
def bank():
  return tu.shared_bank()


def write_examples(directory, rows, split='test'):
  """An ExampleGen-style Examples directory: Split-<name>/ of gzipped tf.Examples."""
  split_dir = os.path.join(directory, f'Split-{split}')
  os.makedirs(split_dir)
  with tf.io.TFRecordWriter(os.path.join(split_dir, 'data_tfrecord-00000-of-00001.gz'),
                            options='GZIP') as w:
    for r in rows:
      ex = tf.train.Example()
      for k, v in r.values.items():
        if isinstance(v, str):
          ex.features.feature[k].bytes_list.value.append(v.encode())
        elif k == 'credit_score':
          ex.features.feature[k].int64_list.value.append(int(v))
        else:
          ex.features.feature[k].float_list.value.append(v)
      w.write(ex.SerializeToString())
  return directory


def serving_dir(tmp_path, bank, versions):
  models, _ = bank
  root = tu.serving_root_with(str(tmp_path / 'serving'), models, versions)
  return os.path.join(root, MODEL)


def component(**kw):
  args = dict(FAST, dataset_description=SPEC.to_config())
  args.update(kw)
  return canary_rollout.CanaryRollout(
      pushed_model=channel.Channel(type=standard_artifacts.PushedModel),
      examples=channel.Channel(type=standard_artifacts.Examples), **args)


def run_executor(tmp_path, pushed_props, examples_dir=None, **kw):
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed')
  for k, v in pushed_props.items():
    if isinstance(v, int):
      pushed.set_int_custom_property(k, v)
    else:
      pushed.set_string_custom_property(k, v)
  inputs = {canary_rollout.PUSHED_MODEL_KEY: [pushed]}
  if examples_dir:
    ex = standard_artifacts.Examples()
    ex.uri = examples_dir
    ex.split_names = artifact_utils.encode_split_names(['test'])
    inputs[canary_rollout.EXAMPLES_KEY] = [ex]
  out = RolloutDecision()
  out.uri = str(tmp_path / 'decision')
  os.makedirs(out.uri)
  canary_rollout.Executor().Do(inputs, {canary_rollout.ROLLOUT_DECISION_KEY: [out]},
                               component(**kw).exec_properties)
  return out


def pushed_props(model_dir, version):
  return {'pushed': 1, 'pushed_destination': os.path.join(model_dir, str(version)),
          'pushed_version': str(version)}


def test_executor_rolls_back_a_failing_candidate(tmp_path, bank):
  _, rows = bank
  model_dir = serving_dir(tmp_path, bank, {1: 'stable', 2: 'flaky'})
  examples = write_examples(str(tmp_path / 'examples'), rows)
  out = run_executor(tmp_path, pushed_props(model_dir, 2), examples,
                     kserve_storage_uri='gs://models/credit_risk/{version}')
  props = {k: out.get_custom_property(k) for k in ('decision', 'step', 'step_weight',
                                                   'reason', 'mode', 'candidate_version',
                                                   'stable_before', 'stable_after')}
  assert props['decision'] == 'rolled_back', props
  assert (props['step'], props['step_weight']) == (1, 25.0)
  assert props['reason'].startswith('error_rate')
  assert (props['mode'], props['candidate_version']) == ('canary', '2')
  assert (props['stable_before'], props['stable_after']) == ('1', '1')
  metrics = json.loads(out.get_string_custom_property('metrics'))
  assert metrics[0]['checks']['error_rate'] == 'breach' and len(metrics) == 1
  with open(os.path.join(out.uri, 'rollout.json')) as f:
    report = json.load(f)
  assert report['replay_rows'] == len(rows) and 'split test' in report['replay_source']
  assert os.path.exists(os.path.join(out.uri, 'rollout.png'))
  # The in-process server's request log is kept with the decision.
  assert os.listdir(os.path.join(out.uri, 'requests', MODEL)) != []
  saved = routing_store.read(routing_store.state_path(os.path.dirname(model_dir), MODEL))
  assert list(saved.rejected) == [2]
  # ... and the same plan for a cluster, as KServe manifests.
  with open(os.path.join(out.uri, 'kserve', 'plan.json')) as f:
    stages = [s['stage'] for s in json.load(f)['stages']]
  assert stages == ['stable', 'canary-25', 'canary-100', 'promote', 'rollback', 'restore']


def test_executor_skips_a_model_that_was_not_pushed(tmp_path):
  out = run_executor(tmp_path, {'pushed': 0}, examples_dir=None)
  assert out.get_string_custom_property('decision') == 'not_pushed'
  assert out.get_int_custom_property('step') == 0
  assert 'did not push' in out.get_string_custom_property('reason')
  assert os.path.exists(os.path.join(out.uri, 'rollout.json'))


def test_component_refuses_bad_parameters():
  with pytest.raises(config_lib.RolloutError, match='last step must be 100'):
    component(steps=[5, 50])
  with pytest.raises(ValueError, match='unknown guardrail threshold'):
    component(thresholds={'max_latency': 3})
  with pytest.raises(ValueError, match='needs `examples`'):
    canary_rollout.CanaryRollout(
        pushed_model=channel.Channel(type=standard_artifacts.PushedModel),
        dataset_description=SPEC.to_config())


def test_description_parameter_and_remote_server_flag():
  import description  # pylint: disable=g-import-not-at-top
  node = component(server_url='http://10.0.0.5:8501', allow_non_loopback=True)
  props = node.exec_properties
  assert description.from_exec_property(props[description.EXEC_PROPERTY]).name == SPEC.name
  assert props['allow_non_loopback'] == 1 and props['server_url'] == 'http://10.0.0.5:8501'
  assert component(dataset_description=SPEC).exec_properties[
      description.EXEC_PROPERTY] == props[description.EXEC_PROPERTY]
  assert component().exec_properties['allow_non_loopback'] == 0


def run_pipeline(tmp_path, bank, dataset_description=SPEC.to_config()):
  """A real LocalDagRunner run: Importers stand in for ExampleGen and Pusher."""
  _, rows = bank
  model_dir = os.path.join(str(tmp_path / 'serving'), MODEL)
  examples = str(tmp_path / 'examples')
  if not os.path.exists(model_dir):  # else: the same pipeline and store, run again
    serving_dir(tmp_path, bank, {1: 'stable', 2: 'good'})
    write_examples(examples, rows)
  props = pushed_props(model_dir, 2)
  pushed = tfx.dsl.Importer(source_uri=props['pushed_destination'],
                            artifact_type=standard_artifacts.PushedModel,
                            custom_properties=props).with_id('pusher_output')
  example_gen = tfx.dsl.Importer(source_uri=examples,
                                 artifact_type=standard_artifacts.Examples,
                                 properties={'split_names': '["test"]'}).with_id('examples')
  rollout_node = canary_rollout.CanaryRollout(
      pushed_model=pushed.outputs['result'], examples=example_gen.outputs['result'],
      dataset_description=dataset_description, **FAST)
  metadata_path = str(tmp_path / 'metadata.sqlite')
  tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
      pipeline_name='rollout_test', pipeline_root=str(tmp_path / 'root'),
      components=[pushed, example_gen, rollout_node], enable_cache=False,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(metadata_path)))
  return metadata_path, model_dir


def test_pipeline_run_records_the_decision_in_ml_metadata(tmp_path, bank):
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  metadata_path, model_dir = run_pipeline(tmp_path, bank)

  store = metadata_store.MetadataStore(
      tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
  [decision] = store.get_artifacts_by_type(artifacts.RolloutDecision.TYPE_NAME)
  custom = decision.custom_properties
  assert custom['decision'].string_value == 'promoted', custom['reason'].string_value
  assert custom['step'].int_value == 2 and custom['step_weight'].double_value == 100.0
  assert custom['stable_before'].string_value == '1'
  assert custom['stable_after'].string_value == '2'
  steps = json.loads(custom['metrics'].string_value)
  assert [s['weight'] for s in steps] == [25.0, 100.0]
  assert all(v in ('pass', 'insufficient', 'skipped') for s in steps
             for v in s['checks'].values())
  assert os.path.exists(os.path.join(decision.uri, 'rollout.html'))
  saved = routing_store.read(routing_store.state_path(os.path.dirname(model_dir), MODEL))
  assert saved.labels['stable'] == 2


def test_executor_records_awaiting_signoff_and_ends(tmp_path, bank):
  """The pause does not block the run: the decision is awaiting_signoff."""
  from rollout import signoff as signoff_lib  # pylint: disable=g-import-not-at-top
  _, rows = bank
  model_dir = serving_dir(tmp_path, bank, {1: 'stable', 2: 'good'})
  examples = write_examples(str(tmp_path / 'examples'), rows)
  spec = dict(tu.TOY_DESCRIPTION, rollout={'signoff': 'always', 'deadline_hours': 2})
  out = run_executor(tmp_path, pushed_props(model_dir, 2), examples,
                     dataset_description={'source': 'toy', 'description': spec},
                     kserve_storage_uri='gs://models/credit_risk/{version}')
  assert out.get_string_custom_property('decision') == 'awaiting_signoff'
  assert out.get_int_custom_property('step') == 1
  assert out.get_string_custom_property('signoff_deadline').endswith('Z')
  assert os.path.exists(out.get_string_custom_property('audit_report'))
  assert json.loads(out.get_string_custom_property('regressed_slices')) == []
  pause = signoff_lib.read_pause(os.path.dirname(model_dir), MODEL)
  assert pause.replay_kind == 'examples' and pause.decision_dir == out.uri
  saved = routing_store.read(routing_store.state_path(os.path.dirname(model_dir), MODEL))
  assert saved.labels.get('canary') == 2 and saved.canary_weight == 25.0
  # The cluster's plan holds the same weight until the decision.
  with open(os.path.join(out.uri, 'kserve', 'plan.json')) as f:
    plan = json.load(f)
  assert [s['stage'] for s in plan['stages']][:4] == ['stable', 'canary-25', 'pause-25',
                                                      'canary-100']
  assert (plan['pause']['hold_weight'], plan['pause']['deadline_hours']) == (25.0, 2.0)
  # Another rollout would take the paused canary: refused until a decision.
  with pytest.raises(signoff_lib.SignoffError, match='awaits a sign-off'):
    run_executor(tmp_path / 'again', pushed_props(model_dir, 2), examples)


def test_signoff_of_a_pipeline_pause_is_recorded_with_the_run(tmp_path, bank):
  """Paused by a real run; rejected by the command; the record in its store."""
  from cli import signoff as signoff_cli  # pylint: disable=g-import-not-at-top
  from metadata import connection  # pylint: disable=g-import-not-at-top
  from metadata import store as store_lib  # pylint: disable=g-import-not-at-top
  from metadata import values  # pylint: disable=g-import-not-at-top
  from rollout import signoff_record  # pylint: disable=g-import-not-at-top
  spec = dict(tu.TOY_DESCRIPTION, rollout={'signoff': 'always'})
  metadata_path, model_dir = run_pipeline(tmp_path, bank, {'source': 'toy', 'description': spec})
  where = ['--serving-root', os.path.dirname(model_dir), '--model-name', MODEL,
           '--metadata', metadata_path]
  assert signoff_cli.main(['status'] + where) == 0
  assert signoff_cli.main(['reject', '--reviewer', 'Ada', '--reason', 'not now'] + where) == 1

  store = connection.open_store(metadata_path)
  paused, outcome = sorted(store.get_artifacts_by_type(artifacts.RolloutDecision.TYPE_NAME), key=lambda a: a.id)
  assert values.property_value(paused, 'decision') == 'awaiting_signoff'
  assert values.property_value(outcome, 'decision') == 'rolled_back'
  assert 'rejected by Ada' in signoff_record.summary(values.properties_of(paused))
  [execution] = store.get_executions_by_type('SignOff')
  view = store_lib.Store(store, metadata_path)
  assert view.node_id(execution) == 'SignOff'
  run_contexts = {c.name for c in store.get_contexts_by_execution(execution.id)}
  assert run_contexts == {c.name for c in store.get_contexts_by_artifact(paused.id)
                          if c.name != 'rollout_test.CanaryRollout'}
  saved = routing_store.read(routing_store.state_path(os.path.dirname(model_dir), MODEL))
  assert saved.labels == {'stable': 1} and 2 in saved.rejected


def test_an_expiry_settled_by_the_next_pipeline_run_is_recorded_with_the_paused_rollout(
    tmp_path, bank):
  """The next run's CanaryRollout settles the expired pause; the run's end
  (local_runner, as here) records it in ML Metadata as a SignOff."""
  from metadata import connection  # pylint: disable=g-import-not-at-top
  from metadata import values  # pylint: disable=g-import-not-at-top
  from rollout import signoff as signoff_lib  # pylint: disable=g-import-not-at-top
  from rollout import signoff_record  # pylint: disable=g-import-not-at-top
  spec = {'source': 'toy', 'description': dict(tu.TOY_DESCRIPTION,
                                               rollout={'signoff': 'always'})}
  metadata_path, model_dir = run_pipeline(tmp_path, bank, spec)
  serving_root = os.path.dirname(model_dir)
  pause_file = signoff_lib.pause_path(serving_root, MODEL)
  with open(pause_file) as f:
    pause = json.load(f)
  pause['deadline'] = 1.0  # long past: nobody decided in time
  routing_store.write_json(pause_file, pause)

  run_pipeline(tmp_path, bank, spec)
  [recorded] = signoff_record.record_settled(metadata_path)

  store = connection.open_store(metadata_path)
  first, second = sorted(store.get_artifacts_by_type(artifacts.RolloutDecision.TYPE_NAME)
                         , key=lambda a: a.id)[:2]
  assert values.property_value(second, signoff_record.SETTLED_PROPERTY) == os.path.join(
      first.uri, 'signoff', 'signoff.json')
  [execution] = store.get_executions_by_id([recorded['execution']])
  assert values.property_value(execution, 'verdict') == 'expired'
  assert recorded['paused_artifact'] == first.id
  [first] = store.get_artifacts_by_id([first.id])
  assert values.property_value(first, 'signoff_verdict') == 'expired'
  assert 'sign-off expired by nobody' in signoff_record.summary(values.properties_of(first))
  assert signoff_record.record_settled(metadata_path) == []  # once only
  # Recorded ones are skipped without reading their file: gone, it stops nothing.
  os.remove(os.path.join(first.uri, 'signoff', 'signoff.json'))
  assert signoff_record.record_settled(metadata_path) == []
