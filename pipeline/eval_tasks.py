"""The base computations the shared combiner counts, each as a task over arrays of rows.

A task stands for one of TFMA's base computations (its combiner, its keys) and
counts a batch of rows with numpy: one-vs-rest for a class is (label ==
class, probability of the class), as TFMA's select_class_id makes it. It
answers under the original keys, in the original output types (TFMA's own
create_accumulator, merge and extract_output where its state is simple), so
TFMA's derived metrics read it unchanged. task() says which computations
are tasks; the rest stay TFMA's own (pipeline/eval_shared.py).
"""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.metrics import binary_confusion_matrices
from tensorflow_model_analysis.metrics import calibration
from tensorflow_model_analysis.metrics import calibration_histogram
from tensorflow_model_analysis.metrics import example_count
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mccm


class Rows:
  """One source's buffered examples as arrays: labels (n,), probabilities (n, classes), weights (n,)."""

  __slots__ = ('labels', 'predictions', 'weights')

  def __init__(self, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray):
    self.labels, self.predictions, self.weights = labels, predictions, weights

  def one_vs_rest(self, class_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """(label, prediction) binarized for class_id, as TFMA's select_class_id gives them."""
    if not 0 <= class_id < self.predictions.shape[1]:
      raise ValueError(f'class_id {class_id} out of range of predictions with '
                       f'{self.predictions.shape[1]} classes')
    return (self.labels == class_id).astype(np.float64), self.predictions[:, class_id]


def _weights(task_weighted: bool, rows: Rows) -> np.ndarray:
  # Unweighted metrics count each example once, as TFMA does when
  # example_weighted is False.
  return rows.weights if task_weighted else np.ones_like(rows.weights)


class Task:
  """One base computation: its keys, its source (model, output) and how to count it."""

  def __init__(self, combiner: Any, key: metric_types.MetricKey, keys: List[Any]):
    self.combiner, self.keys = combiner, keys
    self.source = (key.model_name, key.output_name)
    self.weighted = bool(combiner._example_weighted)  # pylint: disable=protected-access
    self.class_id = key.sub_key.class_id if key.sub_key else None

  def create(self):
    return self.combiner.create_accumulator()

  def merge(self, state, other):
    return self.combiner.merge_accumulators([state, other])

  def output(self, state) -> Dict[Any, Any]:
    return self.combiner.extract_output(state)


class _ExampleCount(Task):
  """example_count: examples (or their weights) per slice."""

  def add(self, state: float, rows: Rows) -> float:
    return state + float(np.sum(_weights(self.weighted, rows)))


class _Accuracy(Task):
  """sparse_categorical_accuracy: the weight of rows whose argmax is the label."""

  def create(self):
    return np.zeros(2)

  def add(self, state: np.ndarray, rows: Rows) -> np.ndarray:
    weights = _weights(self.weighted, rows)
    hits = rows.labels == np.argmax(rows.predictions, axis=1)
    return state + [float(np.sum(weights[hits])), float(np.sum(weights))]

  def merge(self, state, other):
    return state + other

  def output(self, state) -> Dict[Any, float]:
    # Keras' MeanMetricWrapper divides with divide_no_nan: 0 for no examples.
    return {self.keys[0]: state[0] / state[1] if state[1] else 0.0}


class _MultiClassMatrix(Task):
  """TFMA's multi-class confusion matrices at thresholds, entry by entry."""

  def add(self, state, rows: Rows):
    weights = _weights(self.weighted, rows)
    actual = rows.labels.astype(np.int64)
    predicted = np.argmax(rows.predictions, axis=1)
    picked = np.arange(len(predicted))
    for threshold in self.combiner._thresholds:  # pylint: disable=protected-access
      # TFMA's loop: once below a threshold the row stays "no prediction"
      # (-1) for the thresholds after it, and it reads predictions[-1] then.
      below = rows.predictions[picked, predicted] <= threshold
      predicted = np.where(below, mccm.NO_PREDICTED_CLASS_ID, predicted)
      matrix = state.setdefault(threshold, {})
      pairs, inverse = np.unique(np.stack([actual, predicted], 1), axis=0, return_inverse=True)
      sums = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(pairs))
      for (a, p), weight in zip(pairs.tolist(), sums.tolist()):
        entry = mccm.MatrixEntryKey(a, p)
        matrix[entry] = matrix.get(entry, 0.0) + weight
    return state


class _ThresholdMatrices(Task):
  """TFMA's explicit-threshold binary confusion matrices (tp, tn, fp, fn per threshold)."""

  def __init__(self, combiner, key, keys):
    super().__init__(combiner, key, keys)
    # pylint: disable=protected-access
    self.thresholds = np.asarray(combiner._binary_confusion_matrices._thresholds, float)
    self.fractional = combiner._enable_fractional_labels

  def create(self):
    return np.zeros((len(self.thresholds), 4))

  def add(self, state: np.ndarray, rows: Rows) -> np.ndarray:
    labels, predictions = rows.one_vs_rest(self.class_id)
    weights = _weights(self.weighted, rows)
    thresholds = self.thresholds[:, None]
    # One-vs-rest labels are 0 or 1: fractional labels split nothing.
    positive = (np.broadcast_to(labels == 1.0, (len(thresholds), len(labels)))
                if self.fractional else labels[None, :] > thresholds)
    predicted = predictions[None, :] > thresholds
    return state + np.stack([
        ((positive & predicted) * weights).sum(1),     # tp
        ((~positive & ~predicted) * weights).sum(1),   # tn
        ((~positive & predicted) * weights).sum(1),    # fp
        ((positive & ~predicted) * weights).sum(1),    # fn
    ], 1)

  def merge(self, state, other):
    return state + other

  def output(self, state) -> Dict[Any, Any]:
    # Every threshold answers, zeros included, as TFMA's combiner does: the
    # derived metrics look every threshold up.
    return {self.keys[0]: {
        float(t): bcm._ThresholdEntry(bcm.Matrix(*(float(v) for v in row)), [], [], [], [])  # pylint: disable=protected-access
        for t, row in zip(self.thresholds, state)}}


