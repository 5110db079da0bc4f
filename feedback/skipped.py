"""Counts of what a reader or a join left out, each with its reason."""

import collections
from typing import Dict, List


class Skipped:
  """reason -> count, plus a few examples per reason for the message."""

  MAX_EXAMPLES = 5

  def __init__(self):
    self.counts: Dict[str, int] = collections.Counter()
    self.examples: Dict[str, List[str]] = collections.defaultdict(list)

  def add(self, reason: str, example: str = '') -> None:
    self.counts[reason] += 1
    if example and len(self.examples[reason]) < self.MAX_EXAMPLES:
      self.examples[reason].append(example)

  def merge(self, other: 'Skipped') -> None:
    for reason, count in other.counts.items():
      self.counts[reason] += count
      room = self.MAX_EXAMPLES - len(self.examples[reason])
      self.examples[reason].extend(other.examples.get(reason, [])[:max(room, 0)])

  @property
  def total(self) -> int:
    return sum(self.counts.values())

  def lines(self) -> List[str]:
    """One line per reason: count, reason, examples."""
    out = []
    for reason, count in sorted(self.counts.items()):
      examples = self.examples.get(reason)
      suffix = f' (e.g. {"; ".join(examples)})' if examples else ''
      out.append(f'{count} {reason}{suffix}')
    return out

  def to_dict(self) -> Dict[str, int]:
    return dict(sorted(self.counts.items()))
