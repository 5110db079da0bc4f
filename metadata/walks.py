"""Lineage walks more than one layer asks: which data a model or a gate stands on.

  last_passed(store, below_span=None)   the latest span the data gate passed:
      its statistics, the Examples they were computed from, the span
  trained_on(store)                     the statistics and raw Examples behind
      the latest pushed model (Pusher <- Trainer <- Transform <- ExampleGen
      -> StatisticsGen)
  rollout_standing(store, model_id)     where the rollouts of a model's pushes
      left it (its latest telling RolloutDecision); may_be_baseline: whether
      that lets it be the Evaluator's baseline (pipeline/serving_baseline.py)

They take a raw MLMD store (what a TFX resolver strategy is handed); the
data walks return MLMD artifacts; callers wrap them in TFX types if they need to.
`latest_passed` and `input_examples_of(..., among=)` are the same choice over
artifacts already in hand (a resolver's input channels), TFX or MLMD ones.
"""

import dataclasses
from typing import Iterable, List, Optional, Sequence

from ml_metadata.proto import metadata_store_pb2

from metadata import type_names
from metadata import values

Artifact = metadata_store_pb2.Artifact


@dataclasses.dataclass(frozen=True)
class DataOf:
  """Statistics of one span and the Examples they describe (None if not found)."""
  statistics: Artifact
  examples: Optional[Artifact]

  @property
  def span(self) -> Optional[int]:
    for node in (self.statistics, self.examples):
      if node is not None and values.int_property(node, 'span') is not None:
        return values.int_property(node, 'span')
    return None


def _artifacts_by_type(store, type_name: str) -> List[Artifact]:
  try:
    return list(store.get_artifacts_by_type(type_name))
  except Exception:  # pylint: disable=broad-except
    return []  # the type was never registered: nothing of it was ever written


def producers(store, artifact_id: int) -> List[int]:
  return values.execution_ids(store.get_events_by_artifact_ids([artifact_id]),
                              values.OUTPUT_EVENTS)


def consumers(store, artifact_id: int) -> List[int]:
  return values.execution_ids(store.get_events_by_artifact_ids([artifact_id]),
                              values.INPUT_EVENTS)


def artifacts_of(store, execution_id: int, kinds, type_name: str) -> List[Artifact]:
  """The execution's input (kinds=INPUT_EVENTS) or output artifacts of one type."""
  ids = values.artifact_ids(store.get_events_by_execution_ids([execution_id]), kinds)
  if not ids:
    return []
  type_id = store.get_artifact_type(type_name).id
  return [a for a in store.get_artifacts_by_id(ids) if a.type_id == type_id]


def _proto(artifact) -> Artifact:
  """The MLMD artifact of a TFX artifact, or the MLMD artifact itself."""
  return getattr(artifact, 'mlmd_artifact', artifact)


def input_examples_of(store, statistics_id: int, among: Optional[Sequence] = None):
  """The Examples the execution that wrote `statistics_id` read.

  With `among` (e.g. a resolver's Examples channel): that one of them, else None.
  """
  by_id = {a.id: a for a in among} if among is not None else None
  for execution_id in producers(store, statistics_id):
    if by_id is not None:
      ids = values.artifact_ids(store.get_events_by_execution_ids([execution_id]))
      found = [by_id[i] for i in ids if i in by_id]
    else:
      found = artifacts_of(store, execution_id, values.INPUT_EVENTS, 'Examples')
    if found:
      return found[0]
  return None


def passed_ids(verdicts: Iterable) -> set:
  """Ids of the statistics these DataValidationVerdicts (TFX or MLMD) passed."""
  return {values.int_property(_proto(v), type_names.VERDICT_STATISTICS_ID)
          for v in verdicts if values.int_property(_proto(v), type_names.VERDICT_PASSED) == 1}


