"""kubeflow_runner.py: the compiled definition against the TFX pipeline it
comes from, the flags and environment variables, and submission through
kfp.Client to a stand-in KFP API server.

Expectations come from create_pipeline() itself (components, upstream nodes,
exec properties), so components added to the pipeline are checked without
changing this file.
"""

import http.server
import json
import os
import re
import threading

import pytest
from google.protobuf import json_format
from kfp import components as kfp_components
from kfp.client import client as kfp_client
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
from kubeflow_support import executors
from kubeflow_support import ir
from kubeflow_support import settings
import description
from pipeline import configs
from pipeline import pipeline as pipeline_lib

IMAGE = 'registry.example/tfx-e2e-pipeline:1.0.0'
ROOT = 'gs://bucket/tfx'
DATA = 'gs://bucket/data/credit_risk'
BEAM = ['--runner=FnApiRunner', '--direct_running_mode=in_memory', '--direct_num_workers=1']
DRIVER = 'tfx.orchestration.kubeflow.v2.file_based_example_gen.driver'
ENV_VARS = ('PIPELINE_IMAGE', 'PIPELINE_ROOT', 'DATA_ROOT', 'SERVING_MODEL_DIR',
            'BEAM_PIPELINE_ARGS', 'KFP_HOST', 'KF_PIPELINES_ENDPOINT', 'S3_ENDPOINT',
            'S3_CREDENTIALS_SECRET', 'KFP_NAMESPACE')


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
  for name in ENV_VARS:
    monkeypatch.delenv(name, raising=False)


def _compile(tmp_path, *extra, name='pipeline.yaml'):
  path = str(tmp_path / name)
  code = kubeflow_runner.main(['--image', IMAGE, '--pipeline-root', ROOT,
                               '--data-root', DATA, '--output', path, *extra])
  assert code == 0
  spec, platform = ir.load(path)
  return path, spec, platform


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('compiled')
  kfp_path, kfp_spec, _ = _compile(tmp, name='kfp.yaml')
  vertex_path, vertex_spec, _ = _compile(tmp, '--backend', 'vertex', name='vertex.yaml')
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  tfx_pipeline = pipeline_lib.create_pipeline(
      pipeline_name='credit-risk', pipeline_root=ROOT, data_root=DATA, spec=spec,
      serving_model_dir=f'{ROOT}/serving/credit-risk',
      schema_path=configs.curated_schema_path(spec.name), beam_pipeline_args=BEAM)
  return {'kfp': (kfp_path, kfp_spec), 'vertex': (vertex_path, vertex_spec),
          'pipeline': tfx_pipeline, 'spec': spec}


def _resolvers(tfx_pipeline):
  from tfx.dsl.components.common import resolver  # pylint: disable=g-import-not-at-top
  return {c.id: c for c in tfx_pipeline.components if isinstance(c, resolver.Resolver)}


def _compiled_resolver_tasks(node):
  """The tasks TFX's compiler makes of a resolver node; none if it cannot."""
  from tfx.dsl.components.common import resolver  # pylint: disable=g-import-not-at-top
  strategy = node.exec_properties[resolver.RESOLVER_STRATEGY_CLASS].__name__
  # The serving baseline runs as TFX's blessed-model strategy on Vertex
  # (surgery.fall_back_for_vertex).
  if strategy in ('LatestBlessedModelStrategy', 'ServingBaselineStrategy'):
    return [f'{node.id}-model-blessing-resolver', f'{node.id}-model-resolver']
  if strategy == 'LatestArtifactStrategy':
    return [node.id]
  return []


def _title(artifact_type):
  return ir.yaml.safe_load(artifact_type['instanceSchema'])['title'] \
      if 'instanceSchema' in artifact_type else artifact_type['schemaTitle']


# --- the compiled definition ----------------------------------------------------
@pytest.mark.parametrize('backend', ['kfp', 'vertex'])
def test_kfp_loads_the_definition_as_submission_does(compiled, backend):
  path, spec = compiled[backend]
  component = kfp_components.load_component_from_file(path)
  assert component.name == 'credit-risk'
  assert set(component.pipeline_spec.root.dag.tasks) == set(ir.tasks(spec))
  # kfp.Client parses the package strictly (unknown fields are errors).
  doc = kfp_client._extract_pipeline_yaml(path)  # pylint: disable=protected-access
  assert doc.pipeline_spec.default_pipeline_root == ROOT
  assert doc.pipeline_spec.schema_version == '2.1.0'


