"""The pieces of the Kubeflow support on small hand-written definitions:
kubeflow_support/ir.py (order, KFP adaptation), kubeflow_support/local_backend.py (the local
stand-in for the KFP driver and launcher), kubeflow_support/launch.py and
kubeflow_support/mlmd.py. No TensorFlow here; the real pipeline runs in
kubeflow_local_run_test.py.
"""

import copy
import json
import os
import subprocess
import sys
import textwrap

import pytest

from kubeflow_support import ir
from kubeflow_support import local_backend
from kubeflow_support import local_pod
from kubeflow_support import mlmd
from kubeflow_support import launch

PRODUCER = textwrap.dedent("""
    import json, os, sys
    ei = json.loads(sys.argv[1])
    out = ei['outputs']['artifacts']['out']['artifacts'][0]
    os.makedirs(out['uri'], exist_ok=True)
    with open(os.path.join(out['uri'], 'greeting.txt'), 'w') as f:
      f.write(ei['inputs']['parameterValues']['greeting'])
    meta = {'count': 3, 'splits': ['a', 'b'], 'nested': {'k': 1}, 'label': 'x'}
    eo = {'artifacts': {'out': {'artifacts': [{'uri': out['uri'], 'metadata': meta}]}}}
    os.makedirs(os.path.dirname(ei['outputs']['outputFile']), exist_ok=True)
    with open(ei['outputs']['outputFile'], 'w') as f:
      json.dump(eo, f)
""")
CONSUMER = textwrap.dedent("""
    import json, os, sys
    ei = json.loads(sys.argv[1])
    out = ei['outputs']['artifacts']['result']['artifacts'][0]['uri']
    os.makedirs(out, exist_ok=True)
    seen = {'argv': sys.argv[1:], 'cwd': os.getcwd(),
            'env': {k: os.environ.get(k) for k in ('FROM_IMAGE', 'FROM_TASK', 'PATH')},
            'greeting': open(os.path.join(sys.argv[2], 'greeting.txt')).read()}
    with open(os.path.join(out, 'seen.json'), 'w') as f:
      json.dump(seen, f)
""")
EXAMPLES = {'instanceSchema': 'title: tfx.Examples\ntype: object\n'}


def _task(name, component, inputs=None, deps=None):
  task = {'taskInfo': {'name': name}, 'componentRef': {'name': component}}
  if inputs:
    task['inputs'] = inputs
  if deps:
    task['dependentTasks'] = deps
  return task


def toy_spec():
  return {
      'pipelineInfo': {'name': 'toy'},
      'schemaVersion': '2.1.0',
      'sdkVersion': 'test',
      'root': {
          'inputDefinitions': {'parameters': {'greeting': {
              'parameterType': 'STRING', 'defaultValue': 'hello'}}},
          'dag': {'tasks': {
              'producer': _task('producer', 'comp-producer', {'parameters': {
                  'greeting': {'componentInputParameter': 'greeting'}}}),
              'consumer': _task('consumer', 'comp-consumer', {
                  'artifacts': {'in': {'taskOutputArtifact': {
                      'producerTask': 'producer', 'outputArtifactKey': 'out'}}},
                  'parameters': {
                      'n': {'runtimeValue': {'constant': 6.0}},
                      'where': {'runtimeValue': {'constant': 'gs://bucket/x/y'}}}},
                  deps=['producer']),
          }}},
      'components': {
          'comp-producer': {
              'executorLabel': 'exec-producer',
              'inputDefinitions': {'parameters': {'greeting': {'parameterType': 'STRING'}}},
              'outputDefinitions': {'artifacts': {'out': {'artifactType': EXAMPLES}}}},
          'comp-consumer': {
              'executorLabel': 'exec-consumer',
              'inputDefinitions': {
                  'artifacts': {'in': {'artifactType': EXAMPLES}},
                  'parameters': {'n': {'parameterType': 'NUMBER_INTEGER'},
                                 'where': {'parameterType': 'STRING'}}},
              'outputDefinitions': {'artifacts': {'result': {
                  'artifactType': {'schemaTitle': 'system.Artifact'}}}}},
      },
      'deploymentSpec': {'executors': {
          'exec-producer': {'container': {
              'image': 'img', 'command': ['python', '-c', PRODUCER], 'args': ['{{$}}']}},
          'exec-consumer': {'container': {
              'image': 'img', 'command': ['python', '-c', CONSUMER],
              'args': ['{{$}}', "{{$.inputs.artifacts['in'].uri}}",
                       "{{$.inputs.parameters['n']}}", "{{$.inputs.parameters['where']}}"],
              'env': [{'name': 'FROM_TASK', 'value': 'gs://bucket/task'}]}},
      }},
  }


