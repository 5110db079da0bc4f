"""The Evaluator's figures per slice, as the audit reads them (rollout.audit).

TFMA's results are flattened by provenance.evaluation (the one reader of
them); with a baseline the Evaluator wrote every metric for the `candidate`
and the `baseline` model. The baseline is the latest blessed model, the one
that is stable when the rollout starts: the audit compares the two.
False positive / negative rates are Fairness Indicators' for the rare class
at the threshold nearest 0.5; without them they are left empty.
"""

import math
from typing import Dict, Optional, Sequence

from provenance import evaluation as tfma_rows
from rollout import audit

ROLES = (('candidate', 'candidate'), ('baseline', 'stable'))


def _fi_name(rows: Sequence[tfma_rows.MetricRow], base: str) -> Optional[str]:
  names = {r.name for r in rows if r.name.startswith(f'{tfma_rows.FI_PREFIX}{base}@')}
  if not names:
    return None
  return min(names, key=lambda n: abs(float(n.rsplit('@', 1)[1]) - 0.5))


def _figures(rows, key, model: str, rare_class_id: Optional[int], fpr: Optional[str],
             fnr: Optional[str]) -> Optional[audit.Figures]:
  def get(name, class_id=None):
    found = tfma_rows.value(rows, name, key, class_id=class_id, model=model)
    return None if found is None or math.isnan(found) else found
  accuracy = tfma_rows.accuracy(rows, key, model=model)
  if accuracy is None:
    return None
  metrics = {audit.ACCURACY: accuracy}
  if rare_class_id is not None:
    metrics[audit.RARE_RECALL] = get('recall', rare_class_id)
    metrics[audit.FPR] = get(fpr, rare_class_id) if fpr else None
    metrics[audit.FNR] = get(fnr, rare_class_id) if fnr else (
        None if metrics[audit.RARE_RECALL] is None else 1.0 - metrics[audit.RARE_RECALL])
  examples = tfma_rows.example_count([r for r in rows if r.model in ('', model)], key)
  return audit.Figures(examples, None, metrics)


def from_rows(rows: Sequence[tfma_rows.MetricRow], spec) -> Dict[str, Dict[str, audit.Figures]]:
  """slice label -> {'candidate', 'stable'} -> Figures, over the slice columns.

  Without a baseline (a first deployment: nothing blessed before) the
  Evaluator scored the candidate alone (model name ''): its figures are
  shown, with nothing to compare them against.
  """
  fpr, fnr = _fi_name(rows, 'false_positive_rate'), _fi_name(rows, 'false_negative_rate')
  roles = ROLES if any(r.model == 'baseline' for r in rows) else (('', 'candidate'),)
  columns = set(spec.slice_columns)
  keys = {r.slice for r in rows if len(r.slice) <= 1 and all(c in columns for c, _ in r.slice)}
  found = {}
  for key in keys:
    pair = {}
    for model, role in roles:
      figures = _figures(rows, key, model, spec.rare_class_id, fpr, fnr)
      if figures is not None:
        pair[role] = figures
    if pair:
      found[tfma_rows.slice_label(key)] = pair
  return found


def load(evaluation_uri: str, spec) -> Dict[str, Dict[str, audit.Figures]]:
  return from_rows(tfma_rows.load_rows(evaluation_uri), spec)
