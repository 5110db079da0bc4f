"""Input and output metrics of one window of request-log records (pure functions).

A record is what the server logs per predicted instance (serving/request_log.py):
"inputs" maps each model input to its value (a one-element list for a
[batch, 1] input; null for a missing or non-finite value), "outputs" holds
"probabilities" (one per class, in the description's class order) and
"class_ids".

Per model input: the share of missing values, the share outside the schema's
domain (a numeric range, or a categorical vocabulary: unseen categories), and
for numeric inputs the mean and the 5th/50th/95th percentiles. Outputs: the
share of each predicted class, the mean score of the rare class, and the
share of records whose outputs are null, non-finite, outside [0, 1] or do not
sum to 1.
"""

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from serving import metrics as serving_metrics

QUANTILES = (0.05, 0.5, 0.95)
PROBABILITY_SUM_TOLERANCE = 1e-3


def quantile_key(q: float) -> str:
  return f'p{round(q * 100):02d}'


def scalar(value: Any) -> Any:
  """A logged input as one value ([x] -> x; [] -> None)."""
  if isinstance(value, list):
    return value[0] if len(value) == 1 else (None if not value else value)
  return value


def _is_missing(value: Any) -> bool:
  return value is None or value == '' or (isinstance(value, float) and not math.isfinite(value))


def _out_of_domain(value: Any, domain: Any) -> bool:
  if isinstance(domain, serving_metrics.NumericRange):
    try:
      number = float(value)
    except (TypeError, ValueError):
      return True
    return not domain.low <= number <= domain.high
  if isinstance(domain, serving_metrics.CategoricalDomain):
    text = value if isinstance(value, str) else str(value)
    return text.encode('utf-8') not in domain.values
  return False


def input_metrics(records: Sequence[Mapping[str, Any]], features: Mapping[str, str],
                  domains: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
  """Per feature (name -> 'numeric' | 'categorical'): shares, mean, quantiles."""
  total = len(records)
  out: Dict[str, Dict[str, Any]] = {}
  for name, kind in features.items():
    values = [scalar((r.get('inputs') or {}).get(name)) for r in records]
    present = [v for v in values if not _is_missing(v)]
    missing = total - len(present)
    domain = domains.get(name)
    outside = sum(1 for v in present if _out_of_domain(v, domain)) if domain else 0
    stats: Dict[str, Any] = {
        'kind': kind, 'values': len(present),
        'missing_share': missing / total if total else 0.0,
        'out_of_range_share': outside / len(present) if present else 0.0,
    }
    if kind == 'numeric':
      numbers = []
      for v in present:
        try:
          numbers.append(float(v))
        except (TypeError, ValueError):
          pass  # Counted as out of range above.
      array = np.asarray(numbers, dtype=float)
      stats['mean'] = float(array.mean()) if array.size else None
      for q in QUANTILES:
        stats[quantile_key(q)] = float(np.quantile(array, q)) if array.size else None
    out[name] = stats
  return out


def _invalid(outputs: Any, num_classes: int) -> Optional[str]:
  """Why a record's outputs are unusable, or None."""
  if not isinstance(outputs, Mapping):
    return 'no outputs'
  probabilities = outputs.get('probabilities')
  if not isinstance(probabilities, list) or len(probabilities) != num_classes:
    return 'probabilities missing or of the wrong length'
  if any(p is None or isinstance(p, bool) or not isinstance(p, (int, float)) or
         not math.isfinite(p) for p in probabilities):
    return 'null or non-finite probability'
  if any(p < 0 or p > 1 for p in probabilities):
    return 'probability outside [0, 1]'
  if abs(sum(probabilities) - 1.0) > PROBABILITY_SUM_TOLERANCE:
    return 'probabilities do not sum to 1'
  return None


def output_metrics(records: Sequence[Mapping[str, Any]], classes: Sequence[str],
                   rare_class_id: Optional[int]) -> Dict[str, Any]:
  counts = [0] * len(classes)
  rare_scores: List[float] = []
  invalid: Dict[str, int] = {}
  for r in records:
    outputs = r.get('outputs')
    reason = _invalid(outputs, len(classes))
    if reason:
      invalid[reason] = invalid.get(reason, 0) + 1
      continue
    probabilities = outputs['probabilities']
    counts[int(np.argmax(probabilities))] += 1
    if rare_class_id is not None:
      rare_scores.append(float(probabilities[rare_class_id]))
  valid = sum(counts)
  total = len(records)
  return {
      'class_share': {c: (n / valid if valid else 0.0) for c, n in zip(classes, counts)},
      'rare_class_score_mean': float(np.mean(rare_scores)) if rare_scores else None,
      'invalid_outputs': sum(invalid.values()),
      'invalid_output_share': sum(invalid.values()) / total if total else 0.0,
      'invalid_reasons': invalid,
  }


def prediction_shift(class_share: Mapping[str, float],
                     baseline: Optional[Mapping[str, float]]) -> Optional[float]:
  """L-infinity distance of predicted-class shares from a reference window's."""
  if not baseline:
    return None
  return max(abs(class_share.get(c, 0.0) - baseline.get(c, 0.0))
             for c in set(class_share) | set(baseline))


def feature_kinds(spec) -> Dict[str, str]:
  """The model inputs, each 'numeric' or 'categorical' (by declared column type)."""
  return {c.name: ('categorical' if c.type == 'string' else 'numeric')
          for c in spec.features()}
