"""Concept drift: did P(label | feature) move between two spans?

TFDV's comparators look at one column at a time, so they see covariate shift
(a feature's distribution moves) and label shift (the class mix moves), but
not a change in how the label depends on the features when both marginals
stay put: the generator's concept-drift span doubles the weight of
debt_to_income and halves that of credit_score, which moves the class mix by
only ~1.5 points (below what two clean spans differ by at a few thousand
rows) while the default rate among high debt-to-income applicants moves by
10-16 points.

So, per feature: bin the feature (quantiles of the previous span for numbers,
values for categories, missing as its own bin), compare the label's class mix
inside each bin between the spans, and report the largest difference (an
L-infinity distance, the same kind TFDV uses for categorical drift). A bin's
difference only counts when it is also statistically significant (|z| above
`min_z` for a two-proportion test), so small spans do not raise false alarms
from sampling noise alone; thresholds are therefore about effect size, not
sample size.
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

MISSING_BIN = '(missing)'


@dataclasses.dataclass
class BinShift:
  bin: str
  label_class: str
  previous_rate: float
  current_rate: float
  previous_rows: int
  current_rows: int
  z: float

  @property
  def distance(self) -> float:
    return abs(self.current_rate - self.previous_rate)


@dataclasses.dataclass
class FeatureLabelDrift:
  """The label-given-feature shift of one feature; `worst` is None if no bin qualified."""
  feature: str
  distance: float
  worst: Optional[BinShift]
  bins_compared: int
  # Every compared bin's rate of the worst class (for the report's chart).
  bins: List[BinShift] = dataclasses.field(default_factory=list)


def _bin_numeric(previous: np.ndarray, current: np.ndarray, num_bins: int):
  present = previous[~np.isnan(previous)]
  if present.size == 0:
    return None
  edges = np.unique(np.quantile(present, np.linspace(0, 1, num_bins + 1)[1:-1]))

  def label(values):
    idx = np.searchsorted(edges, values, side='right')
    names = np.empty(values.shape, dtype=object)
    bounds = [-np.inf] + list(edges) + [np.inf]
    for i in range(len(bounds) - 1):
      names[idx == i] = f'[{_fmt(bounds[i])}, {_fmt(bounds[i + 1])})'
    names[np.isnan(values)] = MISSING_BIN
    return names

  return label(previous), label(current)


def _fmt(x: float) -> str:
  if np.isinf(x):
    return '-inf' if x < 0 else 'inf'
  return f'{x:.6g}'


def _bin_categorical(previous: np.ndarray, current: np.ndarray):
  def label(values):
    return np.array([MISSING_BIN if v is None or v == '' else str(v) for v in values],
                    dtype=object)
  return label(previous), label(current)


def _z(p1: float, n1: int, p2: float, n2: int) -> float:
  pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
  se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1.0 / n1 + 1.0 / n2))
  return (p2 - p1) / se


def feature_label_drift(feature: str, previous_values: np.ndarray,
                        previous_labels: np.ndarray, current_values: np.ndarray,
                        current_labels: np.ndarray, classes: Sequence[str],
                        numeric: bool, num_bins: int = 5, min_bin_rows: int = 100,
                        min_z: float = 4.0) -> FeatureLabelDrift:
  """The largest significant change of P(class | bin of `feature`)."""
  if numeric:
    binned = _bin_numeric(np.asarray(previous_values, dtype=np.float64),
                          np.asarray(current_values, dtype=np.float64), num_bins)
  else:
    binned = _bin_categorical(previous_values, current_values)
  if binned is None:
    return FeatureLabelDrift(feature, 0.0, None, 0)
  prev_bins, cur_bins = binned
  previous_labels = np.asarray(previous_labels, dtype=object)
  current_labels = np.asarray(current_labels, dtype=object)
  worst: Optional[BinShift] = None
  shifts: List[BinShift] = []
  for b in _ordered(set(prev_bins) & set(cur_bins)):
    in_prev, in_cur = prev_bins == b, cur_bins == b
    n1, n2 = int(in_prev.sum()), int(in_cur.sum())
    if n1 < min_bin_rows or n2 < min_bin_rows:
      continue
    for c in classes:
      p1 = float(np.mean(previous_labels[in_prev] == c))
      p2 = float(np.mean(current_labels[in_cur] == c))
      shift = BinShift(str(b), str(c), p1, p2, n1, n2, _z(p1, n1, p2, n2))
      shifts.append(shift)
      if abs(shift.z) >= min_z and (worst is None or shift.distance > worst.distance):
        worst = shift
  compared = len({s.bin for s in shifts})
  if worst is None:
    return FeatureLabelDrift(feature, 0.0, None, compared)
  return FeatureLabelDrift(feature, worst.distance, worst, compared,
                           [s for s in shifts if s.label_class == worst.label_class])


def _ordered(bins):
  """Numeric bins by their lower bound, then categories by name, missing last."""
  def key(b):
    if b == MISSING_BIN:
      return (2, 0.0, b)
    if b.startswith('['):
      low = b[1:].split(',')[0]
      return (0, float(low), b)
    return (1, 0.0, b)
  return sorted(bins, key=key)


def label_drift(previous: Dict[str, np.ndarray], current: Dict[str, np.ndarray],
                label: str, classes: Sequence[str], numeric_features: Sequence[str],
                categorical_features: Sequence[str], **kwargs) -> List[FeatureLabelDrift]:
  """Per feature, the label-given-feature drift between two spans' columns."""
  results = []
  for name in list(numeric_features) + list(categorical_features):
    if name not in previous or name not in current:
      continue
    results.append(feature_label_drift(
        name, previous[name], previous[label], current[name], current[label],
        classes, numeric=name in numeric_features, **kwargs))
  return results
