"""TFMA metrics computed faster, to the same values under the same names.

Keras' accuracy, updated without AutoGraph: TFMA runs a Keras metric's
update_state eagerly on batches of examples, and Keras converts update_state
with AutoGraph on every fresh metric object: on the taxi data that
conversion was 2 s of the Evaluator's 11 s, for code that has no Python
control flow over tensors to convert.

Precision, recall, F1 and Fairness Indicators at explicit thresholds: TFMA
counts their confusion matrices example by example, and for every threshold
builds and merges a record with example-id lists (empty here: no example id
key is configured), for every slice an example falls in: half of the
Evaluator's time on the default data. FastMatrices keeps the same per-example
label/prediction/weight extraction (TFMA's own function, binarization and
fractional labels included; done once per element and class for both
metrics) and counts buffered examples with numpy, into
the accumulator TFMA's derived metrics read. The counts are sums of the same
weights (exact for unit weights), the keys TFMA's own, so thresholds,
reports and blessing read them unchanged.

Each class keeps its TFMA metric name (so its keys), under a class name of
its own: TFMA's metric_instance takes a registered class name (Precision,
FairnessIndicators) before MetricConfig.module, so a same-named class here
would never run.
"""

import threading
from typing import Any, Dict, List, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from fairness_indicators import fairness_indicators_metrics
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.metrics import binary_confusion_matrices
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util

# Examples buffered per accumulator before they are counted.
_FLUSH_EVERY = 1024
_LAST_EXTRACTED = threading.local()


class SparseCategoricalAccuracy(tf.keras.metrics.SparseCategoricalAccuracy):
  """tf.keras' SparseCategoricalAccuracy, its update not converted by AutoGraph."""

  @tf.autograph.experimental.do_not_convert
  def update_state(self, y_true, y_pred, sample_weight=None):
    return super().update_state(y_true, y_pred, sample_weight=sample_weight)


class _Counts:
  """tp, tn, fp, fn per threshold, plus examples not yet counted."""

  __slots__ = ('matrix', 'labels', 'predictions', 'weights')

  def __init__(self, num_thresholds: int):
    self.matrix = np.zeros((num_thresholds, 4))
    self.labels: List[float] = []
    self.predictions: List[float] = []
    self.weights: List[float] = []


class FastMatrices(binary_confusion_matrices._BinaryConfusionMatrixCombiner):  # pylint: disable=protected-access
  """TFMA's explicit-threshold confusion-matrix combiner, counting with numpy."""

  def __init__(self, original: Any):
    # The original's settings, so key, extraction and thresholds are its own.
    self.__dict__.update(original.__dict__)
    # pylint: disable=protected-access
    self._thresholds = np.asarray(original._binary_confusion_matrices._thresholds, float)
    self._fractional = original._enable_fractional_labels

  def create_accumulator(self) -> _Counts:
    return _Counts(len(self._thresholds))

  def _extract(self, element) -> List[Tuple[float, float, float]]:
    """(label, prediction, weight) of one element, as TFMA's combiner extracts them.

    Precision's and Fairness Indicators' matrices of one class extract the
    same values from the same element one after the other: the last
    element's values are kept (per thread: Beam runs bundles in threads).
    """
    settings = (self._extract_label_prediction_and_weight, self._key.model_name,
                self._key.output_name, self._key.sub_key, self._enable_fractional_labels,
                self._aggregation_type, repr(self._class_weights), self._example_weighted)
    last = getattr(_LAST_EXTRACTED, 'value', None)
    if last is not None and last[0] is element and last[1] == settings:
      return last[2]
    values = [(metric_util.safe_to_scalar(label), metric_util.safe_to_scalar(prediction),
               metric_util.safe_to_scalar(weight))
              for label, prediction, weight in self._extract_label_prediction_and_weight(
                  element, eval_config=self._eval_config, model_name=self._key.model_name,
                  output_name=self._key.output_name, sub_key=self._key.sub_key,
                  fractional_labels=self._enable_fractional_labels, flatten=True,
                  aggregation_type=self._aggregation_type,
                  class_weights=self._class_weights,
                  example_weighted=self._example_weighted)]
    # The element itself is held, so its id cannot be reused while cached.
    _LAST_EXTRACTED.value = (element, settings, values)
    return values

  def add_input(self, accumulator: _Counts, element) -> _Counts:
    for label, prediction, weight in self._extract(element):
      accumulator.labels.append(label)
      accumulator.predictions.append(prediction)
      accumulator.weights.append(weight)
    if len(accumulator.labels) >= _FLUSH_EVERY:
      self._count(accumulator)
    return accumulator

  def _count(self, accumulator: _Counts) -> None:
    if not accumulator.labels:
      return
    labels = np.asarray(accumulator.labels, float)
    predictions = np.asarray(accumulator.predictions, float)
    weights = np.asarray(accumulator.weights, float)
    thresholds = self._thresholds[:, None]
    positive = (np.broadcast_to(labels == 1.0, (len(thresholds), len(labels)))
                if self._fractional else labels[None, :] > thresholds)
    predicted = predictions[None, :] > thresholds
    accumulator.matrix += np.stack([
        ((positive & predicted) * weights).sum(1),     # tp
        ((~positive & ~predicted) * weights).sum(1),   # tn
        ((~positive & predicted) * weights).sum(1),    # fp
        ((positive & ~predicted) * weights).sum(1),    # fn
    ], 1)
    accumulator.labels, accumulator.predictions, accumulator.weights = [], [], []

  def merge_accumulators(self, accumulators) -> _Counts:
    accumulators = iter(accumulators)
    result = next(accumulators)
    self._count(result)
    for accumulator in accumulators:
      self._count(accumulator)
      result.matrix += accumulator.matrix
    return result

  def compact(self, accumulator: _Counts) -> _Counts:
    self._count(accumulator)
    return accumulator

  def extract_output(self, accumulator: _Counts) -> Dict[metric_types.MetricKey, Any]:
    self._count(accumulator)
    # An accumulator that saw nothing still answers zeros at every threshold, as
    # TFMA's combiner does: the derived metrics look every threshold up.
    return {self._key: {
        float(t): bcm._ThresholdEntry(  # pylint: disable=protected-access
            bcm.Matrix(*(float(v) for v in row)), [], [], [], [])
        for t, row in zip(self._thresholds, accumulator.matrix)}}


def _fast(computations):
  """The computations, TFMA's id-free explicit-threshold matrices counted by FastMatrices."""
  out = []
  for computation in computations:
    combiner = getattr(computation, 'combiner', None)
    # pylint: disable=protected-access
    if (type(combiner) is binary_confusion_matrices._BinaryConfusionMatrixCombiner  # pylint: disable=unidiomatic-typecheck
        and not combiner._example_id_key):
      computation = metric_types.MetricComputation(
          keys=computation.keys, preprocessors=computation.preprocessors,
          combiner=FastMatrices(combiner))
    out.append(computation)
  return out


class FastPrecision(tfma.metrics.Precision):
  """TFMA's Precision; explicit-threshold matrices counted by FastMatrices."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))


class FastRecall(tfma.metrics.Recall):
  """TFMA's Recall; explicit-threshold matrices counted by FastMatrices."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))


class FastF1Score(tfma.metrics.F1Score):
  """TFMA's F1Score; explicit-threshold matrices counted by FastMatrices."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))


class FastFairnessIndicators(fairness_indicators_metrics.FairnessIndicators):
  """Fairness Indicators' rates; their matrices counted by FastMatrices."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))
