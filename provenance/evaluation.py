"""TFMA results as flat rows, the key metrics of a run, and fairness gaps.

A row is one scalar: (slice, metric, class id, model, is_diff) -> value. With
a baseline, the Evaluator writes every metric for the 'candidate' and the
'baseline' model and their difference; without one, model is ''.
"""

import dataclasses
import glob
import math
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

Slice = Tuple[Tuple[str, str], ...]  # () is the whole eval set
OVERALL: Slice = ()

ACCURACY_NAMES = ('sparse_categorical_accuracy', 'accuracy')
FI_PREFIX = 'fairness_indicators_metrics/'
# Slices smaller than these are listed but left out of the gaps: a recall over
# a handful of rare-class examples swings by chance alone.
MIN_SLICE_EXAMPLES = 30
MIN_CLASS_EXAMPLES = 5
# Metrics whose denominator is the examples of the class (its positives).
POSITIVE_BASED = ('recall', 'false_negative_rate')
DEFAULT_GAP_THRESHOLD = 0.10


@dataclasses.dataclass(frozen=True)
class MetricRow:
  slice: Slice
  name: str
  class_id: Optional[int]
  model: str
  is_diff: bool
  value: float


def slice_label(key: Slice) -> str:
  return ' & '.join(f'{c}={v}' for c, v in key) if key else 'overall'


def _slice_of(slice_key) -> Slice:
  found = []
  for single in slice_key.single_slice_keys:
    kind = single.WhichOneof('kind')
    value = getattr(single, kind) if kind else ''
    if isinstance(value, bytes):
      value = value.decode('utf-8', 'replace')
    found.append((single.column, str(value)))
  return tuple(found)


def _scalar(value) -> Optional[float]:
  kind = value.WhichOneof('type')
  if kind == 'double_value':
    return value.double_value.value
  if kind == 'bounded_value':
    return value.bounded_value.value.value
  return None


def load_rows(evaluation_uri: str) -> List[MetricRow]:
  """Every scalar metric of a ModelEvaluation artifact's directory."""
  # Imported here: TFMA pulls in TensorFlow, which the lineage commands need not.
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  if not glob.glob(os.path.join(evaluation_uri, 'metrics*')):
    # TFMA would return nothing at all, which reads as "no metrics".
    raise FileNotFoundError(f'no TFMA metrics under {evaluation_uri} (moved or deleted?)')
  rows = []
  for metrics in tfma.load_metrics(evaluation_uri):
    key = _slice_of(metrics.slice_key)
    for entry in metrics.metric_keys_and_values:
      number = _scalar(entry.value)
      if number is None:
        continue
      sub_key = entry.key.sub_key
      class_id = (sub_key.class_id.value if sub_key.HasField('class_id') else None)
      rows.append(MetricRow(key, entry.key.name, class_id, entry.key.model_name,
                            entry.key.is_diff, number))
  return rows


def load_confusion(evaluation_uri: str) -> Dict[Slice, Dict[Tuple[int, int], float]]:
  """Per slice, the candidate's multi-class confusion matrix {(actual, predicted): n}.

  From the MultiClassConfusionMatrixPlot at its first threshold (0: argmax).
  """
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  found = {}
  for plots in tfma.load_plots(evaluation_uri):
    for entry in plots.plot_keys_and_values:
      if (entry.key.model_name not in ('', 'candidate') or
          not entry.value.HasField('multi_class_confusion_matrix_at_thresholds')):
        continue
      matrices = entry.value.multi_class_confusion_matrix_at_thresholds.matrices
      if not matrices:
        continue
      cells = {}
      for cell in matrices[0].entries:
        key = (cell.actual_class_id, cell.predicted_class_id)
        cells[key] = cells.get(key, 0.0) + cell.num_weighted_examples
      found[_slice_of(plots.slice_key)] = cells
  return found


def class_counts(confusion: Dict[Slice, Dict[Tuple[int, int], float]],
                 class_id: int) -> Dict[Slice, float]:
  """Per slice, how many examples truly are of `class_id`."""
  return {key: sum(n for (actual, _), n in cells.items() if actual == class_id)
          for key, cells in confusion.items()}


def candidate(rows: Iterable[MetricRow]) -> List[MetricRow]:
  """The evaluated model's own values (not the baseline's, not diffs)."""
  return [r for r in rows if not r.is_diff and r.model in ('', 'candidate')]


def value(rows: Iterable[MetricRow], name: str, key: Slice = OVERALL,
          class_id: Optional[int] = None, model: Optional[str] = None,
          is_diff: bool = False) -> Optional[float]:
  for r in rows:
    if (r.slice == key and r.name == name and r.class_id == class_id and
        r.is_diff == is_diff and (model is None or r.model == model)):
      return r.value
  return None


def accuracy(rows: Sequence[MetricRow], key: Slice = OVERALL,
             model: Optional[str] = None) -> Optional[float]:
  for name in ACCURACY_NAMES:
    found = value(rows, name, key, model=model)
    if found is not None:
      return found
  return None


def example_count(rows: Sequence[MetricRow], key: Slice = OVERALL) -> Optional[float]:
  found = value(rows, 'example_count', key)
  if found is None:  # only per-class counts exist in some configs
    counts = [r.value for r in rows if r.slice == key and r.name == 'example_count']
    found = max(counts) if counts else None
  return found


def key_metrics(rows: Sequence[MetricRow], rare_class_id: Optional[int],
                rare_class: str = 'rare') -> Dict[str, float]:
  """The few numbers the experiment table shows, for the candidate model."""
  own = candidate(rows)
  found = {'accuracy': accuracy(own), 'examples': example_count(own)}
  if rare_class_id is not None:
    for name in ('recall', 'precision', 'auc'):
      found[f'{rare_class}_{name}'] = value(own, name, class_id=rare_class_id)
  return {k: v for k, v in found.items() if v is not None and not math.isnan(v)}