def latest_passed(statistics: Iterable, verdicts: Iterable,
                  below_span: Optional[int] = None):
  """Of `statistics` (TFX or MLMD), the latest of the highest span a verdict passed.

  Below `below_span` if given. Comparing with a span that was itself rejected
  would measure drift against bad data, so only passed spans count; among
  several runs of a span the latest statistics win.
  """
  accepted = passed_ids(verdicts)
  candidates = []
  for artifact in statistics:
    span = values.int_property(_proto(artifact), 'span')
    if artifact.id in accepted and (below_span is None or
                                    (span is not None and span < below_span)):
      candidates.append((span if span is not None else -1, artifact.id, artifact))
  return max(candidates, key=lambda c: c[:2])[2] if candidates else None


def passed_statistics_ids(store) -> set:
  """Ids of the ExampleStatistics a DataValidationVerdict in the store passed."""
  return passed_ids(_artifacts_by_type(store, type_names.DATA_VALIDATION_VERDICT))


def last_passed(store, below_span: Optional[int] = None) -> Optional[DataOf]:
  """The latest span the gate passed (below `below_span` if given), from the store."""
  ids = sorted(i for i in passed_statistics_ids(store) if i is not None)
  chosen = latest_passed(store.get_artifacts_by_id(ids) if ids else [],
                         _artifacts_by_type(store, type_names.DATA_VALIDATION_VERDICT),
                         below_span)
  if chosen is None:
    return None
  return DataOf(chosen, input_examples_of(store, chosen.id))


def _is_statistics_gen(store, execution_id: int) -> bool:
  [execution] = store.get_executions_by_id([execution_id])
  [kind] = store.get_execution_types_by_id([execution.type_id])
  # Transform also writes ExampleStatistics (of its own input and output).
  return kind.name.endswith('StatisticsGen')


def _statistics_of_raw(store, raw: Artifact) -> Optional[DataOf]:
  for stats_gen in consumers(store, raw.id):
    if not _is_statistics_gen(store, stats_gen):
      continue
    stats = artifacts_of(store, stats_gen, values.OUTPUT_EVENTS, 'ExampleStatistics')
    if stats:
      return DataOf(stats[-1], raw)
  return None


def _raw_examples_of_model(store, model: Artifact) -> List[Artifact]:
  raw = []
  for trainer in producers(store, model.id):
    for transformed in artifacts_of(store, trainer, values.INPUT_EVENTS, 'Examples'):
      for transform in producers(store, transformed.id):
        raw += artifacts_of(store, transform, values.INPUT_EVENTS, 'Examples')
  return raw


def trained_on(store) -> Optional[DataOf]:
  """The statistics and raw Examples behind the latest pushed model, by lineage."""
  pushed = [a for a in _artifacts_by_type(store, 'PushedModel')
            if values.int_property(a, 'pushed') == 1]
  for push in sorted(pushed, key=lambda a: -a.id):
    for pusher in producers(store, push.id):
      for model in artifacts_of(store, pusher, values.INPUT_EVENTS, 'Model'):
        for raw in _raw_examples_of_model(store, model):
          found = _statistics_of_raw(store, raw)
          if found is not None:
            return found
  return None


def latest_artifact(store, type_name: str, pipeline_name: Optional[str] = None
                    ) -> Optional[Artifact]:
  """The newest LIVE artifact of a type (of one pipeline if named), or None."""
  found = [a for a in _artifacts_by_type(store, type_name) if a.state == Artifact.LIVE]
  if pipeline_name:
    context = store.get_context_by_type_and_name('pipeline', pipeline_name)
    in_pipeline = ({a.id for a in store.get_artifacts_by_context(context.id)}
                   if context else set())
    found = [a for a in found if a.id in in_pipeline]
  return max(found, key=lambda a: (a.create_time_since_epoch, a.id)) if found else None


