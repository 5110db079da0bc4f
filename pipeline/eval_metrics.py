"""TFMA's metrics under their own names and keys, their base counts shared in one combiner.

Each class here is TFMA's metric (or Keras' sparse categorical accuracy as a
TFMA metric): same name, same keys, same derived computations. Only their
base computations (confusion matrices at explicit thresholds, calibration
histograms and totals, example counts, the multi-class confusion matrix,
the accuracy counts) are replaced by one computation that counts them all
with numpy (pipeline/eval_shared.py): TFMA keeps one copy of it, so each
(slice, example) is appended once instead of passing through ~18 Python
combiners.

Each class keeps its TFMA metric name (so its keys), under a class name of
its own: TFMA's metric_instance takes a registered class name (Precision,
FairnessIndicators) before MetricConfig.module, so a same-named class here
would never run. The accuracy is counted in float64 (Keras sums in float32:
the two differ in the 8th digit).
"""

import tensorflow_model_analysis as tfma
from fairness_indicators import fairness_indicators_metrics
from tensorflow_model_analysis.metrics import metric_types

from pipeline import eval_shared
from pipeline import eval_tasks


class _Shared:
  """Mixin: the metric's base computations come from the shared combiner."""

  # What eval_shared builds its combiner from: the EvalConfig's metrics with this mark.
  shares_base_computations = True

  def computations(self, *args, **kwargs):
    return eval_shared.share(super().computations(*args, **kwargs),  # pytype: disable=attribute-error
                             kwargs.get('eval_config'))


class FastSparseCategoricalAccuracy(_Shared, metric_types.Metric):
  """tf.keras' SparseCategoricalAccuracy (its name, key and value), as a TFMA metric."""

  def __init__(self, name: str = 'sparse_categorical_accuracy'):
    super().__init__(_accuracy_computations, name=name)


def _accuracy_computations(name: str, eval_config=None, model_names=None, output_names=None,
                           example_weighted: bool = False) -> metric_types.MetricComputations:
  del eval_config  # the shared combiner extracts with the EvalConfig it is built from
  return [eval_tasks.accuracy_computation(metric_types.MetricKey(
      name=name, model_name=model_name, output_name=output_name,
      example_weighted=example_weighted), example_weighted)
          for model_name in model_names or [''] for output_name in output_names or ['']]


class FastExampleCount(_Shared, tfma.metrics.ExampleCount):
  """TFMA's ExampleCount."""


class FastPrecision(_Shared, tfma.metrics.Precision):
  """TFMA's Precision."""


class FastRecall(_Shared, tfma.metrics.Recall):
  """TFMA's Recall."""


class FastF1Score(_Shared, tfma.metrics.F1Score):
  """TFMA's F1Score."""


class FastFairnessIndicators(_Shared, fairness_indicators_metrics.FairnessIndicators):
  """Fairness Indicators' rates at thresholds."""


class FastAUC(_Shared, tfma.metrics.AUC):
  """TFMA's AUC."""


class FastCalibration(_Shared, tfma.metrics.Calibration):
  """TFMA's Calibration."""


class FastCalibrationPlot(_Shared, tfma.metrics.CalibrationPlot):
  """TFMA's CalibrationPlot."""


class FastMultiClassConfusionMatrixPlot(_Shared, tfma.metrics.MultiClassConfusionMatrixPlot):
  """TFMA's MultiClassConfusionMatrixPlot."""
