"""Live model quality from labelled predictions: pure functions.

Per served version: accuracy; per class precision, recall and F1 (one vs
rest); per slice (each protected attribute and tag value) the same; and,
under partial automation, the accuracy of the cases the model decided and of
those it deferred to a person, overall and per slice. Every
proportion has its Wilson score interval and the count behind it, because
labels arrive in dribs: 3 of 4 correct is not 75% in any useful sense.
"""

import collections
import dataclasses
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from feedback.join import Prediction

Z_95 = 1.959963984540054


@dataclasses.dataclass(frozen=True)
class Proportion:
  """successes / n with its Wilson interval; value is None when n == 0."""
  successes: int
  n: int
  low: Optional[float]
  high: Optional[float]

  @property
  def value(self) -> Optional[float]:
    return self.successes / self.n if self.n else None

  def to_dict(self) -> Dict[str, Optional[float]]:
    return {'value': self.value, 'ci_low': self.low, 'ci_high': self.high,
            'successes': self.successes, 'n': self.n}


def wilson(successes: int, n: int, z: float = Z_95) -> Proportion:
  """The Wilson score interval: sane at 0, 1 and small n, unlike p +- z*se."""
  if n <= 0:
    return Proportion(successes, 0, None, None)
  p = successes / n
  denominator = 1 + z * z / n
  center = (p + z * z / (2 * n)) / denominator
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
  return Proportion(successes, n, max(0.0, center - half), min(1.0, center + half))


def f1(precision: Optional[float], recall: Optional[float]) -> Optional[float]:
  if precision is None or recall is None or precision + recall == 0:
    return None if precision is None or recall is None else 0.0
  return 2 * precision * recall / (precision + recall)


@dataclasses.dataclass(frozen=True)
class Quality:
  """The figures of one group of labelled predictions."""
  n: int
  accuracy: Proportion
  precision: Dict[str, Proportion]
  recall: Dict[str, Proportion]
  f1: Dict[str, Optional[float]]

  def to_dict(self) -> dict:
    return {'n': self.n, 'accuracy': self.accuracy.to_dict(),
            'per_class': {c: {'precision': self.precision[c].to_dict(),
                              'recall': self.recall[c].to_dict(), 'f1': self.f1[c]}
                          for c in self.precision}}


def quality(pairs: Iterable[Tuple[int, int]], classes: Sequence[str]) -> Quality:
  """Figures of (actual, predicted) class-id pairs."""
  pairs = list(pairs)
  correct = sum(1 for a, p in pairs if a == p)
  actual = collections.Counter(a for a, _ in pairs)
  predicted = collections.Counter(p for _, p in pairs)
  hits = collections.Counter(a for a, p in pairs if a == p)
  precision = {c: wilson(hits[i], predicted[i]) for i, c in enumerate(classes)}
  recall = {c: wilson(hits[i], actual[i]) for i, c in enumerate(classes)}
  return Quality(
      n=len(pairs), accuracy=wilson(correct, len(pairs)), precision=precision,
      recall=recall,
      f1={c: f1(precision[c].value, recall[c].value) for c in classes})


@dataclasses.dataclass(frozen=True)
class VersionQuality:
  version: str
  overall: Quality
  # (slice column, value) -> figures; only values seen among the labelled.
  slices: Dict[Tuple[str, str], Quality]
  awaiting_labels: int
  # 'decided' | 'deferred' -> figures; per slice (column, value, decision).
  by_decision: Dict[str, Quality] = dataclasses.field(default_factory=dict)
  slices_by_decision: Dict[Tuple[str, str, str], Quality] = dataclasses.field(
      default_factory=dict)
  # Share of logged cases (labelled or not) deferred to a person; per slice.
  deferral: Optional[Proportion] = None
  slice_deferral: Dict[Tuple[str, str], Proportion] = dataclasses.field(default_factory=dict)

  @property
  def deferred_any(self) -> bool:
    """Whether any case was deferred (else the split adds nothing: level full)."""
    return self.deferral is not None and self.deferral.successes > 0


def by_version(predictions: Sequence[Prediction], classes: Sequence[str],
               slice_columns: Sequence[str]) -> List[VersionQuality]:
  """Figures per served version, overall and per slice value."""
  versions: Dict[str, List[Prediction]] = collections.defaultdict(list)
  for p in predictions:
    versions[p.version].append(p)
  out = []
  for version in sorted(versions, key=lambda v: (not v.isdigit(),
                                                 int(v) if v.isdigit() else 0, v)):
    group = versions[version]
    labelled = [p for p in group if p.actual is not None]
    slices: Dict[Tuple[str, str], List[Tuple[int, int]]] = collections.defaultdict(list)
    decisions: Dict[str, List[Tuple[int, int]]] = collections.defaultdict(list)
    slice_decisions: Dict[Tuple[str, str, str], List[Tuple[int, int]]] = (
        collections.defaultdict(list))
    for p in labelled:
      decisions[p.decision].append((p.actual, p.predicted))
      for column in slice_columns:
        if column in p.slices:
          slices[(column, p.slices[column])].append((p.actual, p.predicted))
          slice_decisions[(column, p.slices[column], p.decision)].append(
              (p.actual, p.predicted))
    slice_cases: Dict[Tuple[str, str], List[bool]] = collections.defaultdict(list)
    for p in group:
      for column in slice_columns:
        if column in p.slices:
          slice_cases[(column, p.slices[column])].append(p.decision == 'deferred')
    out.append(VersionQuality(
        version=version,
        overall=quality(((p.actual, p.predicted) for p in labelled), classes),
        slices={k: quality(v, classes) for k, v in sorted(slices.items())},
        awaiting_labels=len(group) - len(labelled),
        by_decision={k: quality(v, classes) for k, v in sorted(decisions.items())},
        slices_by_decision={k: quality(v, classes)
                            for k, v in sorted(slice_decisions.items())},
        deferral=wilson(sum(p.decision == 'deferred' for p in group), len(group)),
        slice_deferral={k: wilson(sum(v), len(v)) for k, v in sorted(slice_cases.items())}))
  return out
