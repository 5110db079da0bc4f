"""The compiled Kubeflow pipeline runs, not only parses.

kubeflow_runner.py compiles create_pipeline() for the open-source KFP backend
with a gs:// pipeline root and data root. kubeflow_support/local_backend.py then plays
the KFP backend: in topological order it builds each task's ExecutorInput,
substitutes the placeholders into the task's compiled command and arguments,
runs that command as a subprocess (TFX's KFP v2 container entrypoint; for
CsvExampleGen the TFX driver first, through kubeflow_support.launch), and
passes outputs on the way the KFP launcher and driver do: the executor-output
JSON is merged into the output artifacts, recorded in ML Metadata (a local
SQLite store stands in for the cluster's MySQL-backed one) and read back as
the next task's inputs. gs://kfp-test is served from a local directory.

Three runs share one store, as runs on a cluster share its metadata service:
the second span is compared with the first (and a drifted one blocked), and
a worse candidate is evaluated against the first run's blessed model (and
refused), both found by the lookup tasks that stand in for TFX's resolvers.

The dataset description is the default one with fewer slices and epochs, to
keep the runs short; what it exercises is the compiled definition.
"""

import json
import os
import re
import shlex
import shutil
import types

import pytest
import yaml

import kubeflow_runner
from data import generator
from kubeflow_support import ir
from kubeflow_support import kfp_metadata
from kubeflow_support import local_backend
from kubeflow_support import local_pod
from kubeflow_support import mlmd
from kubeflow_support import settings
from metadata import type_names
from pipeline import configs

pytestmark = pytest.mark.e2e

BUCKET = 'gs://kfp-test'
IMAGE = 'registry.example/tfx-e2e-pipeline:test'
DRIVER = 'tfx.orchestration.kubeflow.v2.file_based_example_gen.driver'
ROWS = 2000


def _test_description(path, epochs):
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw['tags'] = []
  raw['slices'] = {'crosses': []}
  raw['training']['epochs'] = epochs
  raw['evaluation']['fairness_thresholds'] = [0.5]
  # Only the comparison with the last blessed model can refuse a candidate.
  raw['evaluation'].update(min_accuracy=0.0, min_rare_class_recall=0.0,
                           max_accuracy_drop=0.0)
  with open(path, 'w') as f:
    yaml.safe_dump(raw, f)
  return path


def _compile(root, name, epochs):
  compiled = str(root / f'{name}.yaml')
  code = kubeflow_runner.main([
      '--image', IMAGE, '--pipeline-root', f'{BUCKET}/root',
      '--data-root', f'{BUCKET}/data', '--description',
      _test_description(str(root / f'{name}-description.yaml'), epochs),
      '--output', compiled])
  assert code == 0
  spec, _ = ir.load(compiled)
  return spec


