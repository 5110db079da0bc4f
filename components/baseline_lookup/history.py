"""The two baseline questions, asked of ML Metadata directly.

  previous_span(store, pipeline, span)  -> the statistics and examples of the
      latest span below `span` that the data gate passed
  baseline_model(store, pipeline)       -> the latest model the Evaluator
      blessed that no rollout refused

They give the answers TFX's resolvers give in a local run
(pipeline/previous_span.PreviousSpanStrategy,
pipeline/serving_baseline.ServingBaselineStrategy), found by lineage instead
of by ids stored in properties: a passed DataValidationVerdict's execution
read the span's `statistics` and `examples`; a blessed ModelBlessing's
execution read the `model`; the model's pushes lead to the RolloutDecisions
about it (metadata/walks.py `may_be_baseline`, the walk the local strategy
takes too, by event keys). That reads the same in both layouts a store may
have:

  local (TFX's launcher)            Kubeflow Pipelines (the KFP launcher)
  context type `pipeline`           context type `system.Pipeline`
  artifact type `Examples`          `tfx.Examples` (the schema title)
  properties, ints as ints          custom properties, numbers as doubles,
                                    `custom:span` where a property is named alike

and it needs no artifact id from inside a Kubeflow pod, where TFX's
entrypoint replaces ids by hashes of the artifact names.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2

from metadata import artifacts
from metadata import walks

PIPELINE_CONTEXT_TYPES = ('pipeline', 'system.Pipeline')
# TFX's own artifact types are named by TYPE_NAME locally and by schema title on KFP.
KFP_TITLE_PREFIX = 'tfx.'
# Event keys: what the gate and the Evaluator read.
STATISTICS_KEY = 'statistics'
EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
BLESSED = 'blessed'


@dataclasses.dataclass(frozen=True)
class Found:
  """An artifact of the store, with what a consumer needs of it."""
  id: int
  uri: str
  properties: Dict[str, Any]


def value(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
  """A property as Python, wherever this layout keeps it (None when absent)."""
  for props, name in ((artifact.properties, key), (artifact.custom_properties, key),
                      (artifact.custom_properties, 'custom:' + key)):
    if name in props:
      field = props[name].WhichOneof('value')
      if field is None:
        continue
      raw = getattr(props[name], field)
      return raw if field != 'struct_value' else _struct(raw)
  return None


def _struct(struct) -> Any:
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  decoded = json_format.MessageToDict(struct)
  # TFX keeps a JSON value as {"__value__": ...}.
  return decoded.get('__value__', decoded) if isinstance(decoded, dict) else decoded


def number(artifact: metadata_store_pb2.Artifact, key: str) -> Optional[float]:
  raw = value(artifact, key)
  try:
    return float(raw)
  except (TypeError, ValueError):
    return None


def _found(artifact: metadata_store_pb2.Artifact) -> Found:
  keys = set(artifact.properties) | {k.split(':', 1)[-1] for k in artifact.custom_properties}
  return Found(artifact.id, artifact.uri, {k: value(artifact, k) for k in sorted(keys)})


def _type_names(type_name: str) -> Tuple[str, ...]:
  """A type's name in both layouts: custom types keep theirs, TFX's gain `tfx.`."""
  if '.' in type_name:
    return (type_name,)
  return (type_name, KFP_TITLE_PREFIX + type_name)


def _pipeline_artifacts(store, pipeline_name: str, type_name: str
                        ) -> List[metadata_store_pb2.Artifact]:
  type_ids = {_type_id(store, name) for name in _type_names(type_name)} - {None}
  result = []
  for context_type in PIPELINE_CONTEXT_TYPES:
    context = store.get_context_by_type_and_name(context_type, pipeline_name)
    if context is not None:
      result += [a for a in store.get_artifacts_by_context(context.id)
                 if a.type_id in type_ids]
  return result


def _type_id(store, name: str) -> Optional[int]:
  try:
    return store.get_artifact_type(name).id
  except errors.NotFoundError:
    return None


def _inputs_of_producer(store, artifact_id: int) -> Dict[str, int]:
  """Input key -> artifact id, of the execution that output `artifact_id`."""
  Event = metadata_store_pb2.Event  # pylint: disable=invalid-name
  producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
               if e.type in (Event.OUTPUT, Event.DECLARED_OUTPUT)]
  inputs = {}
  for event in store.get_events_by_execution_ids(producers[:1]):
    if event.type in (Event.INPUT, Event.DECLARED_INPUT) and event.path.steps:
      inputs[event.path.steps[0].key] = event.artifact_id
  return inputs


def _by_id(store, ids) -> Dict[int, metadata_store_pb2.Artifact]:
  return {a.id: a for a in store.get_artifacts_by_id(sorted(set(ids)))}


def previous_span(store, pipeline_name: str, span: int
                  ) -> Optional[Tuple[Found, Found]]:
  """(statistics, examples) of the latest passed span below `span`; None if there is none.

  Among several passed runs of that span the latest statistics win.
  """
  verdicts = [v for v in _pipeline_artifacts(
      store, pipeline_name, artifacts.DataValidationVerdict.TYPE_NAME)
              if number(v, artifacts.VERDICT_PASSED) == 1]
  pairs = []
  for verdict in verdicts:
    read = _inputs_of_producer(store, verdict.id)
    if STATISTICS_KEY in read and EXAMPLES_KEY in read:
      pairs.append((read[STATISTICS_KEY], read[EXAMPLES_KEY]))
  known = _by_id(store, [i for pair in pairs for i in pair])
  candidates = []
  for statistics_id, examples_id in pairs:
    examples = known[examples_id]
    examples_span = number(examples, 'span')
    if examples_span is not None and examples_span < span:
      candidates.append(((examples_span, statistics_id), statistics_id, examples_id))
  if not candidates:
    return None
  _, statistics_id, examples_id = max(candidates)
  return _found(known[statistics_id]), _found(known[examples_id])


def baseline_model(store, pipeline_name: str) -> Optional[Found]:
  """The blessed model with the highest id (the latest) that no rollout refused
  or holds awaiting sign-off; None if there is none (the rule and its reasons:
  pipeline/serving_baseline.py)."""
  blessings = [b for b in _pipeline_artifacts(store, pipeline_name, 'ModelBlessing')
               if number(b, BLESSED) == 1]
  model_ids = {read[MODEL_KEY] for read in
               (_inputs_of_producer(store, b.id) for b in blessings) if MODEL_KEY in read}
  for model_id in sorted(model_ids, reverse=True):
    if walks.may_be_baseline(store, model_id):
      return _found(_by_id(store, [model_id])[model_id])
  return None
