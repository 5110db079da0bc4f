"""TFMA metrics computed faster, to the same values under the same names.

Keras' sparse categorical accuracy as a TFMA metric of the same name and
key: TFMA wraps a Keras metric in a combiner that extracts every (slice,
example) itself, batches them per slice and runs update_state in
TensorFlow per batch (and Keras converts update_state with AutoGraph on
every fresh metric object). Here the weighted share of examples whose
argmax is the label is counted in float64 from the shared extraction
(pipeline/eval_extraction.py); Keras sums in float32, so the two differ in
the 8th digit.

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

import copy
from typing import Any, Dict, List

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from fairness_indicators import fairness_indicators_metrics
from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm
from tensorflow_model_analysis.metrics import binary_confusion_matrices
from tensorflow_model_analysis.metrics import calibration
from tensorflow_model_analysis.metrics import calibration_histogram
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics

from pipeline import eval_extraction
from pipeline import eval_histogram

# Examples buffered per accumulator before they are counted.
_FLUSH_EVERY = 1024


class FastSparseCategoricalAccuracy(metric_types.Metric):
  """tf.keras' SparseCategoricalAccuracy (its name, key and value), as a TFMA metric."""

  def __init__(self, name: str = 'sparse_categorical_accuracy'):
    super().__init__(_accuracy_computations, name=name)


def _accuracy_computations(name: str, eval_config=None, model_names=None, output_names=None,
                           example_weighted: bool = False) -> metric_types.MetricComputations:
  computations = []
  for model_name in model_names or ['']:
    for output_name in output_names or ['']:
      key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                   example_weighted=example_weighted)
      computations.append(metric_types.MetricComputation(
          keys=[key], preprocessors=None,
          combiner=_AccuracyCombiner(key, eval_config, example_weighted)))
  return computations


class _AccuracyCombiner(beam.CombineFn):
  """[weight of examples whose argmax is the label, weight of all examples]."""

  def __init__(self, key: metric_types.MetricKey, eval_config, example_weighted: bool):
    self._key = key
    # As TFMA's Keras wrapper extracts for a metric without sub key (tf_metric_wrapper.py).
    self._extraction = eval_extraction.Extraction(
        metric_util.to_label_prediction_example_weight, dict(
            eval_config=eval_config, model_name=key.model_name, output_name=key.output_name,
            example_weighted=example_weighted, flatten=False), eval_extraction.as_yielded)

  def create_accumulator(self) -> List[float]:
    return [0.0, 0.0]

  def add_input(self, accumulator: List[float], element) -> List[float]:
    for label, prediction, weight in eval_extraction.extracted(element, self._extraction):
      weight = float(np.sum(weight))
      # Keras: the label, squeezed, equal to the argmax cast to the label's type.
      if float(np.reshape(label, -1)[0]) == float(np.argmax(prediction)):
        accumulator[0] += weight
      accumulator[1] += weight
    return accumulator

  def merge_accumulators(self, accumulators) -> List[float]:
    accumulators = iter(accumulators)
    result = next(accumulators)
    for accumulator in accumulators:
      result[0] += accumulator[0]
      result[1] += accumulator[1]
    return result

  def extract_output(self, accumulator: List[float]) -> Dict[metric_types.MetricKey, float]:
    # Keras' MeanMetricWrapper divides with divide_no_nan: 0 for no examples.
    return {self._key: accumulator[0] / accumulator[1] if accumulator[1] else 0.0}


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
    # (label, prediction, weight) of one element, as TFMA's combiner extracts them.
    self._extraction = eval_extraction.Extraction(self._extract_label_prediction_and_weight, dict(
        eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, sub_key=self._key.sub_key,
        fractional_labels=self._enable_fractional_labels, flatten=True,
        aggregation_type=self._aggregation_type, class_weights=self._class_weights,
        example_weighted=self._example_weighted), eval_extraction.scalars)

  def create_accumulator(self) -> _Counts:
    return _Counts(len(self._thresholds))

  def add_input(self, accumulator: _Counts, element) -> _Counts:
    for label, prediction, weight in eval_extraction.extracted(element, self._extraction):
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