def _backend(tmp_path, spec, **kwargs):
  return local_backend.LocalKfpBackend(
      spec, str(tmp_path / 'work'), str(tmp_path / 'root'),
      path_map={'gs://bucket': str(tmp_path / 'bucket')}, echo=False, **kwargs)


# --- the local backend --------------------------------------------------------
def test_runs_tasks_and_passes_artifacts_as_kfp_does(tmp_path):
  backend = _backend(tmp_path, toy_spec(),
                     image_env={'FROM_IMAGE': 'gs://bucket/img', 'PATH': '/opt/venv/bin'})
  result = backend.run({'greeting': 'hi'}, run_id='r1')
  assert result.order == ['producer', 'consumer']
  produced = result.tasks['producer'].outputs['out']
  consumer = result.tasks['consumer']
  [received] = consumer.executor_input['inputs']['artifacts']['in']['artifacts']
  assert received['name'] == produced['name'] and received['name'].isdigit()
  assert received['uri'] == produced['uri'] == str(tmp_path / 'root' / 'r1' / 'producer' / 'out')
  # MLMD's value kinds, as the KFP driver hands them on.
  assert received['metadata'] == {'count': 3.0, 'splits': {'list': ['a', 'b']},
                                  'nested': {'struct': {'k': 1.0}}, 'label': 'x',
                                  'display_name': 'out'}
  assert received['type'] == EXAMPLES
  with open(os.path.join(consumer.outputs['result']['uri'], 'seen.json')) as f:
    seen = json.load(f)
  assert seen['greeting'] == 'hi'
  assert json.loads(seen['argv'][0]) == consumer.executor_input
  assert seen['argv'][1:] == [produced['uri'], '6', str(tmp_path / 'bucket' / 'x' / 'y')]
  assert seen['env']['FROM_IMAGE'] == str(tmp_path / 'bucket' / 'img')
  assert seen['env']['FROM_TASK'] == str(tmp_path / 'bucket' / 'task')
  assert seen['env']['PATH'] == os.environ['PATH']  # the image's PATH is not applied
  assert seen['cwd'] == str(tmp_path / 'work' / 'pods' / 'r1' / 'consumer')


def test_independent_tasks_run_side_by_side_like_pods(tmp_path):
  sleeper = {'container': {'image': 'img', 'command': [
      'python', '-c', 'import time; time.sleep(1.5)'], 'args': []}}
  spec = {
      'pipelineInfo': {'name': 'fan-in'}, 'schemaVersion': '2.1.0',
      'root': {'dag': {'tasks': {
          'a': _task('a', 'comp-sleep'), 'b': _task('b', 'comp-sleep'),
          'c': _task('c', 'comp-sleep', deps=['a', 'b'])}}},
      'components': {'comp-sleep': {'executorLabel': 'exec-sleep'}},
      'deploymentSpec': {'executors': {'exec-sleep': sleeper}}}
  runs = _backend(tmp_path, spec, parallelism=2).run(run_id='r').tasks
  assert runs['a'].started < runs['b'].finished and runs['b'].started < runs['a'].finished
  assert runs['c'].started >= max(runs['a'].finished, runs['b'].finished)