# Event keys along a model's way to serving: the Pusher reads `model` and
# writes `pushed_model`; a rollout (CanaryRollout, cli.rollout) reads that and
# writes `rollout_decision`; a sign-off reads the paused decision and writes
# its outcome under the same key. Keys rather than type names, because they
# read alike in the local layout and the KFP one (where TFX's types are
# `tfx.PushedModel` and so on).
PUSHER_MODEL_KEY = 'model'
PUSHED_MODEL_KEY = 'pushed_model'
ROLLOUT_DECISION_KEY = 'rollout_decision'
PUSHED_MODEL_TYPES = ('PushedModel', 'tfx.PushedModel')  # local, KFP
# Where a rollout may leave a model that keeps it from being a baseline; see
# pipeline/serving_baseline.py for the rule behind each decision value.
NOT_A_BASELINE = (type_names.ROLLED_BACK, type_names.AWAITING_SIGNOFF)


def _written_from(store, artifact_ids, input_key: str, output_key: str) -> List[int]:
  """Ids written under `output_key` by executions that read `artifact_ids` as `input_key`."""
  if not artifact_ids:
    return []
  readers = sorted({e.execution_id for e in store.get_events_by_artifact_ids(sorted(artifact_ids))
                    if e.type in values.INPUT_EVENTS and values.event_key(e) == input_key})
  if not readers:
    return []
  return sorted({e.artifact_id for e in store.get_events_by_execution_ids(readers)
                 if e.type in values.OUTPUT_EVENTS and values.event_key(e) == output_key})


def _pushes_of_the_same_files(store, push_ids: List[int]) -> List[int]:
  """`push_ids` and every push with the same model fingerprint.

  A retrained model identical to one pushed before is not pushed again
  (UniquePusher: duplicate_of_version), so what the rollout of the first
  push decided is what stands for it too.
  """
  prints = {values.property_value(p, type_names.MODEL_FINGERPRINT)
            for p in (store.get_artifacts_by_id(push_ids) if push_ids else [])} - {None, ''}
  if not prints:
    return push_ids
  same = {p.id for name in PUSHED_MODEL_TYPES for p in _artifacts_by_type(store, name)
          if values.property_value(p, type_names.MODEL_FINGERPRINT) in prints}
  return sorted(set(push_ids) | same)


def rollout_decisions_of(store, model_id: int) -> List[Artifact]:
  """The RolloutDecisions about any push of the model (or of the same model
  files), oldest (lowest id) first: the rollouts of those pushes and the
  sign-offs that settled them."""
  pushes = _pushes_of_the_same_files(
      store, _written_from(store, [model_id], PUSHER_MODEL_KEY, PUSHED_MODEL_KEY))
  found = set(_written_from(store, pushes, PUSHED_MODEL_KEY, ROLLOUT_DECISION_KEY))
  frontier = set(found)
  while frontier:  # a sign-off's outcome is a decision about the same push
    frontier = set(_written_from(store, frontier, ROLLOUT_DECISION_KEY,
                                 ROLLOUT_DECISION_KEY)) - found
    found |= frontier
  if not found:
    return []
  try:
    type_id = store.get_artifact_type(type_names.ROLLOUT_DECISION).id
  except Exception:  # pylint: disable=broad-except
    return []  # never registered: nothing written under that key is a decision
  return sorted((a for a in store.get_artifacts_by_id(sorted(found)) if a.type_id == type_id),
                key=lambda a: a.id)


def rollout_standing(store, model_id: int) -> Optional[str]:
  """The latest decision about the model that says where it stands, or None.

  `not_pushed` says nothing about the model (the Pusher did not push it, e.g.
  because the same model is already under the destination), so an earlier
  decision stands behind it. A paused decision that a sign-off settled
  counts as its outcome even where the outcome's own artifact is not linked.
  """
  for decision in reversed(rollout_decisions_of(store, model_id)):
    outcome = (values.property_value(decision, type_names.SIGNOFF_OUTCOME) or
               values.property_value(decision, type_names.DECISION))
    if outcome and outcome != type_names.NOT_PUSHED:
      return str(outcome)
  return None


def may_be_baseline(store, model_id: int) -> bool:
  """Whether no rollout refused the model or holds it unsettled (NOT_A_BASELINE)."""
  return rollout_standing(store, model_id) not in NOT_A_BASELINE
