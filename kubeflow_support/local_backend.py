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
  metadata-grpc-service, which tasks that       $METADATA_URI in every pod names the same
    query ML Metadata themselves (the lookups     local store, read through the same client
    in components/baseline_lookup) reach          code (metadata.store.open_store)

Not emulated, and refused rather than guessed: resolver executors and
lifecycle hooks (the KFP backend cannot run them either: kubeflow_support/ir.py),
importers, trigger conditions, loops and nested DAGs. KFP's cache, retries and
pod resources are not emulated: every task executes once.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from components.baseline_lookup import executor as baseline_lookup
from kubeflow_support import ir
from kubeflow_support import kfp_metadata
from kubeflow_support import local_pod

LOG_TAIL_CHARS = 6000
# The image's PATH points at its own interpreter, which `python` stands for
# here already (LocalKfpBackend.python).
IMAGE_ENV_IGNORED = ('PATH',)
# Read by the tasks that query ML Metadata themselves (components/baseline_lookup):
# the cluster's metadata service there, this run's SQLite store here.
METADATA_URI_ENV = baseline_lookup.METADATA_URI_ENV


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
    os.makedirs(os.path.dirname(self.metadata_path), exist_ok=True)
    self.metadata = kfp_metadata.KfpMetadata(self.metadata_path)
    self.store = self.metadata.store

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

  # --- one task: driver, pod, launcher ---------------------------------------
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

  def _input_artifacts(self, name: str, produced: Dict[str, Dict[str, int]]):
    """(input key -> MLMD id, input key -> artifact list), read back from MLMD."""
    definitions = ir.component_of(self.spec, name).get(
        'inputDefinitions', {}).get('artifacts', {})
    ids, listings = {}, {}
    for key, spec in ir.tasks(self.spec)[name].get('inputs', {}).get('artifacts', {}).items():
      source = spec.get('taskOutputArtifact')
      if source is None:
        raise ir.IncompatibleError(f'task {name}: unsupported artifact input {spec}')
      ids[key] = produced[source['producerTask']][source['outputArtifactKey']]
      listings[key] = {'artifacts': [self.metadata.runtime_artifact(
          ids[key], definitions[key]['artifactType'])]}
    return ids, listings

  def _env(self, container: Dict[str, Any], pod_dir: str) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(self.image_env)
    for item in container.get('env', []):
      env[item['name']] = self.localize(item.get('value', ''))
    env['TMPDIR'] = os.path.join(pod_dir, 'tmp')
    env[METADATA_URI_ENV] = self.metadata_path
    return env

  def _execute(self, name: str, argv: List[str], env: Dict[str, str], pod_dir: str):
    """Runs the pod's process; returns (exit code, started, finished, log path)."""
    if argv[0] in ('python', 'python3'):
      argv[0] = self.python  # the image's interpreter: this project's
    log_path = os.path.join(pod_dir, 'log.txt')
    started = time.time()
    with open(log_path, 'w') as log:
      process = subprocess.run(argv, cwd=pod_dir, env=env, stdout=log,
                               stderr=subprocess.STDOUT, timeout=self.timeout,
                               check=False)
    return process.returncode, started, time.time(), log_path

  def _run_container(self, run_id: str, name: str, root_params: Dict[str, Any],
                     produced: Dict[str, Dict[str, int]],
                     produced_params: Dict[str, Dict[str, Any]],
                     contexts: List[metadata_store_pb2.Context]) -> TaskRun:
    container = ir.executor_of(self.spec, name)['container']
    pod_dir = os.path.join(self.work_dir, 'pods', run_id, name)
    os.makedirs(os.path.join(pod_dir, 'tmp'), exist_ok=True)
    parameter_values = {
        key: self._localize_value(self._parameter_value(
            name, key, spec, root_params, produced_params))
        for key, spec in ir.tasks(self.spec)[name].get('inputs', {}).get(
            'parameters', {}).items()}
    input_ids, input_artifacts = self._input_artifacts(name, produced)
    pod = local_pod.pod_input(
        ir.component_of(self.spec, name), pod_dir,
        os.path.join(self.pipeline_root, run_id, name), parameter_values, input_artifacts)
    local_pod.provision(pod)
    argv = local_pod.command_line(name, container, pod, parameter_values)
    code, started, finished, log_path = self._execute(
        name, argv, self._env(container, pod_dir), pod_dir)
    image = container.get('image', '')
    if code != 0:
      self.metadata.record(name, image, metadata_store_pb2.Execution.FAILED,
                           input_ids, {}, contexts)
      with open(log_path, errors='replace') as f:
        raise TaskFailed(name, code, log_path, f.read()[-LOG_TAIL_CHARS:])
    executor_output = local_pod.read_executor_output(pod)
    recorded = local_pod.merged_outputs(pod, executor_output)
    params_out = local_pod.output_parameters(pod, executor_output)
    execution_id, ids = self.metadata.record(
        name, image, metadata_store_pb2.Execution.COMPLETE, input_ids, recorded, contexts)
    produced[name] = ids
    produced_params[name] = params_out
    for key, artifact_id in ids.items():
      recorded[key]['name'] = str(artifact_id)
    return TaskRun(name=name, state='COMPLETE', seconds=finished - started,
                   started=started, finished=finished, argv=argv,
                   executor_input=pod.executor_input, executor_output=executor_output,
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
      convert = {'NUMBER_INTEGER': int, 'NUMBER_DOUBLE': float, 'STRING': str}.get(kind)
      values[key] = convert(value) if convert else value
    return values

  def run(self, parameters: Optional[Dict[str, Any]] = None,
          run_id: Optional[str] = None) -> RunResult:
    """Runs every task once its upstream tasks are done, up to `parallelism` at a time."""
    order = self.validate()
    run_id = run_id or uuid.uuid4().hex[:12]
    root_params = self._root_parameters(parameters or {})
    contexts = self.metadata.run_contexts(self.spec['pipelineInfo']['name'], run_id)
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
      image_env=local_pod.dockerfile_env(args.dockerfile) if args.dockerfile else None)
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