@pytest.mark.parametrize('backend', ['kfp', 'vertex'])
def test_every_component_is_a_task_running_its_executor(compiled, backend):
  from tfx.utils import name_utils  # pylint: disable=g-import-not-at-top
  _, spec = compiled[backend]
  tfx_pipeline = compiled['pipeline']
  resolvers = _resolvers(tfx_pipeline)
  expected = {c.id for c in tfx_pipeline.components if c.id not in resolvers}
  if backend == 'vertex':
    for node in resolvers.values():
      expected.update(_compiled_resolver_tasks(node))
  else:
    expected.update(LOOKUPS.values())
  assert set(ir.tasks(spec)) == expected
  for component in tfx_pipeline.components:
    if component.id in resolvers:
      continue
    container = ir.executor_of(spec, component.id)['container']
    assert container['image'] == IMAGE
    args = container['args']
    executor_class = component.executor_spec.executor_class
    # TFX executors the KFP entrypoint trips run as our subclasses there.
    executor_class = name_utils.get_full_name(
        executors.REPLACEMENTS.get(executor_class, executor_class))
    assert args[args.index('--executor_class_path') + 1] == executor_class
    assert args[args.index('--json_serialized_invocation_args') + 1] == '{{$}}'
    if hasattr(component.executor_spec, 'beam_pipeline_args'):
      assert args[-len(BEAM):] == BEAM, component.id
    command = container['command']
    assert command in (['python', '-m', ir.TFX_ENTRYPOINT],) or (
        command[:3] == ['python', '-m', ir.LAUNCH_MODULE] and
        command[-3:] == ['--executor', ir.TFX_ENTRYPOINT, '--']), component.id


# The task that answers each resolver's question on the open-source KFP backend.
LOOKUPS = {'previous_span_resolver': 'previous_span_lookup',
           'latest_blessed_model_resolver': 'latest_blessed_model_lookup'}


def _launch_flags(spec, name, flag):
  command = ir.executor_of(spec, name).get('container', {}).get('command', [])
  return {command[i + 1] for i, arg in enumerate(command) if arg == flag}


def test_on_kfp_lookup_tasks_feed_what_the_resolvers_fed(compiled):
  _, spec = compiled['kfp']
  tfx_pipeline = compiled['pipeline']
  resolvers = _resolvers(tfx_pipeline)
  assert set(resolvers) == set(LOOKUPS)
  for component in tfx_pipeline.components:
    for key, channel in component.inputs.items():
      producer = getattr(channel, 'producer_component_id', None)
      if producer not in resolvers:
        continue
      source = ir.tasks(spec)[component.id]['inputs']['artifacts'][key]
      assert source['taskOutputArtifact']['producerTask'] == LOOKUPS[producer]
      assert source['taskOutputArtifact']['outputArtifactKey'] == channel.output_key
      # A lookup that found nothing reaches the executor as an empty input.
      assert key in _launch_flags(spec, component.id, '--lookup-input')
  for lookup in LOOKUPS.values():
    # Its answer depends on ML Metadata, not on its inputs: never cached.
    assert ir.tasks(spec)[lookup]['cachingOptions'] == {'enableCache': False}
    args = ir.executor_of(spec, lookup)['container']['args']
    assert args[args.index('--executor_class_path') + 1].startswith(
        'components.baseline_lookup.executor.')
  assert all(not _launch_flags(spec, n, '--empty-input') for n in ir.tasks(spec))
  lookup_inputs = ir.tasks(spec)['previous_span_lookup']['inputs']['artifacts']
  assert lookup_inputs['examples']['taskOutputArtifact']['producerTask'] == 'CsvExampleGen'
  model = ir.tasks(spec)['latest_blessed_model_lookup']['inputs']['artifacts']
  assert model['candidate_model']['taskOutputArtifact']['producerTask'] == 'Trainer'


def test_on_vertex_the_custom_strategy_resolver_reaches_consumers_empty(compiled):
  _, spec = compiled['vertex']
  tfx_pipeline = compiled['pipeline']
  resolvers = _resolvers(tfx_pipeline)
  expected = {}
  for component in tfx_pipeline.components:
    for key, channel in component.inputs.items():
      producer = resolvers.get(getattr(channel, 'producer_component_id', None))
      if producer and not _compiled_resolver_tasks(producer):
        expected.setdefault(component.id, set()).add(key)
  flagged = {n: _launch_flags(spec, n, '--empty-input') for n in ir.tasks(spec)}
  assert {n: keys for n, keys in flagged.items() if keys} == expected
  for name, keys in expected.items():
    assert not keys & set(ir.tasks(spec)[name].get('inputs', {}).get('artifacts', {}))


