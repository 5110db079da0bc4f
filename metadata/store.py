"""A thin, cached view of one ML Metadata store, shared by the provenance code.

Every query is a batch call of the MLMD API (no SQL), so the same code works
on the local SQLite store, on a MySQL-backed one and over gRPC (Kubeflow).
Opening a store: metadata/connection.py; reading property values and
events: metadata/values.py.
"""

from typing import Dict, Iterable, List, Optional

from ml_metadata import metadata_store

from metadata import connection
from metadata import run_summary
from metadata import values

Artifact = values.Artifact
Execution = values.Execution
Event = values.Event


class ProvenanceError(LookupError):
  """A lineage question that has no answer; the message says why and what to do."""


class Store:
  """Read access with per-id caches; one instance per question asked."""

  def __init__(self, store: metadata_store.MetadataStore, metadata_path: str = ''):
    self.store = store
    self.metadata_path = metadata_path
    self.artifact_types = {t.id: t.name for t in store.get_artifact_types()}
    self.execution_types = {t.id: t.name for t in store.get_execution_types()}
    self.context_types = {t.id: t.name for t in store.get_context_types()}
    self._artifacts: Dict[int, Artifact] = {}
    self._executions: Dict[int, Execution] = {}
    self._artifact_events: Dict[int, List[Event]] = {}
    self._execution_events: Dict[int, List[Event]] = {}
    self._execution_contexts: Dict[int, list] = {}
    self._artifact_contexts: Dict[int, list] = {}

  @classmethod
  def open(cls, metadata_path: str) -> 'Store':
    try:
      return cls(connection.open_store(metadata_path), metadata_path)
    except connection.StoreNotFound as e:
      raise ProvenanceError(str(e)) from e

  def is_empty(self) -> bool:
    return not self.store.get_executions(
        list_options=metadata_store.ListOptions(limit=1))

  # --- nodes ---------------------------------------------------------------
  def artifacts(self, ids: Iterable[int]) -> List[Artifact]:
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in self._artifacts]
    if missing:
      for artifact in self.store.get_artifacts_by_id(missing):
        self._artifacts[artifact.id] = artifact
    return [self._artifacts[i] for i in ids if i in self._artifacts]

  def artifact(self, artifact_id: int) -> Artifact:
    found = self.artifacts([artifact_id])
    if not found:
      raise ProvenanceError(
          f'no artifact with id {artifact_id} in {self.metadata_path or "the store"}')
    return found[0]

  def executions(self, ids: Iterable[int]) -> List[Execution]:
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in self._executions]
    if missing:
      for execution in self.store.get_executions_by_id(missing):
        self._executions[execution.id] = execution
    return [self._executions[i] for i in ids if i in self._executions]

  def artifacts_of_type(self, type_name: str) -> List[Artifact]:
    found = self.store.get_artifacts_by_type(type_name)
    for artifact in found:
      self._artifacts.setdefault(artifact.id, artifact)
    return sorted(found, key=lambda a: a.id)

  def type_of(self, node) -> str:
    if isinstance(node, Artifact):
      return self.artifact_types.get(node.type_id, '?')
    return self.execution_types.get(node.type_id, '?')

  # --- edges ---------------------------------------------------------------
  def events_of_artifacts(self, ids: Iterable[int]) -> List[Event]:
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in self._artifact_events]
    if missing:
      for i in missing:
        self._artifact_events[i] = []
      for event in self.store.get_events_by_artifact_ids(missing):
        self._artifact_events[event.artifact_id].append(event)
    return [e for i in ids for e in self._artifact_events[i]]

  def events_of_executions(self, ids: Iterable[int]) -> List[Event]:
    ids = list(dict.fromkeys(ids))
    missing = [i for i in ids if i not in self._execution_events]
    if missing:
      for i in missing:
        self._execution_events[i] = []
      for event in self.store.get_events_by_execution_ids(missing):
        self._execution_events[event.execution_id].append(event)
    return [e for i in ids for e in self._execution_events[i]]

  def producer(self, artifact_id: int) -> Optional[Execution]:
    """The execution that created the artifact.

    A cached execution, and a Resolver handing the artifact on, also record
    OUTPUT events to it; the first one is the execution that wrote it.
    """
    outputs = [e for e in self.events_of_artifacts([artifact_id])
               if e.type in values.OUTPUT_EVENTS]
    if not outputs:
      return None
    first = min(outputs, key=lambda e: (e.milliseconds_since_epoch, e.execution_id))
    found = self.executions([first.execution_id])
    return found[0] if found else None

  def inputs(self, execution_id: int) -> List[Event]:
    return [e for e in self.events_of_executions([execution_id])
            if e.type in values.INPUT_EVENTS]

  def outputs(self, execution_id: int) -> List[Event]:
    return [e for e in self.events_of_executions([execution_id])
            if e.type in values.OUTPUT_EVENTS]

  # --- contexts ------------------------------------------------------------
  def _contexts_of_execution(self, execution_id: int) -> list:
    if execution_id not in self._execution_contexts:
      self._execution_contexts[execution_id] = list(
          self.store.get_contexts_by_execution(execution_id))
    return self._execution_contexts[execution_id]

  def _contexts_of_artifact(self, artifact_id: int) -> list:
    if artifact_id not in self._artifact_contexts:
      self._artifact_contexts[artifact_id] = list(
          self.store.get_contexts_by_artifact(artifact_id))
    return self._artifact_contexts[artifact_id]

  def runs_of_execution(self, execution_id: int) -> List[str]:
    return sorted(c.name for c in self._contexts_of_execution(execution_id)
                  if self.context_types.get(c.type_id) == 'pipeline_run')

  def runs_of_artifact(self, artifact_id: int) -> List[str]:
    return sorted(c.name for c in self._contexts_of_artifact(artifact_id)
                  if self.context_types.get(c.type_id) == 'pipeline_run')

  def node_id(self, execution: Execution) -> str:
    """The pipeline node (e.g. 'Trainer'), else the execution type's last part."""
    contexts = self._contexts_of_execution(execution.id)
    pipelines = {c.name for c in contexts
                 if self.context_types.get(c.type_id) == 'pipeline'}
    for context in contexts:
      if self.context_types.get(context.type_id) == 'node':
        for pipeline in pipelines:
          if context.name.startswith(pipeline + '.'):
            return context.name[len(pipeline) + 1:]
        return context.name
    return self.type_of(execution).rsplit('.', 1)[-1]

  def pipeline_runs(self, pipeline_name: Optional[str] = None):
    """Every pipeline_run context (of one pipeline if named), oldest first."""
    runs = self.store.get_contexts_by_type('pipeline_run')
    if pipeline_name:
      runs = [r for r in runs if run_summary.belongs_to(self.store, r, pipeline_name)]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))

  def pipeline_names(self) -> List[str]:
    return sorted(c.name for c in self.store.get_contexts_by_type('pipeline'))
