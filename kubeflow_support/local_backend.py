"""Executes a compiled pipeline here, task by task, the way the open-source
Kubeflow Pipelines backend does: each task runs its own compiled container
command (for TFX tasks, TFX's KFP v2 container entrypoint) as a subprocess.

  python -m kubeflow_support.local_backend build/credit-risk.yaml \\
      --pipeline-root /tmp/kfp/root --map gs://my-bucket=/tmp/kfp/gcs/my-bucket \\
      --param data_root=gs://my-bucket/data

What the KFP backend does for one container task, and what stands in for it:

  KFP, in the cluster                           here
  driver: resolves the task's inputs from the   the same, from a local ML Metadata store
    cluster's MySQL-backed ML Metadata and        (SQLite): the artifacts upstream tasks
    converts them to RuntimeArtifacts (name =     recorded, converted the same way
    MLMD id, metadata = properties)
  driver: provisions output URIs under the      the same, under a local pipeline root
    pipeline root; writes the ExecutorInput
  launcher: substitutes {{$}} and the other     the same substitutions, then runs command +
    placeholders, runs command + args in the      args as a subprocess (the "pod") with the
    task's image                                  project's Python for the image's `python`,
                                                  the image's ENV (from the Dockerfile) and a
                                                  fresh working directory per task
  launcher: reads the executor-output JSON,     the same merge (URI, metadata overlay);
    merges it into the output artifacts and       execution, artifacts and events go to the
    records them, with events, in MLMD            local store, under system.Pipeline and
                                                  system.PipelineRun contexts
  object store (gs://, s3://, minio://)         local directories (`path_map`); output
                                                  URI directories are created up front

Not emulated, and refused rather than guessed: resolver executors and
lifecycle hooks (the KFP backend cannot run them either: kubeflow_support/ir.py),
importers, trigger conditions, loops and nested DAGs. KFP's cache, retries and
pod resources are not emulated: every task executes once.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from kubeflow_support import ir

PIPELINE_CONTEXT = 'system.Pipeline'
RUN_CONTEXT = 'system.PipelineRun'
CONTAINER_EXECUTION = 'system.ContainerExecution'
LOG_TAIL_CHARS = 6000
# The image's PATH points at its own interpreter, which `python` stands for
# here already (LocalKfpBackend.python).
IMAGE_ENV_IGNORED = ('PATH',)


class TaskFailed(RuntimeError):
  """A task's command exited non-zero; the message ends with its log tail."""

  def __init__(self, task: str, returncode: int, log_path: str, tail: str):
    super().__init__(f'task {task} exited with code {returncode} (log: {log_path})'
                     f'\n{tail}')
    self.task = task
    self.returncode = returncode
    self.log_path = log_path


@dataclasses.dataclass
class TaskRun:
  name: str
  state: str
  seconds: float
  started: float
  finished: float
  argv: List[str]
  executor_input: Dict[str, Any]
  executor_output: Dict[str, Any]
  outputs: Dict[str, Dict[str, Any]]
  output_parameters: Dict[str, Any]
  execution_id: int
  log_path: str


@dataclasses.dataclass
class RunResult:
  run_id: str
  order: List[str]
  tasks: Dict[str, TaskRun]
  metadata_path: str


# --- values, the way the KFP backend converts them -------------------------
def _to_mlmd_value(value: Any) -> metadata_store_pb2.Value:
  """structValueToMLMDValue (backend/src/v2/metadata)."""
  result = metadata_store_pb2.Value()
  if isinstance(value, bool):
    result.int_value = int(value)
  elif isinstance(value, str):
    result.string_value = value
  elif isinstance(value, (int, float)):
    result.double_value = float(value)
  elif isinstance(value, list):
    result.struct_value.update({'list': value})
  elif isinstance(value, dict):
    result.struct_value.update({'struct': value})
  else:
    raise ValueError(f'unsupported metadata value {value!r} (KFP rejects null too)')
  return result