def _rebased(value):
  return re.sub(re.escape(configs.REPO_ROOT) + r'(?=/|$)',
                settings.IMAGE_REPO_ROOT, value) if isinstance(value, str) else value


# Exec properties that take the run's data_root parameter instead of a constant:
# a run on new data changes only that parameter.
RUN_PARAMETERS = {('CsvExampleGen', 'input_base'), ('HumanLevelAnalysis', 'data_root')}
# Exec properties computed from the data root: unknown until the run starts.
FROM_RUN_PARAMETERS = {('HumanLevelAnalysis', 'labelers_fingerprint'): 'runtime'}


@pytest.mark.parametrize('backend', ['kfp', 'vertex'])
def test_parameters_are_the_exec_properties(compiled, backend):
  from tfx.orchestration.kubeflow.v2 import compiler_utils  # pylint: disable=g-import-not-at-top
  _, spec = compiled[backend]
  tfx_pipeline = compiled['pipeline']
  resolvers = _resolvers(tfx_pipeline)
  for component in tfx_pipeline.components:
    if component.id in resolvers:
      continue
    parameters = ir.tasks(spec)[component.id].get('inputs', {}).get('parameters', {})
    expected = {k: v for k, v in component.exec_properties.items() if v is not None}
    assert set(parameters) == set(expected), component.id
    for key, value in expected.items():
      if (component.id, key) in RUN_PARAMETERS:
        continue  # the data_root run parameter, below
      if (component.id, key) in FROM_RUN_PARAMETERS:
        assert parameters[key]['runtimeValue']['constant'] == FROM_RUN_PARAMETERS[
            (component.id, key)]
        continue
      converted = json_format.MessageToDict(compiler_utils.value_converter(value))
      assert parameters[key]['runtimeValue']['constant'] == _rebased(converted['constant']), (
          component.id, key)


def test_user_code_and_description_reach_the_components(compiled):
  _, spec = compiled['kfp']
  tasks = ir.tasks(spec)
  constant = lambda task, key: tasks[task]['inputs']['parameters'][key]['runtimeValue']['constant']
  assert constant('Transform', 'preprocessing_fn') == configs.PREPROCESSING_FN
  assert constant('Trainer', 'run_fn') == configs.RUN_FN
  for task in ('Transform', 'Trainer'):
    config = json.loads(constant(task, 'custom_config'))
    assert config['description'] == compiled['spec'].raw
    assert config['source'] == _rebased(compiled['spec'].source)
    description.DatasetSpec.from_config(config)  # valid in the pod
  push = json.loads(constant('Pusher', 'push_destination'))
  assert push['filesystem']['base_directory'] == f'{ROOT}/serving/credit-risk'
  schema = configs.curated_schema_path('credit_risk')
  if schema and 'schema_file' in tasks.get('SchemaGen', {}).get('inputs', {}).get('parameters', {}):
    assert constant('SchemaGen', 'schema_file') == os.path.join(
        settings.IMAGE_REPO_ROOT, os.path.relpath(schema, configs.REPO_ROOT))
  assert configs.REPO_ROOT not in json.dumps(spec['root'])


@pytest.mark.parametrize('backend', ['kfp', 'vertex'])
def test_data_root_is_a_run_parameter_with_a_default(compiled, backend):
  _, spec = compiled[backend]
  declared = spec['root']['inputDefinitions']['parameters']['data_root']
  assert declared == {'parameterType': 'STRING', 'defaultValue': DATA}
  for task, key in RUN_PARAMETERS:
    assert ir.tasks(spec)[task]['inputs']['parameters'][key] == {
        'componentInputParameter': 'data_root'}, task
  assert spec['defaultPipelineRoot'] == ROOT


def test_kfp_definition_has_nothing_the_kfp_backend_rejects(compiled):
  _, spec = compiled['kfp']
  assert ir.kfp_incompatibilities(spec) == []
  _, vertex = compiled['vertex']
  problems = ir.kfp_incompatibilities(vertex)
  assert any('resolver executor' in p for p in problems)
  assert any('CsvExampleGen: a lifecycle hook' in p for p in problems)
  # No safety gate is left out on KFP: nothing reaches a consumer always empty.
  description = spec['pipelineInfo']['description']
  assert 'always empty' not in description and 'left out' not in description
  assert 'answered by the task previous_span_lookup' in description