def per_class(rows: Sequence[MetricRow], classes: Sequence[str],
              key: Slice = OVERALL) -> List[Dict[str, object]]:
  own = candidate(rows)
  table = []
  for class_id, name in enumerate(classes):
    entry = {'class_id': class_id, 'class': name}
    for metric in ('precision', 'recall', 'f1_score', 'auc', 'calibration'):
      entry[metric] = value(own, metric, key, class_id=class_id)
    table.append(entry)
  return table


def slices_of(rows: Iterable[MetricRow], column: str) -> List[Slice]:
  """Single-column slices of `column`, in value order."""
  found = {r.slice for r in rows if len(r.slice) == 1 and r.slice[0][0] == column}
  return sorted(found)


@dataclasses.dataclass(frozen=True)
class Gap:
  attribute: str
  metric: str
  class_id: Optional[int]
  worst: str
  worst_value: float
  best: str
  best_value: float
  gap: float
  flagged: bool
  slices_used: int
  slices_too_small: Tuple[str, ...]


# For each metric, whether a higher value is better (decides worst/best).
GAP_METRICS = (('recall', True), ('precision', True))
FI_GAP_METRICS = (('false_negative_rate', False), ('false_positive_rate', False))


def fairness_gaps(rows: Sequence[MetricRow], attributes: Sequence[str],
                  class_id: Optional[int], threshold: float = DEFAULT_GAP_THRESHOLD,
                  min_examples: int = MIN_SLICE_EXAMPLES,
                  positives: Optional[Dict[Slice, float]] = None,
                  min_positives: int = MIN_CLASS_EXAMPLES) -> List[Gap]:
  """Per protected attribute: max minus min of a metric across its slices.

  Metrics: the class's recall and precision, Fairness Indicators' FNR and FPR
  at every threshold computed, and accuracy. A gap above `threshold` is
  flagged. Slices under `min_examples` are left out; so are, for recall and
  FNR, slices with fewer than `min_positives` examples of the class when
  `positives` (from class_counts) is given.
  """
  own = candidate(rows)
  names = [(n, hi) for n, hi in GAP_METRICS]
  fi_names = sorted({r.name for r in own if r.name.startswith(FI_PREFIX)})
  for base, higher in FI_GAP_METRICS:
    names += [(n, higher) for n in fi_names if n[len(FI_PREFIX):].startswith(base + '@')]
  gaps = []
  for attribute in attributes:
    slices = slices_of(own, attribute)
    big = [s for s in slices if (example_count(own, s) or 0) >= min_examples]
    small = tuple(slice_label(s) for s in slices if s not in big)
    candidates = [(n, hi, class_id) for n, hi in names] + [('accuracy', True, None)]
    for name, higher_is_better, cid in candidates:
      values = {}
      needs_positives = positives is not None and any(
          name.split('/')[-1].startswith(p) for p in POSITIVE_BASED)
      used = [s for s in big if not needs_positives or positives.get(s, 0) >= min_positives]
      left_out = small + tuple(slice_label(s) for s in big if s not in used)
      for s in used:
        v = accuracy(own, s) if name == 'accuracy' else value(own, name, s, class_id=cid)
        if v is not None and not math.isnan(v):
          values[s] = v
      if len(values) < 2:
        continue
      low = min(values, key=values.get)
      high = max(values, key=values.get)
      worst, best = (low, high) if higher_is_better else (high, low)
      gap = values[high] - values[low]
      gaps.append(Gap(attribute, name[len(FI_PREFIX):] if name.startswith(FI_PREFIX)
                      else name, cid, slice_label(worst), values[worst],
                      slice_label(best), values[best], gap, gap > threshold,
                      len(values), left_out))
  return gaps


def sliced_table(rows: Sequence[MetricRow], class_id: Optional[int],
                 columns: Sequence[str],
                 positives: Optional[Dict[Slice, float]] = None) -> List[Dict[str, object]]:
  """One row per slice (overall first): count, accuracy and the class's recall/precision/AUC."""
  own = candidate(rows)
  keys = sorted({r.slice for r in own}, key=lambda k: (len(k), k))
  keys = [k for k in keys if not k or all(c in columns for c, _ in k)]
  table = []
  for key in keys:
    recall = value(own, 'recall', key, class_id=class_id)
    undefined = recall is None or math.isnan(recall)
    table.append({
        'slice': slice_label(key), 'examples': example_count(own, key),
        'positives': (positives or {}).get(key),
        'accuracy': accuracy(own, key),
        'recall': None if undefined else recall,
        'precision': value(own, 'precision', key, class_id=class_id),
        # TFMA reports AUC 0 for a slice without a positive example.
        'auc': None if undefined else value(own, 'auc', key, class_id=class_id)})
  return table


def baseline_comparison(rows: Sequence[MetricRow], class_id: Optional[int]) -> List[Dict[str, object]]:
  """Candidate vs baseline on the overall slice; empty without a baseline."""
  if not any(r.model == 'baseline' for r in rows):
    return []
  table = []
  for name, cid in ([('accuracy', None)] +
                    [(n, class_id) for n in ('recall', 'precision', 'auc')]):
    def get(model, diff=False, name=name, cid=cid):
      if name == 'accuracy':
        for alias in ACCURACY_NAMES:
          found = value(rows, alias, model=model, is_diff=diff)
          if found is not None:
            return found
        return None
      return value(rows, name, class_id=cid, model=model, is_diff=diff)
    table.append({'metric': name if cid is None else f'{name} (class {cid})',
                  'candidate': get('candidate'), 'baseline': get('baseline'),
                  'diff': get('candidate', True)})
  return table