def test_records_the_run_in_mlmd_in_the_kfp_layout(tmp_path):
  result = _backend(tmp_path, toy_spec()).run(run_id='r1')
  store = mlmd.open_store(result.metadata_path)
  executions = mlmd.run_tasks(store, 'r1')
  assert sorted(executions) == ['consumer', 'producer']
  out = mlmd.artifacts_of(store, executions['producer'].id)['out']
  into = mlmd.artifacts_of(store, executions['consumer'].id,
                           mlmd.metadata_store_pb2.Event.INPUT)['in']
  assert out.id == into.id
  assert mlmd.metadata_value(out, 'count') == 3.0
  [artifact_type] = store.get_artifact_types_by_id([out.type_id])
  assert artifact_type.name == 'tfx.Examples'
  assert store.get_context_by_type_and_name(mlmd.PIPELINE_CONTEXT, 'toy') is not None
  with pytest.raises(LookupError):
    mlmd.run_tasks(store, 'no-such-run')


def test_a_failing_task_stops_the_run_with_its_log(tmp_path):
  spec = toy_spec()
  spec['deploymentSpec']['executors']['exec-consumer']['container']['command'] = [
      'python', '-c', 'import sys; print("boom: bad input"); sys.exit(3)']
  backend = _backend(tmp_path, spec)
  with pytest.raises(local_backend.TaskFailed) as failed:
    backend.run(run_id='r1')
  assert failed.value.task == 'consumer' and failed.value.returncode == 3
  assert 'boom: bad input' in str(failed.value)
  store = mlmd.open_store(backend.metadata_path)
  states = {n: e.last_known_state for n, e in mlmd.run_tasks(store, 'r1').items()}
  assert states == {'producer': mlmd.metadata_store_pb2.Execution.COMPLETE,
                    'consumer': mlmd.metadata_store_pb2.Execution.FAILED}


def test_parameters_are_checked(tmp_path):
  with pytest.raises(ValueError, match=r"unknown pipeline parameter\(s\) \['greting'\]"):
    _backend(tmp_path, toy_spec()).run({'greting': 'x'})
  spec = toy_spec()
  del spec['root']['inputDefinitions']['parameters']['greeting']['defaultValue']
  with pytest.raises(ValueError, match='greeting has no default'):
    _backend(tmp_path, spec).run()
  spec = toy_spec()
  spec['root']['dag']['tasks']['consumer']['inputs']['parameters']['n'] = {
      'runtimeValue': {'constantValue': {'intValue': '6'}}}
  with pytest.raises(ir.IncompatibleError, match='schema-2.0 constantValue'):
    _backend(tmp_path, spec).run()


def test_an_unresolvable_placeholder_is_an_error(tmp_path):
  spec = toy_spec()
  spec['deploymentSpec']['executors']['exec-consumer']['container']['args'].append(
      "{{$.inputs.artifacts['missing'].uri}}")
  with pytest.raises(ir.IncompatibleError, match='placeholder left unresolved'):
    _backend(tmp_path, spec).run()


@pytest.mark.parametrize('change, reason', [
    (lambda s: s['deploymentSpec']['executors'].__setitem__(
        'exec-producer', {'resolver': {'outputArtifactQueries': {}}}),
     'producer: a resolver executor'),
    (lambda s: s['deploymentSpec']['executors']['exec-producer']['container'].__setitem__(
        'lifecycle', {'preCacheCheck': {'command': ['python', '-m', 'x']}}),
     'producer: a lifecycle hook (preCacheCheck)'),
    (lambda s: s['root']['dag']['tasks']['consumer'].__setitem__(
        'triggerPolicy', {'condition': 'true'}),
     'consumer: trigger conditions are not emulated'),
])
def test_refuses_what_it_cannot_run_before_running_anything(tmp_path, change, reason):
  spec = toy_spec()
  change(spec)
  backend = _backend(tmp_path, spec)
  with pytest.raises(ir.IncompatibleError, match=reason.replace('(', r'\(').replace(')', r'\)')):
    backend.run()
  assert not os.path.exists(tmp_path / 'work' / 'pods')


