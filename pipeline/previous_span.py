"""Resolver strategy: the statistics (and examples) of the previous good span.

Drift is measured between the span being processed and the one before it,
found in ML Metadata rather than at a hard-coded path. "The one before it" is
the latest span lower than the current one whose data passed the data gate
(a DataValidationVerdict with passed=1 names the statistics it validated):
comparing with a span that was itself rejected would measure drift against
bad data. Among several runs of that span the latest statistics win.

Use with tfx.dsl.Resolver:

  Resolver(strategy_class=PreviousSpanStrategy,
           statistics=statistics_gen.outputs['statistics'],    # this run's
           baseline_statistics=Channel(type=ExampleStatistics),  # history
           baseline_examples=Channel(type=Examples),             # history
           verdicts=Channel(type=DataValidationVerdict))         # history

Outputs under the same keys: `baseline_statistics` and `baseline_examples`
hold the chosen span's statistics and the examples they were computed from,
or nothing when there is no earlier good span (the first span, a backfill):
consumers must treat them as optional.
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

from ml_metadata.proto import metadata_store_pb2

from metadata import artifacts

CURRENT_KEY = 'statistics'
BASELINE_STATISTICS_KEY = 'baseline_statistics'
BASELINE_EXAMPLES_KEY = 'baseline_examples'
VERDICTS_KEY = 'verdicts'

# Custom properties of the gate's verdict that this strategy reads.
VERDICT_PASSED = artifacts.VERDICT_PASSED
VERDICT_STATISTICS_ID = artifacts.VERDICT_STATISTICS_ID


def _span(artifact: types.Artifact) -> Optional[int]:
  try:
    return int(artifact.span)
  except (AttributeError, KeyError, TypeError, ValueError):
    return None


def accepted_statistics_ids(verdicts: List[types.Artifact]) -> set:
  return {v.get_int_custom_property(VERDICT_STATISTICS_ID) for v in verdicts
          if v.get_int_custom_property(VERDICT_PASSED) == 1}


def choose_baseline(current: types.Artifact, history: List[types.Artifact],
                    accepted_ids: set) -> Optional[types.Artifact]:
  """The latest statistics of the highest accepted span below the current one."""
  span = _span(current)
  if span is None:
    return None
  candidates = [a for a in history
                if a.id != current.id and a.id in accepted_ids
                and _span(a) is not None and _span(a) < span]
  if not candidates:
    return None
  return max(candidates, key=lambda a: (_span(a), a.id))


def input_examples_of(store, statistics_id: int,
                      examples: List[types.Artifact]) -> Optional[types.Artifact]:
  """The Examples artifact the execution that produced `statistics_id` read."""
  by_id = {a.id: a for a in examples}
  outputs = [e for e in store.get_events_by_artifact_ids([statistics_id])
             if e.type == metadata_store_pb2.Event.OUTPUT]
  for event in outputs:
    for e in store.get_events_by_execution_ids([event.execution_id]):
      if e.type == metadata_store_pb2.Event.INPUT and e.artifact_id in by_id:
        return by_id[e.artifact_id]
  return None


class PreviousSpanStrategy(resolver.ResolverStrategy):
  """See the module docstring."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    current = input_dict.get(CURRENT_KEY) or []
    result = {key: [] for key in input_dict}
    result[CURRENT_KEY] = list(current)
    if len(current) != 1:
      return result
    baseline = choose_baseline(
        current[0], input_dict.get(BASELINE_STATISTICS_KEY) or [],
        accepted_statistics_ids(input_dict.get(VERDICTS_KEY) or []))
    if baseline is None:
      return result
    result[BASELINE_STATISTICS_KEY] = [baseline]
    if BASELINE_EXAMPLES_KEY in input_dict:
      examples = input_examples_of(store, baseline.id,
                                   input_dict[BASELINE_EXAMPLES_KEY] or [])
      result[BASELINE_EXAMPLES_KEY] = [examples] if examples else []
    return result
