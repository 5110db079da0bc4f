"""The audit of a candidate: per protected-attribute and tag slice, candidate
against stable, from the evaluation and from the canary's live answers.

Pure functions, no I/O. Two sources, each optional:

  evaluation  the Evaluator's figures (TFMA, candidate vs its baseline = the
              blessed model that is stable), handed in as `Figures` per slice
              by whoever read them (components/canary_rollout/evaluation_slices.py);
  live        what stable and the canary answered on the replayed rows up to
              the pause, joined to the rows' labels (`live_figures`).

Metrics: accuracy, the rare class's recall, and its false positive and false
negative rates. A slice regressed when, in either source, a metric is worse
for the candidate by more than the description's `rollout.slice_tolerance`;
slices with too few labelled rows are shown but not judged (a recall over a
handful of rows moves by chance alone). Live figures compare different rows
(the canary's keys against stable's), so there a regression must also be
significant (one-sided two-proportion test at LIVE_ALPHA); the evaluation
scores both models on the same rows and needs no test.
"""

import dataclasses
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from rollout.statistics import two_proportion_drop_p

ACCURACY = 'accuracy'
RARE_RECALL = 'rare_recall'
FPR = 'false_positive_rate'
FNR = 'false_negative_rate'
# metric -> True when higher is better
METRICS = {ACCURACY: True, RARE_RECALL: True, FPR: False, FNR: False}
# Recall and FNR are over the rare class's rows: they need enough of those.
_OVER_POSITIVES = (RARE_RECALL, FNR)
MIN_SLICE_EXAMPLES = 30
MIN_SLICE_POSITIVES = 5
LIVE_ALPHA = 0.05
OVERALL = 'overall'


@dataclasses.dataclass(frozen=True)
class Figures:
  """One model on one slice: labelled rows, rare-class rows, metric values."""
  examples: Optional[float]
  positives: Optional[float]
  metrics: Mapping[str, Optional[float]]

  def to_json(self) -> Dict[str, Any]:
    return {'examples': self.examples, 'positives': self.positives,
            'metrics': {k: _clean(v) for k, v in self.metrics.items()}}


@dataclasses.dataclass(frozen=True)
class Regression:
  source: str  # evaluation | live
  metric: str
  candidate: float
  stable: float
  worse_by: float

  def text(self) -> str:
    return (f'{self.source} {self.metric} {self.candidate:.3f} vs stable '
            f'{self.stable:.3f} (worse by {self.worse_by:.3f})')


@dataclasses.dataclass(frozen=True)
class SliceAudit:
  slice: str  # 'overall' or 'column=value'
  kind: str  # overall | protected | tag
  evaluation: Mapping[str, Figures]  # 'candidate' / 'stable' -> Figures (may be empty)
  live: Mapping[str, Figures]
  regressions: Sequence[Regression]
  judged: bool  # enough rows in at least one source to judge

  @property
  def regressed(self) -> bool:
    return bool(self.regressions)

  def to_json(self) -> Dict[str, Any]:
    return {'slice': self.slice, 'kind': self.kind, 'judged': self.judged,
            'regressed': self.regressed,
            'evaluation': {k: v.to_json() for k, v in self.evaluation.items()},
            'live': {k: v.to_json() for k, v in self.live.items()},
            'regressions': [dataclasses.asdict(r) | {'text': r.text()}
                            for r in self.regressions]}


@dataclasses.dataclass(frozen=True)
class Audit:
  model: str
  candidate: int
  stable: Optional[int]
  tolerance: float
  step: int
  weight: float
  created: str
  slices: Sequence[SliceAudit]
  evaluation_source: str = ''

  @property
  def regressed(self) -> List[str]:
    return [s.slice for s in self.slices if s.regressed]

  def to_json(self) -> Dict[str, Any]:
    return {'model': self.model, 'candidate': self.candidate, 'stable': self.stable,
            'tolerance': self.tolerance, 'step': self.step, 'weight': self.weight,
            'created': self.created, 'evaluation_source': self.evaluation_source,
            'regressed': self.regressed, 'slices': [s.to_json() for s in self.slices]}


def _clean(v: Optional[float]) -> Optional[float]:
  return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _rate(hits: int, total: int) -> Optional[float]:
  return hits / total if total else None


def figures_of(predicted: Sequence[int], labels: Sequence[int],
               rare_class_id: Optional[int]) -> Figures:
  """Accuracy and the rare class's recall, FPR and FNR of labelled answers."""
  pairs = [(p, y) for p, y in zip(predicted, labels) if y >= 0]
  metrics = {ACCURACY: _rate(sum(p == y for p, y in pairs), len(pairs))}
  positives = None
  if rare_class_id is not None:
    pos = [p for p, y in pairs if y == rare_class_id]
    neg = [p for p, y in pairs if y != rare_class_id]
    positives = len(pos)
    recall = _rate(sum(p == rare_class_id for p in pos), len(pos))
    metrics[RARE_RECALL] = recall
    metrics[FNR] = None if recall is None else 1.0 - recall
    metrics[FPR] = _rate(sum(p == rare_class_id for p in neg), len(neg))
  return Figures(float(len(pairs)), positives, metrics)