def test_localize_replaces_whole_path_prefixes_only(tmp_path):
  backend = local_backend.LocalKfpBackend(
      toy_spec(), str(tmp_path), str(tmp_path / 'root'), echo=False,
      path_map={'gs://b': '/local/b', '/pipeline': '/repo'})
  assert backend.localize('gs://b/data') == '/local/b/data'
  assert backend.localize('{"base_directory": "gs://b/serving"}') == (
      '{"base_directory": "/local/b/serving"}')
  assert backend.localize('gs://bb/data') == 'gs://bb/data'
  assert backend.localize('/pipeline/schema/x') == '/repo/schema/x'
  assert backend.localize('/pipeline') == '/repo'
  assert backend.localize('gs://b/pipeline_root/a') == '/local/b/pipeline_root/a'
  assert backend.localize('/x/pipeline/y') == '/x/pipeline/y'


def test_dockerfile_env_is_the_final_stage_env(tmp_path):
  dockerfile = tmp_path / 'Dockerfile'
  dockerfile.write_text(textwrap.dedent("""\
      FROM a AS build
      ENV BUILD_ONLY=1
      FROM b
      ENV A=1 B="two words"
      ENV C 3
      ENV D=4 \\
          E=5
      """))
  assert local_pod.dockerfile_env(str(dockerfile)) == {
      'A': '1', 'B': 'two words', 'C': '3', 'D': '4', 'E': '5'}


# --- the definition ------------------------------------------------------------
def test_topological_order_is_stable_and_checked():
  spec = toy_spec()
  tasks = spec['root']['dag']['tasks']
  tasks['another'] = _task('another', 'comp-producer')
  assert ir.topological_order(spec) == ['another', 'producer', 'consumer']
  tasks['producer']['dependentTasks'] = ['consumer']
  with pytest.raises(ValueError, match='cycle'):
    ir.topological_order(spec)
  tasks['producer']['dependentTasks'] = ['nowhere']
  with pytest.raises(ValueError, match=r"unknown task\(s\) \['nowhere'\]"):
    ir.topological_order(spec)


def _vertex_like_spec():
  """A resolver feeding the consumer, and a driver hook on the producer."""
  spec = toy_spec()
  spec['root']['dag']['tasks']['resolver'] = _task('resolver', 'comp-resolver')
  consumer = spec['root']['dag']['tasks']['consumer']
  consumer['inputs']['artifacts']['baseline'] = {'taskOutputArtifact': {
      'producerTask': 'resolver', 'outputArtifactKey': 'model'}}
  consumer['dependentTasks'] = ['producer', 'resolver']
  spec['components']['comp-resolver'] = {
      'executorLabel': 'exec-resolver',
      'outputDefinitions': {'artifacts': {'model': {'artifactType': EXAMPLES}}}}
  spec['components']['comp-consumer']['inputDefinitions']['artifacts']['baseline'] = {
      'artifactType': EXAMPLES}
  executors = spec['deploymentSpec']['executors']
  executors['exec-resolver'] = {'resolver': {'outputArtifactQueries': {'model': {
      'filter': 'schema_title="tfx.Model"'}}}}
  executors['exec-consumer']['container']['command'] = ['python', '-m', 'consumer_entry']
  executors['exec-consumer']['container']['args'] += [
      ir.INPUTS_SPEC_FLAG, json.dumps({'artifacts': {'baseline': {}, 'in': {}}})]
  executors['exec-producer']['container'].update({
      'command': ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'],
      'args': ['--json_serialized_invocation_args', '{{$}}', '--runner=DirectRunner'],
      'lifecycle': {'preCacheCheck': {
          'command': ['python', '-m', 'some.driver'],
          'args': ['--json_serialized_invocation_args', '{{$}}', '--runner=DirectRunner']}}})
  spec['root']['dag']['tasks']['producer']['cachingOptions'] = {'enableCache': True}
  return spec


