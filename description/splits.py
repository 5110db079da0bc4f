"""The `splits` section: ExampleGen's output split sizes and when to stratify."""

from typing import Any, Dict, Tuple

from description import fields

SPLIT_NAMES = ('train', 'eval', 'test')
DEFAULT_SPLITS = {'train': 8, 'eval': 2}
DEFAULT_STRATIFY_BELOW_ROWS = 10000


def parse_splits(raw: Dict[str, Any], source: str) -> Tuple[Dict[str, int], int]:
  """(split name -> relative size, stratify_below_rows)."""
  section = raw.get('splits') or {}
  splits = {k: int(v) for k, v in section.items() if k in SPLIT_NAMES}
  splits = splits or dict(DEFAULT_SPLITS)
  if 'train' not in splits or 'eval' not in splits or min(splits.values()) <= 0:
    raise fields.DatasetSpecError(
        f'{source}: splits need positive train and eval sizes, got {splits}')
  below = section.get('stratify_below_rows', DEFAULT_STRATIFY_BELOW_ROWS)
  if isinstance(below, bool) or not isinstance(below, int) or below < 0:
    raise fields.DatasetSpecError(
        f'{source}: splits.stratify_below_rows must be a whole number >= 0, '
        f'got {below!r}')
  return splits, below
