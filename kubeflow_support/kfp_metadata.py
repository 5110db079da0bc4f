"""ML Metadata in the layout the KFP backend writes, for the local stand-in.

The KFP launcher records each task as an execution of type
system.ContainerExecution (custom property task_name) in the contexts
system.Pipeline (the pipeline name) and system.PipelineRun (the run ID); its
output artifacts are typed by their schema titles, with the executor output's
metadata as custom properties converted as below; events carry the input and
output keys. The KFP driver reads artifacts back as RuntimeArtifacts whose
name is the MLMD ID. kubeflow_support/mlmd.py reads the same layout.
"""

import threading
from typing import Any, Dict, List, Tuple

import yaml
from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2
from metadata import connection

PIPELINE_CONTEXT = 'system.Pipeline'
RUN_CONTEXT = 'system.PipelineRun'
CONTAINER_EXECUTION = 'system.ContainerExecution'


def to_mlmd_value(value: Any) -> metadata_store_pb2.Value:
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


def from_mlmd_value(value: metadata_store_pb2.Value) -> Any:
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
  return from_mlmd_value(to_mlmd_value(value))


def artifact_type_title(type_schema: Dict[str, Any]) -> str:
  if 'schemaTitle' in type_schema:
    return type_schema['schemaTitle']
  title = yaml.safe_load(type_schema.get('instanceSchema', '')) or {}
  if not title.get('title'):
    raise ValueError(f'artifact type without a title: {type_schema}')
  return title['title']


class KfpMetadata:
  """Records task executions and reads artifacts back, as the KFP launcher and driver do.

  Tasks run concurrently (as pods do) and the MLMD client is not thread-safe,
  so every call holds one lock.
  """

  def __init__(self, path: str):
    self.path = path
    self.store = connection.create_sqlite_store(path)
    self._lock = threading.RLock()

  def _type_id(self, kind: str, name: str) -> int:
    if kind == 'artifact':
      return self.store.put_artifact_type(metadata_store_pb2.ArtifactType(name=name))
    if kind == 'execution':
      return self.store.put_execution_type(metadata_store_pb2.ExecutionType(name=name))
    return self.store.put_context_type(metadata_store_pb2.ContextType(name=name))

  def context(self, type_name: str, name: str) -> metadata_store_pb2.Context:
    with self._lock:
      found = self.store.get_context_by_type_and_name(type_name, name)
      if found is not None:
        return found
      context = metadata_store_pb2.Context(
          type_id=self._type_id('context', type_name), name=name)
      [context.id] = self.store.put_contexts([context])
      return context

  def run_contexts(self, pipeline_name: str, run_id: str) -> List[metadata_store_pb2.Context]:
    return [self.context(PIPELINE_CONTEXT, pipeline_name), self.context(RUN_CONTEXT, run_id)]

  def runtime_artifact(self, artifact_id: int,
                       type_schema: Dict[str, Any]) -> Dict[str, Any]:
    """The RuntimeArtifact the KFP driver hands a consumer: name = MLMD ID."""
    with self._lock:
      [artifact] = self.store.get_artifacts_by_id([artifact_id])
    metadata = {}
    for props in (artifact.properties, artifact.custom_properties):
      for key, value in props.items():
        metadata[key] = from_mlmd_value(value)
    return {'name': str(artifact.id), 'uri': artifact.uri,
            'type': type_schema, 'metadata': metadata}

  def record(self, task_name: str, image: str, state: int, inputs: Dict[str, int],
             outputs: Dict[str, Dict[str, Any]],
             contexts: List[metadata_store_pb2.Context]) -> Tuple[int, Dict[str, int]]:
    """Records one task; returns (execution id, output key -> artifact id)."""
    with self._lock:
      execution = metadata_store_pb2.Execution(
          type_id=self._type_id('execution', CONTAINER_EXECUTION),
          last_known_state=state)
      for key, value in (('task_name', task_name), ('display_name', task_name),
                         ('image', image)):
        execution.custom_properties[key].string_value = value
      pairs = [self._input_event(key, artifact_id)
               for key, artifact_id in sorted(inputs.items())]
      output_keys = sorted(outputs)
      pairs += [self._output(key, outputs[key]) for key in output_keys]
      execution_id, artifact_ids, _ = self.store.put_execution(execution, pairs, contexts)
    return execution_id, dict(zip(output_keys, artifact_ids[len(inputs):]))

  def _input_event(self, key: str, artifact_id: int):
    [artifact] = self.store.get_artifacts_by_id([artifact_id])
    event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)
    event.path.steps.add().key = key
    return artifact, event

  def _output(self, key: str, runtime: Dict[str, Any]):
    artifact = metadata_store_pb2.Artifact(
        type_id=self._type_id('artifact', artifact_type_title(runtime['type'])),
        uri=runtime['uri'], state=metadata_store_pb2.Artifact.LIVE)
    for name, value in runtime.get('metadata', {}).items():
      artifact.custom_properties[name].CopyFrom(to_mlmd_value(value))
    artifact.custom_properties['display_name'].string_value = key
    event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
    event.path.steps.add().key = key
    return artifact, event