def test_adapt_for_kfp_removes_resolvers_feeding_optional_inputs():
  original = _vertex_like_spec()
  assert len(ir.kfp_incompatibilities(original)) == 2
  spec, notes = ir.adapt_for_kfp(original, optional_inputs=[('consumer', 'baseline')])
  assert original == _vertex_like_spec()  # a copy was changed
  assert ir.kfp_incompatibilities(spec) == []
  assert sorted(ir.tasks(spec)) == ['consumer', 'producer']
  assert 'comp-resolver' not in spec['components']
  assert 'exec-resolver' not in spec['deploymentSpec']['executors']
  consumer = ir.tasks(spec)['consumer']
  assert consumer['dependentTasks'] == ['producer']
  assert list(consumer['inputs']['artifacts']) == ['in']
  assert list(spec['components']['comp-consumer']['inputDefinitions']['artifacts']) == ['in']
  args = spec['deploymentSpec']['executors']['exec-consumer']['container']['args']
  assert json.loads(args[args.index(ir.INPUTS_SPEC_FLAG) + 1]) == {'artifacts': {'in': {}}}
  # The executor still gets the key, empty, as when a resolver finds nothing.
  assert spec['deploymentSpec']['executors']['exec-consumer']['container']['command'] == [
      'python', '-m', ir.LAUNCH_MODULE, '--empty-input', 'baseline',
      '--executor', 'consumer_entry', '--']
  assert any('consumer.baseline' in n for n in notes)


def test_adapt_for_kfp_refuses_to_drop_a_required_input():
  with pytest.raises(ir.IncompatibleError, match="needs input 'baseline' from the resolver"):
    ir.adapt_for_kfp(_vertex_like_spec(), optional_inputs=[])


def test_adapt_for_kfp_runs_the_driver_hook_in_the_pod():
  spec, _ = ir.adapt_for_kfp(_vertex_like_spec(), optional_inputs=[('consumer', 'baseline')])
  container = spec['deploymentSpec']['executors']['exec-producer']['container']
  assert 'lifecycle' not in container
  assert container['command'] == [
      'python', '-m', ir.LAUNCH_MODULE, '--driver', 'some.driver',
      '--executor', ir.TFX_ENTRYPOINT, '--']
  assert container['args'] == ['--json_serialized_invocation_args', '{{$}}',
                               '--runner=DirectRunner']
  assert ir.tasks(spec)['producer']['cachingOptions'] == {'enableCache': False}
  kept, _ = ir.adapt_for_kfp(_vertex_like_spec(), [('consumer', 'baseline')],
                             cache_pre_cache_check_tasks=True)
  assert ir.tasks(kept)['producer']['cachingOptions'] == {'enableCache': True}


def test_adapt_for_kfp_refuses_a_hook_it_cannot_fold():
  spec = _vertex_like_spec()
  hook = spec['deploymentSpec']['executors']['exec-producer']['container']['lifecycle']
  hook['preCacheCheck']['args'].append('--only-for-the-driver')
  with pytest.raises(ir.IncompatibleError, match='not among the executor arguments'):
    ir.adapt_for_kfp(spec, [('consumer', 'baseline')])
  spec = _vertex_like_spec()
  spec['deploymentSpec']['executors']['exec-producer']['container'][
      'lifecycle']['preCacheCheck']['command'] = ['/bin/driver']
  with pytest.raises(ir.IncompatibleError, match='expected `python -m <module>`'):
    ir.adapt_for_kfp(spec, [('consumer', 'baseline')])


