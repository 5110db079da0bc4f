"""Writing our own records into ML Metadata: one rule for values, one writer.

TFX records its components itself; what happens outside a pipeline component
(live quality, a harvest, a rollout by command, a sign-off) is recorded here
as one execution with its events, in one transaction.

Python values become custom properties by one rule (`set_properties`):
  int -> int_value, float -> double_value (numpy's numbers alike), str (and anything else, str()'d)
  -> string_value;
  bool -> int_value 1/0: MLMD has no boolean, and TFX writes its own flags
    (`blessed`, `pushed`) as ints, which every reader compares with 1;
  None -> no property (an existing one is removed): absence is how MLMD says
    "unknown"; '' or 0 would read as a value.
"""

import dataclasses
import numbers
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from ml_metadata.proto import metadata_store_pb2 as mlmd

Artifact = mlmd.Artifact
Execution = mlmd.Execution


def set_properties(node, properties: Mapping[str, Any]) -> None:
  """Writes `properties` as custom properties of an artifact, execution or context."""
  for key, value in properties.items():
    if value is None:
      if key in node.custom_properties:
        del node.custom_properties[key]
    elif isinstance(value, (bool, numbers.Integral)):  # numpy's integers too
      node.custom_properties[key].int_value = int(value)
    elif isinstance(value, numbers.Real):
      node.custom_properties[key].double_value = float(value)
    else:
      node.custom_properties[key].string_value = str(value)


def artifact_type_id(store, name: str) -> int:
  return store.put_artifact_type(mlmd.ArtifactType(name=name))


def new_artifact(store, type_name: str, uri: str,
                 properties: Optional[Mapping[str, Any]] = None) -> Artifact:
  """An artifact not yet in the store (put by `record_execution`)."""
  artifact = Artifact(type_id=artifact_type_id(store, type_name), uri=uri, state=Artifact.LIVE)
  set_properties(artifact, properties or {})
  return artifact


@dataclasses.dataclass(frozen=True)
class Recorded:
  execution_id: int
  input_ids: List[int]
  output_ids: List[int]


def _event(kind: int, key: Optional[str]) -> mlmd.Event:
  event = mlmd.Event(type=kind)
  if key:
    event.path.steps.add().key = key
  return event


def record_execution(store, execution_type: str, *,
                     properties: Optional[Mapping[str, Any]] = None,
                     inputs: Sequence[Tuple[Artifact, Optional[str]]] = (),
                     outputs: Sequence[Tuple[Artifact, Optional[str]]] = (),
                     contexts: Sequence[mlmd.Context] = ()) -> Recorded:
  """One COMPLETE execution of `execution_type`, its INPUT and OUTPUT events
  (artifact, event key), in `contexts`, all written or none.

  An input already in the store is updated with whatever properties it was
  given; outputs are usually new (`new_artifact`).
  """
  execution = Execution(type_id=store.put_execution_type(mlmd.ExecutionType(
      name=execution_type)), last_known_state=Execution.COMPLETE)
  set_properties(execution, properties or {})
  events = ([(a, _event(mlmd.Event.INPUT, k)) for a, k in inputs] +
            [(a, _event(mlmd.Event.OUTPUT, k)) for a, k in outputs])
  execution_id, artifact_ids, _ = store.put_execution(execution, events, list(contexts))
  return Recorded(execution_id, list(artifact_ids[:len(inputs)]),
                  list(artifact_ids[len(inputs):]))


def artifacts_with_uri(store, type_name: str, uri: str) -> List[Artifact]:
  """Artifacts of `type_name` at `uri` (trailing slashes ignored), oldest first."""
  want = uri.rstrip('/')
  return sorted((a for a in store.get_artifacts_by_type(type_name)
                 if a.uri.rstrip('/') == want), key=lambda a: a.id)