def _from_mlmd_value(value: metadata_store_pb2.Value) -> Any:
  """toRuntimeArtifact's property conversion (backend/src/v2/metadata)."""
  kind = value.WhichOneof('value')
  if kind == 'string_value':
    return value.string_value
  if kind == 'double_value':
    return value.double_value
  if kind == 'int_value':
    return float(value.int_value)
  if kind == 'struct_value':
    return json_format.MessageToDict(value.struct_value)
  raise ValueError(f'unsupported MLMD value kind {kind}')


def through_mlmd(value: Any) -> Any:
  """A metadata value as the next task receives it after KFP stores it in MLMD:
  numbers become doubles, lists {'list': [...]}, dicts {'struct': {...}}."""
  return _from_mlmd_value(_to_mlmd_value(value))


def _placeholder_text(value: Any) -> str:
  """How the launcher prints a parameter into a command line."""
  if isinstance(value, bool):
    return 'true' if value else 'false'
  if isinstance(value, float) and value.is_integer():
    return str(int(value))
  if isinstance(value, (list, dict)):
    return json.dumps(value, separators=(',', ':'))
  return str(value)


def artifact_type_title(type_schema: Dict[str, Any]) -> str:
  if 'schemaTitle' in type_schema:
    return type_schema['schemaTitle']
  title = yaml.safe_load(type_schema.get('instanceSchema', '')) or {}
  if not title.get('title'):
    raise ValueError(f'artifact type without a title: {type_schema}')
  return title['title']


def dockerfile_env(path: str) -> Dict[str, str]:
  """The ENV of a Dockerfile's final stage: what every task's process sees."""
  env: Dict[str, str] = {}
  with open(path) as f:
    text = re.sub(r'\\\n', ' ', f.read())
  for line in text.splitlines():
    line = line.strip()
    if line.upper().startswith('FROM '):
      env = {}
    elif line.upper().startswith('ENV '):
      body = line[4:].strip()
      if '=' not in body.split()[0]:
        key, _, value = body.partition(' ')
        env[key] = value.strip()
        continue
      for item in re.findall(r'(\w+)=("[^"]*"|\S+)', body):
        env[item[0]] = item[1].strip('"')
  return env