def test_inputs_dropped_before_compiling_are_also_passed_empty():
  spec, _ = ir.adapt_for_kfp(_vertex_like_spec(), [('consumer', 'baseline')],
                             empty_inputs=[('producer', 'history')])
  assert spec['deploymentSpec']['executors']['exec-producer']['container']['command'] == [
      'python', '-m', ir.LAUNCH_MODULE, '--driver', 'some.driver', '--empty-input',
      'history', '--executor', ir.TFX_ENTRYPOINT, '--']
  vertex = ir.with_empty_inputs(_vertex_like_spec(), [('consumer', 'in')])
  assert vertex['deploymentSpec']['executors']['exec-consumer']['container']['command'] == [
      'python', '-m', ir.LAUNCH_MODULE, '--empty-input', 'in', '--executor',
      'consumer_entry', '--']
  assert 'lifecycle' in vertex['deploymentSpec']['executors']['exec-producer']['container']


def test_inputs_from_lookup_tasks_are_flagged_and_lookups_never_cached():
  spec, _ = ir.adapt_for_kfp(_vertex_like_spec(), [('consumer', 'baseline')],
                             lookup_inputs=[('consumer', 'in')])
  assert spec['deploymentSpec']['executors']['exec-consumer']['container']['command'] == [
      'python', '-m', ir.LAUNCH_MODULE, '--empty-input', 'baseline', '--lookup-input',
      'in', '--executor', 'consumer_entry', '--']
  ir.never_cache(spec, ['consumer'])
  assert ir.tasks(spec)['consumer']['cachingOptions'] == {'enableCache': False}


# --- in the pod: kubeflow_support.launch ---------------------------------------------------
def test_launch_runs_driver_then_executor_with_merged_outputs(tmp_path):
  modules = tmp_path / 'modules'
  modules.mkdir()
  (modules / 'fake_driver.py').write_text(textwrap.dedent("""
      import json, sys
      ei = json.loads(sys.argv[sys.argv.index('--json_serialized_invocation_args') + 1])
      out = {'parameterValues': {'span': 2},
             'artifacts': {'examples': {'artifacts': [{'metadata': {'custom:span': 2}}]}}}
      with open(ei['outputs']['outputFile'], 'w') as f:
        json.dump(out, f)
      print('driver saw', ' '.join(sys.argv[1:2]))
  """))
  (modules / 'fake_executor.py').write_text(textwrap.dedent("""
      import json, sys
      ei = json.loads(sys.argv[sys.argv.index('--json_serialized_invocation_args') + 1])
      with open(ei['outputs']['outputFile']) as f:
        driver_output = json.load(f)
      with open(sys.argv[-1], 'w') as f:
        json.dump({'input': ei, 'driver_output': driver_output, 'argv': sys.argv[1:]}, f)
      sys.exit(7)
  """))
  output_file = tmp_path / 'kfp_outputs' / 'output_metadata.json'
  output_file.parent.mkdir()
  executor_input = {'outputs': {'outputFile': str(output_file), 'artifacts': {
      'examples': {'artifacts': [{'uri': '/x', 'metadata': {'a': 1}}]}}}}
  seen = tmp_path / 'seen.json'
  process = subprocess.run(
      [sys.executable, '-m', 'kubeflow_support.launch', '--driver', 'fake_driver',
       '--empty-input', 'baseline', '--executor', 'fake_executor', '--',
       '--executor_class_path', 'x.Y',
       '--json_serialized_invocation_args', json.dumps(executor_input), str(seen)],
      env=dict(os.environ, PYTHONPATH=os.pathsep.join(
          [str(modules), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))])),
      capture_output=True, text=True, check=False)
  assert process.returncode == 7, process.stderr  # the executor's own exit code
  assert 'driver saw --executor_class_path' in process.stdout
  record = json.loads(seen.read_text())
  [examples] = record['input']['outputs']['artifacts']['examples']['artifacts']
  assert examples == {'uri': '/x', 'metadata': {'a': 1, 'custom:span': 2}}
  assert record['input']['inputs']['artifacts'] == {'baseline': {'artifacts': []}}
  assert record['driver_output']['parameterValues'] == {'span': 2}
  assert record['argv'][:2] == ['--executor_class_path', 'x.Y']