def test_example_gen_runs_the_tfx_driver_in_its_pod(compiled):
  _, spec = compiled['kfp']
  container = ir.executor_of(spec, 'CsvExampleGen')['container']
  assert 'lifecycle' not in container
  assert container['command'] == ['python', '-m', ir.LAUNCH_MODULE, '--driver',
                                  DRIVER, '--executor', ir.TFX_ENTRYPOINT, '--']
  # Without a pinned span KFP's cache cannot see new files: off for this task.
  assert ir.tasks(spec)['CsvExampleGen']['cachingOptions'] == {'enableCache': False}
  assert ir.tasks(spec)['Transform']['cachingOptions'] == {'enableCache': True}
  _, vertex = compiled['vertex']
  hook = ir.executor_of(vertex, 'CsvExampleGen')['container']['lifecycle']['preCacheCheck']
  assert hook['command'] == ['python', '-m', DRIVER]


def test_a_pinned_span_keeps_example_gen_cached(tmp_path):
  _, spec, _ = _compile(tmp_path, '--span', '2')
  task = ir.tasks(spec)['CsvExampleGen']
  assert task['cachingOptions'] == {'enableCache': True}
  range_config = json.loads(
      task['inputs']['parameters']['range_config']['runtimeValue']['constant'])
  assert range_config['static_range'] == {'start_span_number': 2, 'end_span_number': 2}


def test_no_cache_turns_caching_off_everywhere(tmp_path):
  _, spec, _ = _compile(tmp_path, '--no-cache')
  assert all(not t.get('cachingOptions', {}).get('enableCache')
             for t in ir.tasks(spec).values())


# --- flags and environment ------------------------------------------------------------
def test_environment_variables_configure_the_compile(tmp_path, monkeypatch):
  monkeypatch.setenv('PIPELINE_IMAGE', 'env.example/image:2')
  monkeypatch.setenv('PIPELINE_ROOT', 'gs://env-bucket/root')
  monkeypatch.setenv('DATA_ROOT', 'gs://env-bucket/data')
  monkeypatch.setenv('BEAM_PIPELINE_ARGS', "--runner=DataflowRunner --project=p "
                     "--region=europe-west1 --temp_location='gs://env-bucket/tmp'")
  path = str(tmp_path / 'env.yaml')
  assert kubeflow_runner.main(['--output', path]) == 0
  spec, _ = ir.load(path)
  assert spec['defaultPipelineRoot'] == 'gs://env-bucket/root'
  assert spec['root']['inputDefinitions']['parameters']['data_root']['defaultValue'] == (
      'gs://env-bucket/data')
  args = ir.executor_of(spec, 'Transform')['container']['args']
  assert args[-4:] == ['--runner=DataflowRunner', '--project=p', '--region=europe-west1',
                       '--temp_location=gs://env-bucket/tmp']
  assert not any(a.startswith('--direct_') for a in args)
  assert ir.executor_of(spec, 'Trainer')['container']['image'] == 'env.example/image:2'
  # A flag wins over its environment variable.
  assert kubeflow_runner.main(['--output', path, '--image', 'flag.example/image:3']) == 0
  spec, _ = ir.load(path)
  assert ir.executor_of(spec, 'Trainer')['container']['image'] == 'flag.example/image:3'


def test_beam_flags_for_direct_and_distributed_runners():
  parse = settings.parser('').parse_args
  assert settings.beam_args(parse([])) == BEAM
  assert settings.beam_args(parse(
      ['--beam-mode', 'multi_processing', '--beam-workers', '4'])) == [
          '--runner=FnApiRunner', '--direct_running_mode=multi_processing',
          '--direct_num_workers=4']
  assert settings.beam_args(parse(
      ['--beam-arg=--direct_num_workers=2'])) == [
          '--runner=FnApiRunner', '--direct_running_mode=in_memory', '--direct_num_workers=2']
  # A runner named by the user replaces ours.
  assert settings.beam_args(parse(['--beam-arg=--runner=DirectRunner'])) == [
      '--direct_running_mode=in_memory', '--direct_num_workers=1', '--runner=DirectRunner']
  flink = ['--runner=PortableRunner', '--job_endpoint=flink-jobserver:8099',
           '--environment_type=EXTERNAL', '--environment_config=localhost:50000']
  assert settings.beam_args(parse([f'--beam-arg={a}' for a in flink])) == flink


