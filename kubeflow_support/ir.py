"""The compiled pipeline definition (KFP v2 IR), and the changes the
open-source Kubeflow Pipelines backend needs.

TFX's KubeflowV2DagRunner writes a PipelineSpec aimed at Vertex AI Pipelines.
Two constructs in it are Vertex-only. The open-source Kubeflow Pipelines (KFP)
backend, the one `kfp.Client(host=...)` submits to, rejects or ignores them:

* Resolver executors (`deploymentSpec.executors[*].resolver`): the
  LatestBlessedModelStrategy Resolver compiles into two of them, MLMD queries
  that Vertex evaluates. The KFP backend compiler accepts only container and
  importer executors and fails the run with "executor(label=...):
  non-container and non-importer executor not implemented"
  (kubeflow/pipelines backend/src/v2/compiler/visitor.go).
* Lifecycle hooks (`container.lifecycle.preCacheCheck`): FileBasedExampleGen
  runs its driver there. The driver resolves the input span and fingerprint and
  rewrites the split pattern (`span-{SPAN}/*.csv` -> `span-2/*.csv`) before the
  executor runs. The KFP driver builds the pod from `command` and `args` only
  (backend/src/v2/driver: initPodSpecPatch), so the hook never runs and the
  executor finds no file matching a literal `{SPAN}`.

Our own two resolvers never get here on that backend: kubeflow_support/
surgery.py replaces them with lookup tasks before compiling.
adapt_for_kfp() rewrites exactly those two constructs and leaves the rest as
TFX compiled it: any resolver task left goes (its consumers' inputs must be
optional, and reach them empty, as when a resolver finds nothing), inputs
from lookup tasks are passed empty when the lookup found nothing, and the
driver runs in the executor's pod, all through kubeflow_support/launch.py.
"""

import copy
import json
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import yaml

TFX_ENTRYPOINT = 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'
LAUNCH_MODULE = 'kubeflow_support.launch'
INPUTS_SPEC_FLAG = '--json_serialized_inputs_spec_args'
# What the open-source backend can run (visitor.go); everything else fails.
KFP_EXECUTOR_KINDS = ('container', 'importer')


class IncompatibleError(ValueError):
  """The definition uses something the target backend cannot execute."""