class FastCalibrationTotals(calibration._WeightedLabelsPredictionsExamplesCombiner):  # pylint: disable=protected-access
  """TFMA's weighted label/prediction/example totals (Calibration), on cached extractions."""

  def __init__(self, original: Any):
    self.__dict__.update(original.__dict__)
    self._extraction = eval_extraction.Extraction(metric_util.to_label_prediction_example_weight, dict(
        eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, sub_key=self._key.sub_key,
        aggregation_type=self._aggregation_type, class_weights=self._class_weights,
        example_weighted=self._example_weighted, allow_none=True), eval_extraction.as_yielded)

  def add_input(self, accumulator, element):
    # TFMA's add_input (calibration.py) without top_k, which _fast leaves to TFMA.
    for label, prediction, weight in eval_extraction.extracted(element, self._extraction):
      weight = float(weight)
      accumulator.total_weighted_examples += weight
      if label is not None and len(label):
        accumulator.total_weighted_labels += float(label) * weight
      if prediction is not None and len(label):
        accumulator.total_weighted_predictions += float(prediction) * weight
    return accumulator


class _CachedExtraction:
  """An extract_label_prediction_and_weight function, its results cached per element."""

  def __init__(self, function):
    self._function = function
    self._extractions: Dict[tuple, eval_extraction.Extraction] = {}

  def __call__(self, element, **kwargs):
    # Called with the same arguments for every element (one combiner's settings).
    extraction = self._extractions.get(tuple(kwargs))
    if extraction is None or extraction.kwargs != kwargs:
      extraction = eval_extraction.Extraction(self._function, kwargs, eval_extraction.as_yielded)
      self._extractions[tuple(kwargs)] = extraction
    return iter(eval_extraction.extracted(element, extraction))


def _fast(computations):
  """The computations, TFMA's per-example combiners replaced by the ones above."""
  out = []
  for computation in computations:
    combiner = getattr(computation, 'combiner', None)
    kind = type(combiner)
    fast = None
    # pylint: disable=protected-access,unidiomatic-typecheck
    if kind is binary_confusion_matrices._BinaryConfusionMatrixCombiner:
      if not combiner._example_id_key:
        fast = FastMatrices(combiner)
    elif kind is calibration_histogram._CalibrationHistogramCombiner:
      fast = eval_histogram.FastHistogram(combiner)
    elif kind is calibration._WeightedLabelsPredictionsExamplesCombiner:
      if not (combiner._key.sub_key and combiner._key.sub_key.top_k is not None):
        fast = FastCalibrationTotals(combiner)
    elif kind is multi_class_confusion_matrix_metrics._MultiClassConfusionMatrixCombiner:
      fast = copy.copy(combiner)
      fast._extract_label_prediction_and_weight = _CachedExtraction(
          combiner._extract_label_prediction_and_weight)
    if fast is not None:
      computation = metric_types.MetricComputation(
          keys=computation.keys, preprocessors=computation.preprocessors, combiner=fast)
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


class FastAUC(tfma.metrics.AUC):
  """TFMA's AUC; its calibration histogram on cached extractions."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))


class FastCalibration(tfma.metrics.Calibration):
  """TFMA's Calibration; its totals on cached extractions."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))


class FastCalibrationPlot(tfma.metrics.CalibrationPlot):
  """TFMA's CalibrationPlot; its histogram on cached extractions."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))


class FastMultiClassConfusionMatrixPlot(tfma.metrics.MultiClassConfusionMatrixPlot):
  """TFMA's MultiClassConfusionMatrixPlot; its combiner on cached extractions."""

  def computations(self, *args, **kwargs):
    return _fast(super().computations(*args, **kwargs))