class LocalKfpBackend:
  """Runs a compiled pipeline definition as the KFP backend would, locally."""

  def __init__(self, spec: Dict[str, Any], work_dir: str, pipeline_root: str,
               metadata_path: Optional[str] = None,
               path_map: Optional[Dict[str, str]] = None,
               image_env: Optional[Dict[str, str]] = None,
               python: str = sys.executable, timeout: float = 1800,
               parallelism: int = 2, echo: bool = True):
    self.spec = spec
    self.work_dir = os.path.abspath(work_dir)
    self.pipeline_root = os.path.abspath(pipeline_root)
    self.metadata_path = metadata_path or os.path.join(self.work_dir, 'metadata.sqlite')
    # Longest prefix first, so gs://b/x maps before gs://b.
    self.path_map = sorted((path_map or {}).items(), key=lambda kv: -len(kv[0]))
    self.image_env = {k: self.localize(v) for k, v in (image_env or {}).items()
                      if k not in IMAGE_ENV_IGNORED}
    self.python = python
    self.timeout = timeout
    self.parallelism = max(1, parallelism)
    self.echo = echo
    # Tasks run concurrently (as pods do); the MLMD client is not thread-safe.
    self._lock = threading.RLock()
    os.makedirs(os.path.dirname(self.metadata_path), exist_ok=True)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = self.metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    self.store = metadata_store.MetadataStore(config)

  # --- checks ---------------------------------------------------------------
  def validate(self) -> List[str]:
    """Refuses what the KFP backend cannot run, before anything executes."""
    problems = ir.kfp_incompatibilities(self.spec)
    for name, task in sorted(ir.tasks(self.spec).items()):
      kind = ir.executor_kind(ir.executor_of(self.spec, name))
      if kind == 'importer':
        problems.append(f'task {name}: importer tasks are not emulated here')
      if task.get('triggerPolicy', {}).get('condition'):
        problems.append(f'task {name}: trigger conditions are not emulated here')
      if 'iteratorPolicy' in task or 'parameterIterator' in task or 'artifactIterator' in task:
        problems.append(f'task {name}: loops are not emulated here')
    if problems:
      raise ir.IncompatibleError('; '.join(problems))
    return ir.topological_order(self.spec)

  def localize(self, text: str) -> str:
    """Replaces remote prefixes (gs://bucket, /image/dir) by their local dirs."""
    for prefix, local in self.path_map:
      pattern = (r'(?<![A-Za-z0-9_./-])' + re.escape(prefix.rstrip('/')) +
                 r'(?=/|$|[^A-Za-z0-9_.-])')
      text = re.sub(pattern, lambda _: local.rstrip('/'), text)
    return text

  def _localize_value(self, value: Any) -> Any:
    if isinstance(value, str):
      return self.localize(value)
    if isinstance(value, list):
      return [self._localize_value(v) for v in value]
    if isinstance(value, dict):
      return {k: self._localize_value(v) for k, v in value.items()}
    return value

  # --- MLMD -------------------------------------------------------------------
  def _type_id(self, kind: str, name: str) -> int:
    if kind == 'artifact':
      return self.store.put_artifact_type(metadata_store_pb2.ArtifactType(name=name))
    if kind == 'execution':
      return self.store.put_execution_type(metadata_store_pb2.ExecutionType(name=name))
    return self.store.put_context_type(metadata_store_pb2.ContextType(name=name))

  def _context(self, type_name: str, name: str) -> metadata_store_pb2.Context:
    found = self.store.get_context_by_type_and_name(type_name, name)
    if found is not None:
      return found
    context = metadata_store_pb2.Context(
        type_id=self._type_id('context', type_name), name=name)
    [context.id] = self.store.put_contexts([context])
    return context

  def _runtime_artifact(self, artifact_id: int,
                        type_schema: Dict[str, Any]) -> Dict[str, Any]:
    with self._lock:
      [artifact] = self.store.get_artifacts_by_id([artifact_id])
    metadata = {}
    for props in (artifact.properties, artifact.custom_properties):
      for key, value in props.items():
        metadata[key] = _from_mlmd_value(value)
    return {'name': str(artifact.id), 'uri': artifact.uri,
            'type': type_schema, 'metadata': metadata}

  def _record(self, task_name: str, image: str, state: int,
              inputs: Dict[str, int], outputs: Dict[str, Dict[str, Any]],
              contexts: List[metadata_store_pb2.Context]) -> Tuple[int, Dict[str, int]]:
    with self._lock:
      return self._record_locked(task_name, image, state, inputs, outputs, contexts)

  def _record_locked(self, task_name, image, state, inputs, outputs, contexts):
    execution = metadata_store_pb2.Execution(
        type_id=self._type_id('execution', CONTAINER_EXECUTION),
        last_known_state=state)
    execution.custom_properties['task_name'].string_value = task_name
    execution.custom_properties['display_name'].string_value = task_name
    execution.custom_properties['image'].string_value = image
    pairs = []
    for key, artifact_id in sorted(inputs.items()):
      [artifact] = self.store.get_artifacts_by_id([artifact_id])
      event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)
      event.path.steps.add().key = key
      pairs.append((artifact, event))
    output_keys = sorted(outputs)
    for key in output_keys:
      runtime = outputs[key]
      artifact = metadata_store_pb2.Artifact(
          type_id=self._type_id('artifact', artifact_type_title(runtime['type'])),
          uri=runtime['uri'], state=metadata_store_pb2.Artifact.LIVE)
      for name, value in runtime.get('metadata', {}).items():
        artifact.custom_properties[name].CopyFrom(_to_mlmd_value(value))
      artifact.custom_properties['display_name'].string_value = key
      event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
      event.path.steps.add().key = key
      pairs.append((artifact, event))
    execution_id, artifact_ids, _ = self.store.put_execution(
        execution, pairs, contexts)
    produced = dict(zip(output_keys, artifact_ids[len(inputs):]))
    return execution_id, produced

  # --- one task -----------------------------------------------------------------
  def _parameter_value(self, task_name: str, key: str, spec: Dict[str, Any],
                       root_params: Dict[str, Any],
                       produced_params: Dict[str, Dict[str, Any]]) -> Any:
    if 'runtimeValue' in spec:
      runtime = spec['runtimeValue']
      if 'constant' not in runtime:
        raise ir.IncompatibleError(
            f'task {task_name}: parameter {key} uses the schema-2.0 constantValue; '
            f'the KFP backend reads schema-2.1 constants (compile with '
            f'use_pipeline_spec_2_1=True)')
      return runtime['constant']
    if 'componentInputParameter' in spec:
      return root_params[spec['componentInputParameter']]
    if 'taskOutputParameter' in spec:
      source = spec['taskOutputParameter']
      return produced_params[source['producerTask']][source['outputParameterKey']]
    raise ir.IncompatibleError(f'task {task_name}: unsupported parameter spec {spec}')

  def _run_container(self, run_id: str, name: str, root_params: Dict[str, Any],
                     produced: Dict[str, Dict[str, int]],
                     produced_params: Dict[str, Dict[str, Any]],
                     contexts: List[metadata_store_pb2.Context]) -> TaskRun:
    task = ir.tasks(self.spec)[name]
    component = ir.component_of(self.spec, name)
    container = ir.executor_of(self.spec, name)['container']
    pod_dir = os.path.join(self.work_dir, 'pods', run_id, name)
    os.makedirs(os.path.join(pod_dir, 'tmp'), exist_ok=True)

    # Driver: inputs from upstream outputs (through MLMD), outputs provisioned.
    inputs = task.get('inputs', {})
    parameter_values = {
        key: self._localize_value(self._parameter_value(
            name, key, spec, root_params, produced_params))
        for key, spec in inputs.get('parameters', {}).items()}
    input_ids: Dict[str, int] = {}
    input_artifacts = {}
    definitions = component.get('inputDefinitions', {}).get('artifacts', {})
    for key, spec in inputs.get('artifacts', {}).items():
      source = spec.get('taskOutputArtifact')
      if source is None:
        raise ir.IncompatibleError(f'task {name}: unsupported artifact input {spec}')
      input_ids[key] = produced[source['producerTask']][source['outputArtifactKey']]
      input_artifacts[key] = {'artifacts': [self._runtime_artifact(
          input_ids[key], definitions[key]['artifactType'])]}
    outputs = {}
    for key, spec in component.get('outputDefinitions', {}).get('artifacts', {}).items():
      outputs[key] = {'artifacts': [{
          'uri': os.path.join(self.pipeline_root, run_id, name, key),
          'type': spec['artifactType'],
          'metadata': spec.get('metadata', {})}]}
    output_params = {
        key: {'outputFile': os.path.join(pod_dir, 'tmp', 'kfp', 'outputs', key)}
        for key in component.get('outputDefinitions', {}).get('parameters', {})}
    output_file = os.path.join(pod_dir, 'tmp', 'kfp_outputs', 'output_metadata.json')
    executor_input = {
        'inputs': {'parameterValues': parameter_values, 'artifacts': input_artifacts},
        'outputs': {'artifacts': outputs, 'parameters': output_params,
                    'outputFile': output_file}}
    # Round-trips through the proto: what the driver hands over is a valid
    # ExecutorInput, serialized as protojson would.
    message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
    executor_input = json_format.MessageToDict(message)
    for spec in output_params.values():
      os.makedirs(os.path.dirname(spec['outputFile']), exist_ok=True)
    # On object storage every prefix of an output URI already "exists" (and
    # TFX's own launcher creates these directories); a local directory has to.
    for listing in outputs.values():
      os.makedirs(listing['artifacts'][0]['uri'], exist_ok=True)

    # Launcher: placeholders, then the container command.
    placeholders = {'{{$}}': json.dumps(executor_input, separators=(',', ':'))}
    for key, listing in input_artifacts.items():
      uri = listing['artifacts'][0]['uri']
      placeholders["{{$.inputs.artifacts['%s'].uri}}" % key] = uri
      placeholders["{{$.inputs.artifacts['%s'].path}}" % key] = uri
    for key, listing in outputs.items():
      uri = listing['artifacts'][0]['uri']
      placeholders["{{$.outputs.artifacts['%s'].uri}}" % key] = uri
      placeholders["{{$.outputs.artifacts['%s'].path}}" % key] = uri
    for key, value in parameter_values.items():
      placeholders["{{$.inputs.parameters['%s']}}" % key] = _placeholder_text(value)
    for key, spec in output_params.items():
      placeholders["{{$.outputs.parameters['%s'].output_file}}" % key] = spec['outputFile']
    argv = list(container.get('command', [])) + list(container.get('args', []))
    for i, arg in enumerate(argv):
      for placeholder, value in placeholders.items():
        arg = arg.replace(placeholder, value)
      if '{{$' in arg:
        raise ir.IncompatibleError(
            f'task {name}: placeholder left unresolved in {arg[:200]!r}')
      argv[i] = arg
    if not argv:
      raise ir.IncompatibleError(f'task {name}: empty command (image ENTRYPOINT)')
    if argv[0] in ('python', 'python3'):
      argv[0] = self.python  # the image's interpreter: this project's
    env = dict(os.environ)
    env.update(self.image_env)
    for item in container.get('env', []):
      env[item['name']] = self.localize(item.get('value', ''))
    env['TMPDIR'] = os.path.join(pod_dir, 'tmp')

    log_path = os.path.join(pod_dir, 'log.txt')
    started = time.time()
    with open(log_path, 'w') as log:
      process = subprocess.run(argv, cwd=pod_dir, env=env, stdout=log,
                               stderr=subprocess.STDOUT, timeout=self.timeout,
                               check=False)
    finished = time.time()
    seconds = finished - started
    if process.returncode != 0:
      self._record(name, container.get('image', ''),
                   metadata_store_pb2.Execution.FAILED, input_ids, {}, contexts)
      with open(log_path, errors='replace') as f:
        tail = f.read()[-LOG_TAIL_CHARS:]
      raise TaskFailed(name, process.returncode, log_path, tail)

    # Launcher: executor output merged into the outputs, recorded in MLMD.
    executor_output: Dict[str, Any] = {}
    if os.path.exists(output_file):
      with open(output_file) as f:
        executor_output = json.load(f)
      json_format.ParseDict(executor_output, pipeline_spec_pb2.ExecutorOutput())
    recorded = {}
    for key, listing in outputs.items():
      artifact = dict(listing['artifacts'][0])
      artifact['metadata'] = dict(artifact.get('metadata', {}))
      reported = executor_output.get('artifacts', {}).get(key, {}).get('artifacts', [])
      if reported:
        if reported[0].get('uri'):
          artifact['uri'] = reported[0]['uri']
        artifact['metadata'].update(reported[0].get('metadata', {}))
      recorded[key] = artifact
    params_out = dict(executor_output.get('parameterValues', {}))
    for key, spec in output_params.items():
      if key not in params_out:
        with open(spec['outputFile']) as f:
          params_out[key] = f.read()
    execution_id, ids = self._record(
        name, container.get('image', ''), metadata_store_pb2.Execution.COMPLETE,
        input_ids, recorded, contexts)
    with self._lock:
      produced[name] = ids
      produced_params[name] = params_out
    for key, artifact_id in ids.items():
      recorded[key]['name'] = str(artifact_id)
    return TaskRun(name=name, state='COMPLETE', seconds=seconds, started=started,
                   finished=finished, argv=argv,
                   executor_input=executor_input, executor_output=executor_output,
                   outputs=recorded, output_parameters=params_out,
                   execution_id=execution_id, log_path=log_path)

  # --- the run ------------------------------------------------------------------
  def _root_parameters(self, given: Dict[str, Any]) -> Dict[str, Any]:
    definitions = self.spec['root'].get('inputDefinitions', {}).get('parameters', {})
    unknown = sorted(set(given) - set(definitions))
    if unknown:
      raise ValueError(f'unknown pipeline parameter(s) {unknown}; the pipeline '
                       f'takes {sorted(definitions)}')
    values = {}
    for key, definition in definitions.items():
      if key in given:
        value = given[key]
      elif 'defaultValue' in definition:
        value = definition['defaultValue']
      elif definition.get('isOptional'):
        continue
      else:
        raise ValueError(f'pipeline parameter {key} has no default; pass it')
      kind = definition.get('parameterType')
      if kind == 'NUMBER_INTEGER':
        value = int(value)
      elif kind == 'NUMBER_DOUBLE':
        value = float(value)
      elif kind == 'STRING':
        value = str(value)
      values[key] = value
    return values

  def run(self, parameters: Optional[Dict[str, Any]] = None,
          run_id: Optional[str] = None) -> RunResult:
    """Runs every task once its upstream tasks are done, up to `parallelism` at a time."""
    order = self.validate()
    run_id = run_id or uuid.uuid4().hex[:12]
    root_params = self._root_parameters(parameters or {})
    name = self.spec['pipelineInfo']['name']
    contexts = [self._context(PIPELINE_CONTEXT, name), self._context(RUN_CONTEXT, run_id)]
    produced: Dict[str, Dict[str, int]] = {}
    produced_params: Dict[str, Dict[str, Any]] = {}
    runs: Dict[str, TaskRun] = {}
    upstream = {n: ir.upstream_tasks(t) for n, t in ir.tasks(self.spec).items()}
    running: Dict[concurrent.futures.Future, str] = {}
    with concurrent.futures.ThreadPoolExecutor(self.parallelism) as pool:
      while len(runs) < len(order):
        for task_name in order:
          if (task_name not in runs and task_name not in running.values() and
              upstream[task_name] <= set(runs) and len(running) < self.parallelism):
            self._say(f'{task_name} started')
            running[pool.submit(self._run_container, run_id, task_name, root_params,
                                produced, produced_params, contexts)] = task_name
        done, _ = concurrent.futures.wait(
            running, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
          task_name = running.pop(future)
          try:
            runs[task_name] = future.result()
          except BaseException:
            # As in KFP: tasks already running finish, nothing new starts.
            concurrent.futures.wait(running)
            raise
          self._say(f'{task_name} COMPLETE in {runs[task_name].seconds:.1f} s '
                    f'({len(runs)}/{len(order)})')
    return RunResult(run_id=run_id, order=order, tasks=runs,
                     metadata_path=self.metadata_path)

  def _say(self, message: str) -> None:
    if self.echo:
      print(message, flush=True)


def _key_values(items: List[str], flag: str) -> Dict[str, str]:
  try:
    return ir.parse_assignments(items, flag)
  except ValueError as e:
    raise SystemExit(str(e)) from None


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('pipeline', help='compiled pipeline YAML (kubeflow_runner.py)')
  parser.add_argument('--pipeline-root', required=True, help='local pipeline root')
  parser.add_argument('--work-dir', help='pods and metadata (default: beside the root)')
  parser.add_argument('--map', action='append', default=[], metavar='REMOTE=LOCAL',
                      help='serve a remote prefix from a local directory (repeatable)')
  parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                      help='pipeline parameter (repeatable)')
  parser.add_argument('--dockerfile', help="use this Dockerfile's ENV for every task")
  args = parser.parse_args(argv)
  spec, _ = ir.load(args.pipeline)
  work_dir = args.work_dir or os.path.join(os.path.dirname(
      os.path.abspath(args.pipeline_root)), 'local-kfp')
  backend = LocalKfpBackend(
      spec, work_dir, args.pipeline_root, path_map=_key_values(args.map, '--map'),
      image_env=dockerfile_env(args.dockerfile) if args.dockerfile else None)
  try:
    result = backend.run(_key_values(args.param, '--param'))
  except (ir.IncompatibleError, TaskFailed, ValueError) as e:
    print(f'FAILED: {e}', file=sys.stderr)
    return 1
  print(f'run {result.run_id}: {len(result.order)} tasks complete; ML Metadata '
        f'in {result.metadata_path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
