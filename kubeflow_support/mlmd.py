"""ML Metadata on Kubeflow Pipelines: connecting, and finding a run's tasks.

On the cluster, lineage lives in the cluster's own ML Metadata service
(metadata-grpc-service, port 8080, in the `kubeflow` namespace), backed by the
installation's MySQL. The KFP launcher in each task pod records there; TFX's
metadata_connection_config plays no part. Clients reach it over gRPC, e.g.
through `kubectl -n kubeflow port-forward svc/metadata-grpc-service 8080:8080`:

  store = mlmd.open_store('grpc://localhost:8080')

The layout is KFP's, not LocalDagRunner's: a run is a context of type
system.PipelineRun named by the run ID (the pipeline: system.Pipeline); a task
is an execution of type system.ContainerExecution with a `task_name` custom
property; artifact types are the schema titles (tfx.Examples, tfx.Model, ...);
event paths carry the input/output keys, and artifact metadata (span,
split_names, blessed, ...) is in custom properties, numbers as doubles.
kubeflow_support/local_backend.py writes the same layout locally.
"""

import os
from typing import Dict, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from kubeflow_support import kfp_metadata
from metadata import connection

# The in-cluster address of KFP's metadata service (standalone and full
# Kubeflow) and the variable naming another, as the lookup tasks read them
# (components/baseline_lookup/executor.py; restated so that this module loads
# no TFX or TensorFlow; a test keeps them equal).
CLUSTER_ADDRESS = 'grpc://metadata-grpc-service.kubeflow:8080'
METADATA_URI_ENV = 'METADATA_URI'
RUN_CONTEXT = kfp_metadata.RUN_CONTEXT
PIPELINE_CONTEXT = kfp_metadata.PIPELINE_CONTEXT


def connection_config(target: str):
  """A connection config for grpc://HOST:PORT, mysql://... or a SQLite file (read-only)."""
  return connection.connection_config(target)


def open_store(target: Optional[str] = None) -> metadata_store.MetadataStore:
  """The store at `target`, else $METADATA_URI, else the in-cluster service."""
  return connection.open_store(target or os.environ.get(METADATA_URI_ENV) or CLUSTER_ADDRESS)


def run_tasks(store: metadata_store.MetadataStore,
              run_id: str) -> Dict[str, metadata_store_pb2.Execution]:
  """task name -> the latest execution of that task in the KFP run `run_id`."""
  context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
  if context is None:
    raise LookupError(f'no {RUN_CONTEXT} context named {run_id!r}')
  found: Dict[str, metadata_store_pb2.Execution] = {}
  for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
    name = execution.custom_properties.get('task_name')
    if name is not None and name.string_value:
      found[name.string_value] = execution
  return found


def artifacts_of(store: metadata_store.MetadataStore, execution_id: int,
                 event_type=metadata_store_pb2.Event.OUTPUT
                 ) -> Dict[str, metadata_store_pb2.Artifact]:
  """Input or output key -> artifact, for one execution."""
  events = [e for e in store.get_events_by_execution_ids([execution_id])
            if e.type == event_type]
  artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  return {e.path.steps[0].key: artifacts[e.artifact_id] for e in events if e.path.steps}


def metadata_value(artifact: metadata_store_pb2.Artifact, key: str):
  """A property or custom property as a Python value (None when absent)."""
  for props in (artifact.properties, artifact.custom_properties):
    if key in props:
      value = props[key]
      kind = value.WhichOneof('value')
      return getattr(value, kind) if kind != 'struct_value' else value.struct_value
  return None