def load(path: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """Reads a compiled pipeline YAML: (PipelineSpec, PlatformSpec or {})."""
  with open(path) as f:
    docs = [d for d in yaml.safe_load_all(f) if d is not None]
  if not docs or 'root' not in docs[0]:
    raise ValueError(f'{path} is not a compiled KFP pipeline (no PipelineSpec root)')
  platform: Dict[str, Any] = {}
  for doc in docs[1:]:
    platform.update(doc)
  return docs[0], platform


def dump(path: str, spec: Dict[str, Any],
         platform: Optional[Dict[str, Any]] = None, header: str = '') -> None:
  """Writes the YAML layout kfp's compiler writes: PipelineSpec, then PlatformSpec."""
  docs = [spec] + ([platform] if platform else [])
  with open(path, 'w') as f:
    f.write(header)
    yaml.safe_dump_all(docs, f, sort_keys=True)


def parse_assignments(items: Iterable[str], flag: str) -> Dict[str, str]:
  """NAME=VALUE command-line items (run parameters, path maps) as a dict."""
  result = {}
  for item in items:
    key, sep, value = item.partition('=')
    if not sep or not key:
      raise ValueError(f'{flag} expects NAME=VALUE, got {item!r}')
    result[key] = value
  return result


def tasks(spec: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
  return spec['root']['dag']['tasks']


def component_of(spec: Dict[str, Any], task_name: str) -> Dict[str, Any]:
  ref = tasks(spec)[task_name]['componentRef']['name']
  return spec['components'][ref]


def executor_of(spec: Dict[str, Any], task_name: str) -> Dict[str, Any]:
  label = component_of(spec, task_name).get('executorLabel')
  if label is None:
    raise IncompatibleError(f'task {task_name} has no executor (a nested DAG?)')
  return spec['deploymentSpec']['executors'][label]


def executor_kind(executor: Dict[str, Any]) -> str:
  kinds = [k for k in ('container', 'importer', 'resolver', 'customJob')
           if k in executor]
  return kinds[0] if kinds else ','.join(sorted(executor))


def upstream_tasks(task: Dict[str, Any]) -> Set[str]:
  """Every task this one waits for: declared dependencies and data producers."""
  found = set(task.get('dependentTasks', []))
  inputs = task.get('inputs', {})
  for spec in inputs.get('artifacts', {}).values():
    if 'taskOutputArtifact' in spec:
      found.add(spec['taskOutputArtifact']['producerTask'])
  for spec in inputs.get('parameters', {}).values():
    if 'taskOutputParameter' in spec:
      found.add(spec['taskOutputParameter']['producerTask'])
  return found


def topological_order(spec: Dict[str, Any]) -> List[str]:
  """Task names, producers before consumers; ties broken by name (stable runs)."""
  dag = tasks(spec)
  waiting = {name: upstream_tasks(task) for name, task in dag.items()}
  for name, deps in waiting.items():
    unknown = deps - set(dag)
    if unknown:
      raise ValueError(f'task {name} depends on unknown task(s) {sorted(unknown)}')
  order: List[str] = []
  while waiting:
    ready = sorted(n for n, deps in waiting.items() if not deps - set(order))
    if not ready:
      raise ValueError(f'the DAG has a cycle among {sorted(waiting)}')
    order.append(ready[0])
    del waiting[ready[0]]
  return order


def kfp_incompatibilities(spec: Dict[str, Any]) -> List[str]:
  """Why the open-source KFP backend would not run this definition (empty: it would)."""
  problems = []
  for name in sorted(tasks(spec)):
    executor = executor_of(spec, name)
    kind = executor_kind(executor)
    if kind not in KFP_EXECUTOR_KINDS:
      problems.append(
          f'task {name}: a {kind} executor; the KFP backend runs only container '
          f'and importer executors ("non-container and non-importer executor '
          f'not implemented")')
    elif kind == 'container' and executor['container'].get('lifecycle'):
      problems.append(
          f'task {name}: a lifecycle hook ({", ".join(executor["container"]["lifecycle"])}); '
          f'the KFP backend never runs it')
  return problems


def _python_module(command: List[str], where: str) -> str:
  if len(command) == 3 and command[0] in ('python', 'python3') and command[1] == '-m':
    return command[2]
  raise IncompatibleError(f'{where}: expected `python -m <module>`, got {command}')


def _drop_from_inputs_spec_arg(args: List[str], key: str) -> None:
  """Keeps the inputs spec TFX passes its entrypoint in step with the task."""
  if INPUTS_SPEC_FLAG not in args:
    return
  i = args.index(INPUTS_SPEC_FLAG) + 1
  inputs_spec = json.loads(args[i])
  inputs_spec.get('artifacts', {}).pop(key, None)
  if 'artifacts' in inputs_spec and not inputs_spec['artifacts']:
    del inputs_spec['artifacts']
  args[i] = json.dumps(inputs_spec, indent=2, sort_keys=True)


def _remove_resolvers(spec: Dict[str, Any], optional_inputs: Set[Tuple[str, str]]
                      ) -> Tuple[List[str], List[Tuple[str, str]]]:
  """Deletes resolver tasks; returns (notes, the (task, input) pairs they fed)."""
  dag = tasks(spec)
  removed = {n for n in dag if executor_kind(executor_of(spec, n)) == 'resolver'}
  notes, dropped = [], []
  for name, task in dag.items():
    if name in removed:
      continue
    artifacts = task.get('inputs', {}).get('artifacts', {})
    for key in sorted(artifacts):
      producer = artifacts[key].get('taskOutputArtifact', {}).get('producerTask')
      if producer not in removed:
        continue
      if (name, key) not in optional_inputs:
        raise IncompatibleError(
            f'task {name} needs input {key!r} from the resolver task {producer}, '
            f'which the open-source KFP backend cannot run, and the input is '
            f'not optional')
      del artifacts[key]
      component = component_of(spec, name)
      component['inputDefinitions']['artifacts'].pop(key, None)
      executor = executor_of(spec, name)
      if 'container' in executor:
        _drop_from_inputs_spec_arg(executor['container'].get('args', []), key)
      dropped.append((name, key))
      notes.append(f'{name}.{key} (from {producer}) is always empty: resolver '
                   f'executors run on Vertex AI only')
    if 'dependentTasks' in task:
      task['dependentTasks'] = [d for d in task['dependentTasks'] if d not in removed]
  for name in sorted(removed):
    component_name = dag[name]['componentRef']['name']
    label = spec['components'][component_name]['executorLabel']
    del dag[name]
    del spec['components'][component_name]
    del spec['deploymentSpec']['executors'][label]
  return notes, dropped


def _fold_pre_cache_checks(spec: Dict[str, Any], enable_cache: bool
                           ) -> Tuple[List[str], Dict[str, str]]:
  """Removes lifecycle hooks; returns (notes, task -> driver module to run first)."""
  notes, drivers = [], {}
  for name in sorted(tasks(spec)):
    container = executor_of(spec, name).get('container')
    hook = (container or {}).get('lifecycle', {}).get('preCacheCheck')
    if not hook:
      continue
    driver = _python_module(hook.get('command', []), f'{name} preCacheCheck')
    args = container.get('args', [])
    missing = [a for a in hook.get('args', []) if a not in args]
    if missing:
      # The driver is handed the executor's arguments; that is only
      # equivalent when the hook's arguments are among them.
      raise IncompatibleError(
          f'{name}: preCacheCheck arguments {missing} are not among the '
          f'executor arguments, so the driver cannot run in the executor pod')
    del container['lifecycle']
    drivers[name] = driver
    if not enable_cache:
      # KFP's cache key is computed before the pod starts, from the task's
      # parameters only: new files under the same input_base would hit the
      # cache and the new span would never be read.
      tasks(spec)[name]['cachingOptions'] = {'enableCache': False}
    notes.append(f'{name}: its preCacheCheck driver ({driver}) runs in the '
                 f'executor pod via {LAUNCH_MODULE}'
                 + ('' if enable_cache else '; task caching is off'))
  return notes, drivers


def _launch(spec: Dict[str, Any], drivers: Dict[str, str],
            empty_inputs: Iterable[Tuple[str, str]],
            lookup_inputs: Iterable[Tuple[str, str]] = ()) -> None:
  """Puts kubeflow_support.launch in front of the entrypoint of tasks that need it."""
  flags: Dict[str, List[str]] = {}
  for flag, pairs in (('--empty-input', empty_inputs), ('--lookup-input', lookup_inputs)):
    for name, key in sorted(set(pairs)):
      flags.setdefault(name, []).extend([flag, key])
  for name in sorted(set(drivers) | set(flags)):
    container = executor_of(spec, name).get('container')
    if container is None:
      raise IncompatibleError(f'task {name} is not a container task')
    entrypoint = _python_module(container.get('command', []), f'{name} command')
    command = ['python', '-m', LAUNCH_MODULE]
    if name in drivers:
      command += ['--driver', drivers[name]]
    container['command'] = command + flags.get(name, []) + [
        '--executor', entrypoint, '--']


def with_empty_inputs(spec: Dict[str, Any],
                      empty_inputs: Iterable[Tuple[str, str]]) -> Dict[str, Any]:
  """A copy in which those (task, input) pairs reach the executor as empty lists."""
  spec = copy.deepcopy(spec)
  _launch(spec, {}, empty_inputs)
  return spec


def never_cache(spec: Dict[str, Any], task_names: Iterable[str]) -> None:
  """Turns KFP's cache off for tasks whose answer is not a function of their inputs.

  KFP keys its cache on a task's inputs and parameters; a lookup's answer
  depends on what ML Metadata holds when it runs.
  """
  for name in task_names:
    tasks(spec)[name]['cachingOptions'] = {'enableCache': False}


def adapt_for_kfp(spec: Dict[str, Any],
                  optional_inputs: Iterable[Tuple[str, str]] = (),
                  empty_inputs: Iterable[Tuple[str, str]] = (),
                  lookup_inputs: Iterable[Tuple[str, str]] = (),
                  cache_pre_cache_check_tasks: bool = False
                  ) -> Tuple[Dict[str, Any], List[str]]:
  """Returns (a copy runnable by the open-source KFP backend, what changed).

  optional_inputs: (task, input key) pairs the consumer can run without; only
  those may lose their resolver producer. empty_inputs: pairs already taken
  out before compiling, also to be passed empty. lookup_inputs: pairs fed by
  a lookup task (components/baseline_lookup), passed empty when it found
  nothing. cache_pre_cache_check_tasks:
  keep KFP caching on for ExampleGen-like tasks, safe only when their input set
  is fixed by parameters (a pinned span).
  """
  spec = copy.deepcopy(spec)
  notes, dropped = _remove_resolvers(spec, set(optional_inputs))
  hook_notes, drivers = _fold_pre_cache_checks(spec, cache_pre_cache_check_tasks)
  _launch(spec, drivers, list(empty_inputs) + dropped, lookup_inputs)
  problems = kfp_incompatibilities(spec)
  if problems:
    raise IncompatibleError('; '.join(problems))
  topological_order(spec)  # still a DAG, every dependency still exists
  return spec, notes + hook_notes