class _Histogram(Task):
  """TFMA's calibration histogram (AUC, CalibrationPlot): per bucket, examples and weighted sums.

  The state is sparse, (indices of the buckets an example fell in, their sums):
  a slice's examples fall in few of AUC's 10,002 buckets, and Beam pickles
  accumulators between stages. A bucket exists once an example fell in it,
  as in TFMA, even if its weights sum to zero.
  """

  def __init__(self, combiner, key, keys):
    super().__init__(combiner, key, keys)
    # pylint: disable=protected-access
    self.num_buckets, self.left, self.range = (
        combiner._num_buckets, combiner._left, combiner._range)
    self.by_prediction = combiner._prediction_based_bucketing

  def create(self):
    return np.zeros(0, np.int64), np.zeros((0, 3))

  def _indices(self, values: np.ndarray) -> np.ndarray:
    # TFMA's _bucket_index: ((v - left) / range * num_buckets) + 1, truncated,
    # below 0 -> 0, from num_buckets + 1 on -> num_buckets + 1.
    index = (values - self.left) / self.range * self.num_buckets + 1
    if np.isnan(index).any():
      raise ValueError('NaN label or prediction in a calibration histogram')  # int(nan) in TFMA
    last = self.num_buckets + 1
    return np.where(index < 0, 0, np.where(index >= last, last, np.trunc(index))).astype(np.int64)

  def add(self, state, rows: Rows):
    labels, predictions = rows.one_vs_rest(self.class_id)
    weights = _weights(self.weighted, rows)
    index = self._indices(predictions if self.by_prediction else labels)
    sums = np.stack([labels * weights, predictions * weights, weights], 1)
    return self.merge(state, (index, sums))

  def merge(self, state, other):
    used, inverse = np.unique(np.concatenate([state[0], other[0]]), return_inverse=True)
    both = np.concatenate([state[1], other[1]])
    sums = np.stack([np.bincount(inverse, weights=both[:, c], minlength=len(used))
                     for c in range(3)], 1)
    return used, sums

  def output(self, state) -> Dict[Any, Any]:
    used, sums = state
    return {self.keys[0]: [calibration_histogram.Bucket(int(i), *(float(v) for v in row))
                           for i, row in zip(used, sums)]}


class _CalibrationTotals(Task):
  """Calibration's weighted label, prediction and example totals."""

  def add(self, state, rows: Rows):
    labels, predictions = rows.one_vs_rest(self.class_id)
    weights = _weights(self.weighted, rows)
    state.total_weighted_examples += float(np.sum(weights))
    state.total_weighted_labels += float(np.sum(labels * weights))
    state.total_weighted_predictions += float(np.sum(predictions * weights))
    return state


def task(computation) -> Optional[Task]:
  """The task for a base computation, or None when TFMA must run it itself."""
  if not isinstance(computation, metric_types.MetricComputation):
    return None
  combiner = computation.combiner
  kind = type(combiner)
  # pylint: disable=protected-access,unidiomatic-typecheck
  if kind is example_count._ExampleCountCombiner:
    keys = list(combiner._keys)
    return _ExampleCount(combiner, keys[0], keys) if keys else None
  if kind is AccuracyCounts:
    return _Accuracy(combiner, combiner._key, [combiner._key])
  key = getattr(combiner, '_key', None)
  if key is None:
    return None
  sub_key = key.sub_key
  if sub_key is not None and (sub_key.class_id is None or sub_key.k is not None or
                              sub_key.top_k is not None):
    return None
  if getattr(combiner, '_aggregation_type', None) or getattr(combiner, '_class_weights', None):
    return None
  if kind is mccm._MultiClassConfusionMatrixCombiner:
    if sub_key is None and (combiner._extract_label_prediction_and_weight
                            is metric_util.to_label_prediction_example_weight):
      return _MultiClassMatrix(combiner, key, [key])
    return None
  if sub_key is None:  # the binary tasks below are one-vs-rest
    return None
  if kind is binary_confusion_matrices._BinaryConfusionMatrixCombiner:
    if not combiner._example_id_key and (combiner._extract_label_prediction_and_weight
                                         is metric_util.to_label_prediction_example_weight):
      return _ThresholdMatrices(combiner, key, [key])
    return None
  if kind is calibration_histogram._CalibrationHistogramCombiner:
    return _Histogram(combiner, key, [key])
  if kind is calibration._WeightedLabelsPredictionsExamplesCombiner:
    return _CalibrationTotals(combiner, key, [key])
  return None


class AccuracyCounts:
  """Keras' sparse categorical accuracy as a base computation: the _Accuracy task counts it.

  Not a CombineFn of its own: share() always hands it to the shared combiner.
  """

  def __init__(self, key: metric_types.MetricKey, example_weighted: bool):
    self._key = key
    self._example_weighted = example_weighted


def accuracy_computation(key: metric_types.MetricKey,
                         example_weighted: bool) -> metric_types.MetricComputation:
  return metric_types.MetricComputation(
      keys=[key], preprocessors=None, combiner=AccuracyCounts(key, example_weighted))