def test_s3_pipeline_root_gets_endpoint_and_credentials(tmp_path):
  path, spec, platform = _compile(
      tmp_path, '--pipeline-root', 's3://mlpipeline/tfx', '--s3-endpoint',
      'http://minio-service.kubeflow:9000', '--s3-credentials-secret',
      'mlpipeline-minio-artifact', '--data-root', 's3://mlpipeline/data')
  executors = spec['deploymentSpec']['executors']
  for label, executor in executors.items():
    env = {e['name']: e['value'] for e in executor['container']['env']}
    assert env['S3_ENDPOINT'] == env['AWS_ENDPOINT_URL'] == 'http://minio-service.kubeflow:9000'
    secret = platform['platforms']['kubernetes']['deploymentSpec']['executors'][label]
    assert secret['secretAsEnv'] == [{'secretName': 'mlpipeline-minio-artifact', 'keyToEnv': [
        {'secretKey': 'accesskey', 'envVar': 'AWS_ACCESS_KEY_ID'},
        {'secretKey': 'secretkey', 'envVar': 'AWS_SECRET_ACCESS_KEY'}]}]
  assert '--s3_endpoint_url=http://minio-service.kubeflow:9000' in (
      executors['Transform_executor']['container']['args'])
  doc = kfp_client._extract_pipeline_yaml(path)  # pylint: disable=protected-access
  assert 'kubernetes' in doc.platform_spec.platforms


@pytest.mark.parametrize('argv, message', [
    (['--pipeline-root', ROOT, '--data-root', DATA],
     '--image is required (or set PIPELINE_IMAGE)'),
    (['--image', IMAGE, '--data-root', DATA],
     '--pipeline-root is required (or set PIPELINE_ROOT)'),
    (['--image', IMAGE, '--pipeline-root', 'minio://mlpipeline/v2', '--data-root', DATA],
     'For MinIO use s3://BUCKET/... with --s3-endpoint'),
    (['--image', IMAGE, '--pipeline-root', '/tmp/root', '--data-root', DATA],
     "must be a gs:// or s3:// URI: the task pods cannot see this machine's files"),
    (['--image', IMAGE, '--pipeline-root', ROOT],
     '--data-root is required (or set DATA_ROOT)'),
    (['--image', IMAGE, '--pipeline-root', ROOT, '--data-root', 'data/generated'],
     "--data-root 'data/generated': give a gs:// or s3:// URI"),
    (['--image', IMAGE, '--pipeline-root', ROOT, '--data-root', DATA,
      '--pipeline-name', 'Credit_Risk'],
     "pipeline name 'Credit_Risk' is not valid for Kubeflow Pipelines"),
    (['--image', IMAGE, '--pipeline-root', ROOT, '--data-root', DATA,
      '--beam-mode', 'multi_processing'],
     'multi_processing needs --beam-workers N'),
    (['--image', IMAGE, '--pipeline-root', 's3://b/root', '--data-root', DATA,
      '--backend', 'vertex'], 'Vertex AI Pipelines needs gs://'),
    (['--image', IMAGE, '--pipeline-root', ROOT, '--data-root', DATA,
      '--param', 'data_root=gs://x'], '--param applies to a submitted run: add --submit'),
    (['--image', IMAGE, '--pipeline-root', ROOT, '--data-root', DATA, '--submit'],
     '--submit needs --host (or KFP_HOST)'),
])
def test_missing_or_wrong_settings_are_clear_errors(tmp_path, capsys, argv, message):
  assert kubeflow_runner.main(argv + ['--output', str(tmp_path / 'x.yaml')]) == 2
  assert message in capsys.readouterr().err


def test_the_taxi_example_reads_its_data_from_the_image(tmp_path):
  path = str(tmp_path / 'taxi.yaml')
  assert kubeflow_runner.main([
      '--image', IMAGE, '--pipeline-root', ROOT, '--output', path, '--description',
      os.path.join(configs.REPO_ROOT, 'data', 'descriptions', 'taxi.yaml')]) == 0
  spec, _ = ir.load(path)
  assert spec['root']['inputDefinitions']['parameters']['data_root']['defaultValue'] == (
      settings.IMAGE_SITE_PACKAGES + '/tfx/examples/chicago_taxi_pipeline/data/simple')