def test_launch_stops_when_the_driver_fails(tmp_path):
  modules = tmp_path / 'modules'
  modules.mkdir()
  (modules / 'bad_driver.py').write_text('import sys; sys.exit(5)\n')
  executor_input = {'outputs': {'outputFile': str(tmp_path / 'o.json')}}
  process = subprocess.run(
      [sys.executable, '-m', 'kubeflow_support.launch', '--driver', 'bad_driver',
       '--executor', 'never_runs', '--',
       '--json_serialized_invocation_args', json.dumps(executor_input)],
      env=dict(os.environ, PYTHONPATH=os.pathsep.join(
          [str(modules), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))])),
      capture_output=True, text=True, check=False)
  assert process.returncode == 5
  assert 'driver bad_driver failed with exit code 5' in process.stderr


def test_merge_driver_output_overlays_metadata_like_the_launcher():
  executor_input = {'outputs': {'artifacts': {'examples': {'artifacts': [
      {'uri': 'gs://a', 'metadata': {'keep': 1, 'span': 0}}]}}}}
  merged = launch.merge_driver_output(copy.deepcopy(executor_input), {
      'artifacts': {'examples': {'artifacts': [{'uri': '', 'metadata': {'span': 2}}]},
                    'unknown': {'artifacts': [{'uri': 'gs://z'}]}}})
  assert merged['outputs']['artifacts'] == {'examples': {'artifacts': [
      {'uri': 'gs://a', 'metadata': {'keep': 1, 'span': 2}}]}}


# --- connecting to ML Metadata ----------------------------------------------------
def test_connection_config_for_the_cluster_a_database_or_a_file(tmp_path):
  grpc = mlmd.connection_config('grpc://metadata-grpc-service.kubeflow:8080')
  assert (grpc.host, grpc.port) == ('metadata-grpc-service.kubeflow', 8080)
  mysql = mlmd.connection_config('mysql://root:p%40ss@mysql.kubeflow:3306/metadb')
  assert (mysql.mysql.host, mysql.mysql.port, mysql.mysql.database,
          mysql.mysql.user, mysql.mysql.password) == (
              'mysql.kubeflow', 3306, 'metadb', 'root', 'p@ss')
  with pytest.raises(FileNotFoundError):
    mlmd.connection_config(str(tmp_path / 'missing.sqlite'))
  with pytest.raises(ValueError, match='expected grpc://HOST:PORT'):
    mlmd.connection_config('grpc://no-port')
  with pytest.raises(ValueError, match='expected grpc://HOST:PORT, mysql://'):
    mlmd.connection_config('http://somewhere:8080')


def test_command_line_runs_a_compiled_file(tmp_path, capsys):
  path = str(tmp_path / 'toy.yaml')
  ir.dump(path, toy_spec())
  dockerfile = tmp_path / 'Dockerfile'
  dockerfile.write_text('FROM python\nENV FROM_IMAGE=gs://bucket/from-dockerfile\n')
  assert local_backend.main([
      path, '--pipeline-root', str(tmp_path / 'root'), '--map',
      f'gs://bucket={tmp_path / "bucket"}', '--param', 'greeting=hey',
      '--dockerfile', str(dockerfile)]) == 0
  assert 'run ' in capsys.readouterr().out
  [seen] = list((tmp_path / 'root').glob('*/consumer/result/seen.json'))
  seen = json.loads(seen.read_text())
  assert seen['greeting'] == 'hey'
  assert seen['env']['FROM_IMAGE'] == str(tmp_path / 'bucket' / 'from-dockerfile')
  assert local_backend.main([path, '--pipeline-root', str(tmp_path / 'root'),
                             '--param', 'nope=1']) == 1
