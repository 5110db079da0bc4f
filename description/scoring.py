"""The description's optional `scoring` section: what the pipeline scores in bulk.

  scoring:
    split: test      # an ExampleGen split of the trained span, or
    span: 7          # another span of input.pattern (e.g. this month's applications)

With it, the pipeline runs TFX's BulkInferrer after the Evaluator, with the
blessed model only, and records its InferenceResult in ML Metadata. A span
goes through the same checked ExampleGen as training data, so it must pass
the same checks (label included); unlabelled files are for `python -m
cli.score`, which needs no label.
"""

import dataclasses
from typing import Any, Dict, Optional

from description.fields import DatasetSpecError

FIELDS = ('split', 'span')


@dataclasses.dataclass(frozen=True)
class BulkScoring:
  split: Optional[str] = None
  span: Optional[int] = None

  def span_pattern(self, input_pattern: str) -> str:
    """input.pattern with the span filled in (the ExampleGen split to read)."""
    return input_pattern.replace('{SPAN}', str(self.span))


def _error(message: str) -> Exception:
  return DatasetSpecError(message)


def parse(raw: Any, splits: Dict[str, int], input_pattern: str,
          source: str) -> Optional[BulkScoring]:
  """The validated section, or None when the description has none."""
  if raw is None:
    return None
  if not isinstance(raw, dict):
    raise _error(f'{source}: `scoring` must be a mapping with `split` or `span`')
  unknown = sorted(set(raw) - set(FIELDS))
  if unknown:
    raise _error(f'{source}: unknown field(s) scoring.{unknown}; expected one of {list(FIELDS)}')
  if len([k for k in FIELDS if raw.get(k) is not None]) != 1:
    raise _error(f'{source}: scoring names exactly one of scoring.split or scoring.span')
  if raw.get('split') is not None:
    split = raw['split']
    if split not in splits:
      raise _error(f'{source}: scoring.split is {split!r}; the splits are {sorted(splits)}')
    return BulkScoring(split=split)
  span = raw['span']
  if isinstance(span, bool) or not isinstance(span, int) or span < 0:
    raise _error(f'{source}: scoring.span must be a whole number >= 0, got {span!r}')
  if '{SPAN}' not in input_pattern:
    raise _error(f'{source}: scoring.span needs spans, but input.pattern '
                 f'{input_pattern!r} has no {{SPAN}}')
  return BulkScoring(span=span)


def of(spec) -> Optional[BulkScoring]:
  """The `scoring` section of a DatasetSpec (DatasetSpecError when malformed)."""
  return parse(spec.raw.get('scoring'), spec.splits, spec.input_pattern, spec.source)
