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

from metadata import type_names
from metadata import walks

CURRENT_KEY = 'statistics'
BASELINE_STATISTICS_KEY = 'baseline_statistics'
BASELINE_EXAMPLES_KEY = 'baseline_examples'
VERDICTS_KEY = 'verdicts'

# Custom properties of the gate's verdict that this strategy reads.
VERDICT_PASSED = type_names.VERDICT_PASSED
VERDICT_STATISTICS_ID = type_names.VERDICT_STATISTICS_ID


def _span(artifact: types.Artifact) -> Optional[int]:
  try:
    return int(artifact.span)
  except (AttributeError, KeyError, TypeError, ValueError):
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
    span = _span(current[0])
    baseline = None if span is None else walks.latest_passed(
        input_dict.get(BASELINE_STATISTICS_KEY) or [], input_dict.get(VERDICTS_KEY) or [],
        below_span=span)
    if baseline is None:
      return result
    result[BASELINE_STATISTICS_KEY] = [baseline]
    if BASELINE_EXAMPLES_KEY in input_dict:
      examples = walks.input_examples_of(store, baseline.id,
                                         among=input_dict[BASELINE_EXAMPLES_KEY] or [])
      result[BASELINE_EXAMPLES_KEY] = [examples] if examples else []
    return result
