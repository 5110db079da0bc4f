"""What a pipeline run did, read back from ML Metadata (not from log lines).

Per component: its state (COMPLETE, CACHED, FAILED) and wall time (execution
create -> last update, as ../shared/STACK.md measures the reference); the
run's key artifacts: evaluation, blessing, pushed model.
"""

import dataclasses
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from metadata import connection

STATE_NAMES = {
    v: k for k, v in metadata_store_pb2.Execution.State.items()}

# MLMD moves last_update_time on every later update of an execution (e.g. the
# code version provenance/record.py writes after a run); the original end
# time is kept in this custom property first.
FINISHED_MS_PROPERTY = 'tfx_finished_ms'


@dataclasses.dataclass
class ComponentRun:
  node_id: str
  state: str
  seconds: float
  execution_id: int


@dataclasses.dataclass
class RunSummary:
  pipeline_name: str
  run_id: str
  components: List[ComponentRun]
  artifacts: Dict[str, List[metadata_store_pb2.Artifact]]
  metadata_path: str

  def component(self, node_id: str) -> Optional[ComponentRun]:
    return next((c for c in self.components if c.node_id == node_id), None)

  def artifact(self, type_name: str) -> Optional[metadata_store_pb2.Artifact]:
    found = self.artifacts.get(type_name) or []
    return found[-1] if found else None

  @property
  def blessed(self) -> Optional[bool]:
    blessing = self.artifact('ModelBlessing')
    if blessing is None:
      return None
    return bool(blessing.custom_properties['blessed'].int_value)

  @property
  def pushed_destination(self) -> Optional[str]:
    pushed = self.artifact('PushedModel')
    if pushed is None or not pushed.custom_properties['pushed'].int_value:
      return None
    return pushed.custom_properties['pushed_destination'].string_value


def finished_ms(execution: metadata_store_pb2.Execution) -> int:
  """When the execution ended (ms since the epoch), despite later updates."""
  recorded = execution.custom_properties.get(FINISHED_MS_PROPERTY)
  if recorded is not None and recorded.int_value:
    return recorded.int_value
  return execution.last_update_time_since_epoch


def _node_id(store, execution_id: int, pipeline_name: str) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    if context.type == 'node' or store.get_context_types_by_id(
        [context.type_id])[0].name == 'node':
      return context.name[len(pipeline_name) + 1:]
  return '?'


def summarize(metadata_path: str, pipeline_name: str,
              run_id: Optional[str] = None) -> RunSummary:
  """The latest run of `pipeline_name` (or `run_id`) as recorded in MLMD."""
  store = connection.open_store(metadata_path)
  runs = [c for c in store.get_contexts_by_type('pipeline_run')
          if belongs_to(store, c, pipeline_name)]
  if not runs:
    raise LookupError(f'no run of pipeline {pipeline_name!r} in {metadata_path}')
  run = (next(c for c in runs if c.name == run_id) if run_id else
         max(runs, key=lambda c: (c.create_time_since_epoch, c.id)))

  components = []
  executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
  for execution in executions:
    seconds = (finished_ms(execution) - execution.create_time_since_epoch) / 1000.0
    components.append(ComponentRun(
        node_id=_node_id(store, execution.id, pipeline_name),
        state=STATE_NAMES.get(execution.last_known_state, '?'),
        seconds=seconds,
        execution_id=execution.id))

  artifacts: Dict[str, List[metadata_store_pb2.Artifact]] = {}
  type_names = {t.id: t.name for t in store.get_artifact_types()}
  for artifact in sorted(store.get_artifacts_by_context(run.id), key=lambda a: a.id):
    artifacts.setdefault(type_names[artifact.type_id], []).append(artifact)
  return RunSummary(pipeline_name, run.name, components, artifacts, metadata_path)


def belongs_to(store, run_context, pipeline_name: str) -> bool:
  parents = store.get_parent_contexts_by_context(run_context.id)
  if parents:
    return any(p.name == pipeline_name for p in parents)
  # Older MLMD layouts do not link runs to the pipeline context: fall back to
  # the run's executions also being attached to the pipeline context.
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    return False
  in_pipeline = {e.id for e in store.get_executions_by_context(pipeline.id)}
  return any(e.id in in_pipeline for e in store.get_executions_by_context(run_context.id))


def format_summary(summary: RunSummary, wall_seconds: Optional[float] = None) -> str:
  lines = [f'Pipeline {summary.pipeline_name}, run {summary.run_id}']
  for c in summary.components:
    lines.append(f'  {c.node_id:<32} {c.state:<9} {c.seconds:7.1f} s')
  if wall_seconds is not None:
    lines.append(f'  {"whole run (wall)":<32} {"":<9} {wall_seconds:7.1f} s')
  evaluation = summary.artifact('ModelEvaluation')
  blessed = summary.blessed
  lines += [
      '',
      f'  metadata store : {summary.metadata_path}',
      f'  evaluation     : {evaluation.uri if evaluation else "(none)"}',
      f'  blessed        : {"yes" if blessed else "no" if blessed is not None else "(not evaluated)"}',
      f'  pushed model   : {summary.pushed_destination or "(not pushed)"}',
  ]
  return '\n'.join(lines)