# --- submission -------------------------------------------------------------------------
class _FakeKfpApi(http.server.BaseHTTPRequestHandler):
  """The few KFP v2beta1 endpoints kfp.Client uses to start and watch a run."""
  requests = []
  final_state = 'SUCCEEDED'

  def _reply(self, body):
    data = json.dumps(body).encode()
    self.send_response(200)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def do_GET(self):  # pylint: disable=invalid-name
    self.requests.append(('GET', self.path, None))
    if self.path.startswith('/apis/v2beta1/healthz'):
      self._reply({'multi_user': False})
    elif self.path.startswith('/apis/v2beta1/experiments'):
      self._reply({})  # no experiment of that name yet
    elif self.path.startswith('/apis/v2beta1/runs/run-42'):
      self._reply({'run_id': 'run-42', 'state': self.final_state})
    else:
      self.send_error(404)

  def do_POST(self):  # pylint: disable=invalid-name
    body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
    self.requests.append(('POST', self.path, body))
    if self.path == '/apis/v2beta1/runs' and self.final_state == 'REJECTED':
      self.send_error(403, 'namespace not allowed')
    elif self.path == '/apis/v2beta1/experiments':
      self._reply({'experiment_id': 'exp-1', 'display_name': body['display_name']})
    elif self.path == '/apis/v2beta1/runs':
      self._reply({'run_id': 'run-42', 'display_name': body['display_name'],
                   'state': 'PENDING'})
    else:
      self.send_error(404)

  def log_message(self, *args):  # quiet
    pass


@pytest.fixture
def kfp_api():
  _FakeKfpApi.requests = []
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _FakeKfpApi)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_port}'
  server.shutdown()
  server.server_close()


@pytest.mark.parametrize('state, code', [('SUCCEEDED', 0), ('FAILED', 1)])
def test_submit_creates_a_run_from_the_compiled_definition(tmp_path, capsys, kfp_api,
                                                           state, code):
  _FakeKfpApi.final_state = state
  path = str(tmp_path / 'submitted.yaml')
  assert kubeflow_runner.main([
      '--image', IMAGE, '--pipeline-root', ROOT, '--data-root', DATA, '--output', path,
      '--submit', '--host', kfp_api, '--param', 'data_root=gs://bucket/other',
      '--run-name', 'nightly', '--wait', '60']) == code
  posts = {p: body for method, p, body in _FakeKfpApi.requests if method == 'POST'}
  assert posts['/apis/v2beta1/experiments']['display_name'] == 'credit-risk'
  run = posts['/apis/v2beta1/runs']
  assert run['display_name'] == 'nightly'
  assert run['experiment_id'] == 'exp-1'
  assert run['runtime_config'] == {'parameters': {'data_root': 'gs://bucket/other'},
                                   'pipeline_root': ROOT}
  spec, _ = ir.load(path)
  # kfp.Client sends the definition through the PipelineSpec proto.
  assert json_format.ParseDict(run['pipeline_spec'], pipeline_spec_pb2.PipelineSpec()) == (
      json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec()))
  output = capsys.readouterr().out
  assert 'Submitted run run-42' in output
  assert f'Run run-42 finished: {state}' in output


def test_a_refused_submission_is_a_clear_error(tmp_path, capsys, kfp_api):
  _FakeKfpApi.final_state = 'REJECTED'
  assert kubeflow_runner.main([
      '--image', IMAGE, '--pipeline-root', ROOT, '--data-root', DATA,
      '--output', str(tmp_path / 'p.yaml'), '--submit', '--host', kfp_api]) == 1
  error = capsys.readouterr().err
  assert f'the KFP API at {kfp_api} refused or did not answer' in error
  assert '403' in error


def test_the_distribution_validator_gets_its_config_decoded_on_kubeflow():
  from tfx.proto import distribution_validator_pb2  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  config = distribution_validator_pb2.DistributionValidatorConfig()
  feature = config.default_slice_config.feature.add()
  feature.path.step.append('annual_income')
  feature.distribution_comparator.jensen_shannon_divergence.threshold = 0.06
  # What TFX's KFP v2 entrypoint hands the executor: JSON text.
  text = {'distribution_validator_config': proto_utils.proto_to_json(config),
          'include_split_pairs': '[["train", "train"]]'}
  decoded = executors.decoded(text, executors.DISTRIBUTION_VALIDATOR_PROTOS)
  assert decoded['distribution_validator_config'] == config
  assert decoded['include_split_pairs'] == text['include_split_pairs']
  assert executors.decoded(decoded, executors.DISTRIBUTION_VALIDATOR_PROTOS) == decoded