def _span_dir(source, data, span):
  """Puts one generated span (its CSVs and its labelers file) under the data root."""
  target = os.path.join(data, f'span-{span}')
  shutil.rmtree(target, ignore_errors=True)
  shutil.copytree(os.path.join(source, f'span-{span}'), target)
  os.makedirs(os.path.join(data, 'labelers'), exist_ok=True)
  shutil.copy(os.path.join(source, 'labelers', f'span-{span}.csv'),
              os.path.join(data, 'labelers', f'span-{span}.csv'))


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """Three runs of the compiled pipeline on one ML Metadata store, as on a cluster.

  run-1: span 1, the first: no baseline; the model is blessed and pushed.
  run-2: span 2 with data drift: blocked by the gate against span 1.
  run-3: span 2, clean, but trained for one epoch (a second definition):
         evaluated against run-1's model, and refused.
  The clean span 2 holds span 1's rows again: at this test's size (2,000 rows;
  the schema's drift thresholds assume spans of 3,000 or more) two clean spans
  could differ by sampling noise alone, and this run is about the model.
  """
  root = tmp_path_factory.mktemp('kfp_local')
  bucket_dir = root / 'gcs' / 'kfp-test'
  data = str(bucket_dir / 'data')
  clean, drifted = str(root / 'clean'), str(root / 'drifted')
  generator.generate(clean, spans=1, rows_per_span=ROWS, seed=7, verbose=False)
  generator.generate(drifted, spans=2, rows_per_span=ROWS, seed=7,
                     scenario='data_drift', verbose=False)
  spec, worse = _compile(root, 'pipeline', epochs=8), _compile(root, 'worse', epochs=1)

  def backend(definition):
    return local_backend.LocalKfpBackend(
        definition, work_dir=str(root / 'work'), pipeline_root=str(bucket_dir / 'root'),
        path_map={BUCKET: str(bucket_dir),
                  settings.IMAGE_REPO_ROOT: configs.REPO_ROOT},
        image_env=local_pod.dockerfile_env(os.path.join(configs.REPO_ROOT, 'Dockerfile')))

  _span_dir(clean, data, 1)
  first = backend(spec).run(run_id='run-1')
  _span_dir(drifted, data, 2)
  with pytest.raises(local_backend.TaskFailed) as blocked:
    backend(spec).run(run_id='run-2')
  shutil.rmtree(os.path.join(data, 'span-2'))
  shutil.copytree(os.path.join(data, 'span-1'), os.path.join(data, 'span-2'))
  shutil.copy(os.path.join(data, 'labelers', 'span-1.csv'),
              os.path.join(data, 'labelers', 'span-2.csv'))
  refused = backend(worse).run(run_id='run-3')
  return types.SimpleNamespace(spec=spec, result=first, bucket_dir=str(bucket_dir),
                               backend=backend(spec), blocked=blocked.value,
                               refused=refused)


def test_every_compiled_task_ran_after_its_upstream_tasks(run):
  spec, result = run.spec, run.result
  assert sorted(result.tasks) == sorted(ir.tasks(spec))
  for name, task in ir.tasks(spec).items():
    for upstream in ir.upstream_tasks(task):
      assert result.tasks[upstream].finished <= result.tasks[name].started, (upstream, name)
  assert all(t.state == 'COMPLETE' for t in result.tasks.values())


def test_tasks_ran_the_compiled_commands_through_tfx_entrypoints(run):
  spec, result = run.spec, run.result
  for name, task_run in result.tasks.items():
    container = ir.executor_of(spec, name)['container']
    compiled = container['command'] + container['args']
    assert len(task_run.argv) == len(compiled)
    # Only the KFP placeholders and the image's interpreter differ.
    for ran, written in zip(task_run.argv[1:], compiled[1:]):
      if '{{$' not in written:
        assert ran == written
    invocation = task_run.argv[task_run.argv.index('--json_serialized_invocation_args') + 1]
    assert json.loads(invocation) == task_run.executor_input
    if task_run.argv[1:3] == ['-m', ir.LAUNCH_MODULE]:
      separator = task_run.argv.index('--')
      assert task_run.argv[separator - 2:separator] == ['--executor', ir.TFX_ENTRYPOINT]
    else:
      assert task_run.argv[1:3] == ['-m', ir.TFX_ENTRYPOINT], name
  assert result.tasks['CsvExampleGen'].argv[3:5] == ['--driver', DRIVER]


def test_lookups_that_found_nothing_reach_executors_as_empty_lists(run):
  # The first run: no earlier span, no blessed model yet.
  result = run.result
  lookups = 0
  for name, task_run in result.tasks.items():
    argv = task_run.argv
    empties = [argv[i + 1] for i, arg in enumerate(argv[:argv.index('--')])
               if arg in ('--empty-input', '--lookup-input')] if '--' in argv else []
    lookups += len(empties)
    with open(task_run.log_path) as f:
      log = f.read()
    # TFX's entrypoint logs the input dict it hands the executor.
    logged = re.search(r'do: inputs: (\{.*?\}), outputs:', log, re.S)
    assert logged, name
    for key in empties:
      assert f"'{key}': []" in logged.group(1), (name, key)
  assert lookups == 5  # DistributionValidator 1, gate 2, Evaluator 1, HLP 1