def slice_keys(columns: Iterable[str], values: Mapping[str, Any]) -> List[str]:
  """The slices a row falls in: overall and `column=value` per slice column."""
  keys = [OVERALL]
  for column in columns:
    v = values.get(column)
    if v is not None and v != '':
      keys.append(f'{column}={v.decode() if isinstance(v, bytes) else v}')
  return keys


def live_figures(answers: Mapping[str, Mapping[str, int]], labels: Mapping[str, int],
                 row_values: Mapping[str, Mapping[str, Any]], columns: Sequence[str],
                 rare_class_id: Optional[int]) -> Dict[str, Dict[str, Figures]]:
  """slice -> role ('candidate' / 'stable') -> Figures.

  answers: role -> {request key: predicted class id}; labels: key -> class id;
  row_values: key -> the replayed row's raw values (for its slice columns).
  """
  grouped: Dict[str, Dict[str, List]] = {}
  for role, predicted in answers.items():
    for key, class_id in predicted.items():
      if key not in labels:
        continue
      for s in slice_keys(columns, row_values.get(key, {})):
        grouped.setdefault(s, {}).setdefault(role, []).append((class_id, labels[key]))
  return {s: {role: figures_of([p for p, _ in pairs], [y for _, y in pairs], rare_class_id)
              for role, pairs in roles.items()}
          for s, roles in grouped.items()}


def _judgeable(f: Figures, metric: str) -> bool:
  if (f.examples or 0) < MIN_SLICE_EXAMPLES:
    return False
  return metric not in _OVER_POSITIVES or f.positives is None or (
      f.positives >= MIN_SLICE_POSITIVES)


def regressions(source: str, pair: Mapping[str, Figures], tolerance: float) -> List[Regression]:
  """The metrics on which the candidate is worse than stable by more than tolerance."""
  cand, stable = pair.get('candidate'), pair.get('stable')
  if cand is None or stable is None:
    return []
  found = []
  for metric, higher_is_better in METRICS.items():
    c, s = _clean(cand.metrics.get(metric)), _clean(stable.metrics.get(metric))
    if c is None or s is None or not (_judgeable(cand, metric) and _judgeable(stable, metric)):
      continue
    worse_by = (s - c) if higher_is_better else (c - s)
    if worse_by <= tolerance + 1e-12:
      continue
    if source == 'live' and not _significant(metric, higher_is_better, cand, stable, c, s):
      continue
    found.append(Regression(source, metric, c, s, round(worse_by, 6)))
  return found


def _rows_behind(f: Figures, metric: str) -> int:
  positives = int(f.positives or 0)
  if metric in _OVER_POSITIVES:
    return positives
  return int(f.examples or 0) - (positives if metric == FPR else 0)


def _significant(metric: str, higher_is_better: bool, cand: Figures, stable: Figures,
                 c: float, s: float) -> bool:
  """Is the candidate's drop in the metric's good rate more than chance?"""
  good = (lambda v: v) if higher_is_better else (lambda v: 1.0 - v)
  n_c, n_s = _rows_behind(cand, metric), _rows_behind(stable, metric)
  if not n_c or not n_s:
    return False
  p = two_proportion_drop_p(round(good(s) * n_s), n_s, round(good(c) * n_c), n_c, 0.0)
  return p < LIVE_ALPHA


def _kind(slice_label: str, protected: Sequence[str], tags: Sequence[str]) -> str:
  column = slice_label.split('=', 1)[0]
  if slice_label == OVERALL:
    return 'overall'
  return 'protected' if column in protected else 'tag' if column in tags else 'other'


def build(model: str, candidate: int, stable: Optional[int], *, step: int, weight: float,
          created: str, tolerance: float, protected: Sequence[str], tags: Sequence[str],
          evaluation: Mapping[str, Mapping[str, Figures]],
          live: Mapping[str, Mapping[str, Figures]],
          evaluation_source: str = '') -> Audit:
  """The audit over every slice either source has, overall first."""
  names = set(evaluation) | set(live)
  order = {'overall': 0, 'protected': 1, 'tag': 2, 'other': 3}
  slices = []
  for name in sorted(names, key=lambda n: (order[_kind(n, protected, tags)], n)):
    ev, lv = evaluation.get(name, {}), live.get(name, {})
    found = regressions('evaluation', ev, tolerance) + regressions('live', lv, tolerance)
    judged = any(len(p) == 2 and all((f.examples or 0) >= MIN_SLICE_EXAMPLES
                                     for f in p.values()) for p in (ev, lv))
    slices.append(SliceAudit(name, _kind(name, protected, tags), ev, lv, found, judged))
  return Audit(model, int(candidate), stable, float(tolerance), int(step), float(weight),
               created, slices, evaluation_source)
