"""Typed reads of properties and events: the one "metadata value" helper.

MLMD keeps every property in a `Value` oneof; TFX wraps JSON-valued ones as a
struct {"__value__": "<json>"} and KFP stores numbers as doubles. These turn
them into plain Python values once, so no caller reads `.int_value` of a
property that might have been written as a string.
"""

import json
from typing import Any, Dict, Iterable, Optional

from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2

Artifact = metadata_store_pb2.Artifact
Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event

INPUT_EVENTS = (Event.INPUT, Event.DECLARED_INPUT)
OUTPUT_EVENTS = (Event.OUTPUT, Event.DECLARED_OUTPUT)
EXECUTION_STATES = {v: k for k, v in Execution.State.items()}
ARTIFACT_STATES = {v: k for k, v in Artifact.State.items()}


def value_of(value: metadata_store_pb2.Value) -> Any:
  kind = value.WhichOneof('value')
  if kind is None:
    return None
  if kind == 'struct_value':
    struct = json_format.MessageToDict(value.struct_value)
    if set(struct) == {'__value__'} and isinstance(struct['__value__'], str):
      try:
        return json.loads(struct['__value__'])
      except ValueError:
        return struct['__value__']
    return struct
  if kind == 'proto_value':
    return str(value.proto_value)
  return getattr(value, kind)


def properties_of(node) -> Dict[str, Any]:
  """Properties and custom properties of an artifact, execution or context."""
  found = {k: value_of(v) for k, v in node.properties.items()}
  found.update({k: value_of(v) for k, v in node.custom_properties.items()})
  return found


def property_value(node, key: str, default: Any = None) -> Any:
  """One property or custom property as a Python value (`default` when absent)."""
  for props in (node.properties, node.custom_properties):
    if key in props:
      found = value_of(props[key])
      return default if found is None else found
  return default


def int_property(node, key: str, default: Optional[int] = None) -> Optional[int]:
  """An integer property, also when written as a double (KFP) or a string."""
  found = property_value(node, key)
  try:
    return int(found) if found is not None and found != '' else default
  except (TypeError, ValueError):
    return default


def json_property(node, key: str) -> Any:
  """A property holding JSON (TFX's custom_config, our annotations), decoded; None if not JSON."""
  raw = property_value(node, key)
  if isinstance(raw, str):
    try:
      return json.loads(raw)
    except ValueError:
      return None
  return raw


def event_key(event: Event) -> str:
  """The input/output name of an event, e.g. 'baseline_model'."""
  for step in event.path.steps:
    if step.HasField('key'):
      return step.key
  return ''


def execution_ids(events: Iterable[Event], kinds=OUTPUT_EVENTS) -> list:
  return [e.execution_id for e in events if e.type in kinds]


def artifact_ids(events: Iterable[Event], kinds=INPUT_EVENTS) -> list:
  return [e.artifact_id for e in events if e.type in kinds]