def test_example_gen_driver_resolved_the_latest_span_in_the_pod(run):
  result, bucket_dir = run.result, run.bucket_dir
  example_gen = result.tasks['CsvExampleGen']
  # The data root is a run parameter; the gs:// value reached the pod mapped.
  assert (example_gen.executor_input['inputs']['parameterValues']['input_base']
          == os.path.join(bucket_dir, 'data'))
  examples = example_gen.outputs['examples']['metadata']
  # TFX's KFP driver reports the span as a custom property of Examples.
  assert examples['custom:span'] == 1
  assert sorted(json.loads(examples['split_names'])) == ['eval', 'test', 'train']
  assert 'input_fingerprint' in examples
  for split in ('train', 'eval', 'test'):
    split_dir = os.path.join(example_gen.outputs['examples']['uri'], f'Split-{split}')
    assert os.listdir(split_dir), split


def test_outputs_reach_consumers_as_the_kfp_driver_passes_them(run):
  spec, result = run.spec, run.result
  for name, task in ir.tasks(spec).items():
    received = result.tasks[name].executor_input['inputs'].get('artifacts', {})
    for key, source in task.get('inputs', {}).get('artifacts', {}).items():
      producer = source['taskOutputArtifact']
      sent = result.tasks[producer['producerTask']].outputs[producer['outputArtifactKey']]
      [artifact] = received[key]['artifacts']
      # Name is the MLMD id; the metadata survives the round trip.
      assert artifact['name'] == sent['name'], (name, key)
      assert artifact['uri'] == sent['uri']
      for field, value in sent['metadata'].items():
        expected = kfp_metadata.through_mlmd(value)
        assert artifact['metadata'][field] == expected, (name, key, field)


def test_model_was_trained_evaluated_blessed_and_pushed(run):
  result, bucket_dir = run.result, run.bucket_dir
  trainer = result.tasks['Trainer'].outputs['model']
  assert os.path.exists(os.path.join(trainer['uri'], 'Format-Serving', 'saved_model.pb'))
  blessing = result.tasks['Evaluator'].outputs['blessing']['metadata']
  assert blessing['blessed'] == 1
  # The Evaluator names the model by its MLMD id, as on the cluster.
  assert blessing['current_model_id'] == trainer['name']
  pushed = result.tasks['Pusher'].outputs['pushed_model']['metadata']
  assert pushed['pushed'] == 1
  destination = pushed['pushed_destination']
  assert destination.startswith(os.path.join(bucket_dir, 'root', 'serving', 'credit-risk'))
  assert os.path.exists(os.path.join(destination, 'saved_model.pb'))


def test_lineage_is_in_ml_metadata_in_the_kfp_layout(run):
  result = run.result
  store = mlmd.open_store(result.metadata_path)
  executions = mlmd.run_tasks(store, result.run_id)
  assert sorted(executions) == sorted(result.tasks)
  trainer_model = mlmd.artifacts_of(store, executions['Trainer'].id)['model']
  pusher_inputs = mlmd.artifacts_of(store, executions['Pusher'].id,
                                    mlmd.metadata_store_pb2.Event.INPUT)
  assert pusher_inputs['model'].id == trainer_model.id
  [model_type] = store.get_artifact_types_by_id([trainer_model.type_id])
  assert model_type.name == 'tfx.Model'
  examples = mlmd.artifacts_of(store, executions['CsvExampleGen'].id)['examples']
  assert mlmd.metadata_value(examples, 'custom:span') == 1.0


def test_the_second_span_is_compared_with_the_first_and_drift_blocks_it(run):
  first = run.result.tasks
  first_statistics = first['StatisticsGen'].outputs['statistics']['uri']
  blocked = run.blocked
  assert blocked.task == 'DataValidationGate' and blocked.returncode != 0
  assert 'span 2 against span 1: BLOCKED' in str(blocked)
  store = mlmd.open_store(run.result.metadata_path)
  tasks = mlmd.run_tasks(store, 'run-2')
  # The lookup task found span 1 in ML Metadata ...
  found = mlmd.artifacts_of(store, tasks['previous_span_lookup'].id)
  assert found['baseline_statistics'].uri == first_statistics
  assert found['baseline_examples'].uri == first['CsvExampleGen'].outputs['examples']['uri']
  assert mlmd.metadata_value(found['baseline_statistics'], type_names.FOUND) == 1.0
  # ... and TFX's DistributionValidator compared span 2 with it.
  compared = mlmd.artifacts_of(store, tasks['DistributionValidator'].id,
                               mlmd.metadata_store_pb2.Event.INPUT)
  assert compared['baseline_statistics'].uri == first_statistics
  assert tasks['DataValidationGate'].last_known_state == (
      mlmd.metadata_store_pb2.Execution.FAILED)
  assert 'Transform' not in tasks and 'Trainer' not in tasks


def test_a_worse_candidate_is_evaluated_against_the_blessed_model_and_refused(run):
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  first_model = run.result.tasks['Trainer'].outputs['model']['uri']
  refused = run.refused.tasks
  # Span 2 passed the gate this time, against span 1 (run-2's span 2 was rejected).
  assert refused['previous_span_lookup'].outputs['baseline_statistics']['uri'] == (
      run.result.tasks['StatisticsGen'].outputs['statistics']['uri'])
  lookup = refused['latest_blessed_model_lookup'].outputs['model']
  assert lookup['uri'] == first_model and lookup['metadata'][type_names.FOUND] == 1
  evaluator = refused['Evaluator']
  [baseline] = evaluator.executor_input['inputs']['artifacts']['baseline_model']['artifacts']
  assert baseline['uri'] == first_model
  blessing = evaluator.outputs['blessing']['metadata']
  assert blessing['blessed'] == 0
  assert blessing['baseline_model_id'] == lookup['name']
  # Refused for the comparison: the absolute thresholds are 0 in this description.
  validation = tfma.load_validation_result(evaluator.outputs['evaluation']['uri'])
  assert not validation.validation_ok
  failed = [f.metric_threshold for per_slice in validation.metric_validations_per_slice
            for f in per_slice.failures]
  assert failed and all(t.HasField('change_threshold') for t in failed)
  assert refused['Pusher'].outputs['pushed_model']['metadata']['pushed'] == 0


def test_rejected_data_fails_its_pod_and_nothing_downstream_runs(run):
  # TFX's KFP entrypoint ignores a failure the executor returns; the CSV
  # checks must fail the pod itself, or Transform would run on this span.
  data = os.path.join(run.bucket_dir, 'data')
  os.makedirs(os.path.join(data, 'span-3'))
  with open(os.path.join(data, 'span-2', 'data.csv')) as f:
    header, first = f.readline(), f.readline()
  with open(os.path.join(data, 'span-3', 'data.csv'), 'w') as f:
    f.write(header + first + first.rstrip('\n').rsplit(',', 1)[0] + '\n')  # a field short
  try:
    with pytest.raises(local_backend.TaskFailed) as failed:
      run.backend.run(run_id='run-bad')
  finally:
    shutil.rmtree(os.path.join(data, 'span-3'))
  assert failed.value.task == 'CsvExampleGen' and failed.value.returncode != 0
  assert 'span-3/data.csv' in str(failed.value) and 'line 3' in str(failed.value)
  store = mlmd.open_store(run.result.metadata_path)
  states = {n: e.last_known_state for n, e in mlmd.run_tasks(store, 'run-bad').items()}
  assert states['CsvExampleGen'] == mlmd.metadata_store_pb2.Execution.FAILED
  # Only tasks independent of the examples (the imported schema) may have run.
  assert set(states) <= {'CsvExampleGen', 'SchemaGen'}, states


def test_the_vertex_definition_is_refused_for_what_kfp_cannot_run(tmp_path):
  compiled = str(tmp_path / 'vertex.yaml')
  assert kubeflow_runner.main(shlex.split(
      f'--image {IMAGE} --pipeline-root {BUCKET}/root --data-root {BUCKET}/data '
      f'--backend vertex --output {compiled}')) == 0
  spec, _ = ir.load(compiled)
  backend = local_backend.LocalKfpBackend(spec, str(tmp_path / 'w'), str(tmp_path / 'r'))
  with pytest.raises(ir.IncompatibleError) as refused:
    backend.validate()
  message = str(refused.value)
  assert 'latest_blessed_model_resolver-model-blessing-resolver: a resolver executor' in message
  assert 'latest_blessed_model_resolver-model-resolver: a resolver executor' in message
  assert 'CsvExampleGen: a lifecycle hook (preCacheCheck)' in message
