"""Builds the Evaluator's TFMA EvalConfig from the dataset description.

Evaluation beyond average accuracy: every protected attribute and tag is a
slice (plus the declared crosses), each class gets one-vs-rest precision,
recall, F1 and AUC, the confusion matrix and calibration are computed, and
Fairness Indicators report FPR/FNR at several thresholds per slice (for a
binary label, AUC, calibration and fairness once: the other class's mirror).

Blessing requires all of: overall accuracy above a floor, no drop beyond a
tolerance against the last blessed model, and the rare class's recall above
a floor. TFMA ignores change thresholds when there is no baseline yet.
"""

import json
from typing import List

import tensorflow_model_analysis as tfma

import description

ACCURACY = 'FastSparseCategoricalAccuracy'
# Same metrics, same names, their base counts shared by one numpy combiner
# (pipeline/eval_metrics.py, pipeline/eval_shared.py): Keras' sparse
# categorical accuracy as a TFMA metric, and TFMA's own metrics whose
# confusion matrices, histograms, totals and counts TFMA would otherwise
# count example by example in ~18 Python combiners per slice.
ACCURACY_MODULE = 'pipeline.eval_metrics'
FAIRNESS_MODULE = 'pipeline.eval_metrics'
FAST_METRICS_MODULE = 'pipeline.eval_metrics'
FAST_METRICS = {name: 'Fast' + name for name in (
    'Precision', 'Recall', 'F1Score', 'AUC', 'Calibration', 'CalibrationPlot',
    'MultiClassConfusionMatrixPlot', 'ExampleCount')}
PREDICTION_KEY = 'probabilities'
SIGNATURE = 'serving_examples'
PREPROCESSING_SIGNATURE = 'transform_features'

# Fewer thresholds and buckets than TFMA's defaults (10,000 and 1,000): the
# values agree to the third decimal and the Evaluator runs over ~60 slices.
METRIC_OPTIONS = {
    'AUC': json.dumps({'num_thresholds': 1000}),
    'CalibrationPlot': json.dumps({'num_buckets': 20}),
}


def _metric(name: str, config: str = '') -> tfma.MetricConfig:
  """TFMA's metric `name`, as its faster class when there is one."""
  if name in FAST_METRICS:
    return tfma.MetricConfig(class_name=FAST_METRICS[name], module=FAST_METRICS_MODULE,
                             config=config)
  return tfma.MetricConfig(class_name=name, config=config)


# The per-class metrics computed one-vs-rest for every class id.
PER_CLASS_METRICS = ('Precision', 'Recall', 'F1Score', 'AUC', 'ExampleCount')
# Those of them that are not a mirror of the other class's in a binary label.
MIRROR_FREE_METRICS = tuple(m for m in PER_CLASS_METRICS if m != 'AUC')


def slicing_specs(spec: description.DatasetSpec) -> List[tfma.SlicingSpec]:
  specs = [tfma.SlicingSpec()]
  specs += [tfma.SlicingSpec(feature_keys=[c]) for c in spec.slice_columns]
  specs += [tfma.SlicingSpec(feature_keys=list(c)) for c in spec.slice_crosses]
  return specs


def _overall_only(threshold: tfma.MetricThreshold):
  # Blessing judges the model as a whole; per-slice values are reported, not
  # gated (a 3-example slice would fail any floor by chance).
  return [tfma.PerSliceMetricThreshold(
      slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def _accuracy_threshold(evaluation: description.Evaluation) -> tfma.MetricThreshold:
  threshold = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(
          lower_bound={'value': evaluation.min_accuracy or 0.0}))
  drop = evaluation.max_accuracy_drop
  if drop is not None:
    threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER,
        # Floating noise between identical models must not block a push.
        absolute={'value': -max(drop, 1e-10)}))
  return threshold


def metrics_specs(spec: description.DatasetSpec) -> List[tfma.MetricsSpec]:
  evaluation = spec.evaluation
  overall = tfma.MetricsSpec(metrics=[
      _metric('ExampleCount'),
      tfma.MetricConfig(
          class_name=ACCURACY, module=ACCURACY_MODULE,
          per_slice_thresholds=_overall_only(_accuracy_threshold(evaluation))),
      _metric('MultiClassConfusionMatrixPlot'),
  ])
  specs = [overall]
  thresholds = list(evaluation.fairness_thresholds)
  rare_id = spec.rare_class_id
  # With two classes one class's AUC, calibration and fairness rates are the
  # other's mirrored (p0 = 1 - p1): those are computed once, for the rare
  # class. Precision, recall and F1 differ per class and are kept for both.
  focus_id = rare_id if rare_id is not None else spec.num_classes - 1
  # One spec per class so the rare class alone can carry a recall floor.
  for class_id in range(spec.num_classes):
    mirror = spec.num_classes == 2 and class_id != focus_id
    metrics = []
    for name in MIRROR_FREE_METRICS if mirror else PER_CLASS_METRICS:
      config = _metric(name, METRIC_OPTIONS.get(name, ''))
      if (name == 'Recall' and class_id == rare_id and
          evaluation.min_rare_class_recall is not None):
        config.per_slice_thresholds.extend(_overall_only(tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={'value': evaluation.min_rare_class_recall}))))
      metrics.append(config)
    if not mirror:
      metrics += [
          _metric('Calibration'),
          _metric('CalibrationPlot', METRIC_OPTIONS['CalibrationPlot']),
          tfma.MetricConfig(
              class_name='FastFairnessIndicators', module=FAIRNESS_MODULE,
              config=json.dumps({'thresholds': thresholds})),
      ]
    specs.append(tfma.MetricsSpec(
        metrics=metrics,
        binarize=tfma.BinarizationOptions(class_ids={'values': [class_id]})))
  return specs


def build(spec: description.DatasetSpec) -> tfma.EvalConfig:
  return tfma.EvalConfig(
      model_specs=[
          tfma.ModelSpec(
              # Our signatures carry everything TFMA needs. As 'tf_keras'
              # (detected by default) TFMA loads the model with Keras twice,
              # to detect the type and again to use it, and adds the compiled
              # loss and a duplicate accuracy: 16 of the Evaluator's 36 s on
              # the taxi data, for the same 1,054 metric values
              # (benchmarks/profile_evaluator.py, variants full, tf_generic).
              model_type=tfma.TF_GENERIC,
              signature_name=SIGNATURE,
              label_key=spec.transformed_label,
              prediction_key=PREDICTION_KEY,
              preprocessing_function_names=[PREPROCESSING_SIGNATURE])
      ],
      slicing_specs=slicing_specs(spec),
      metrics_specs=metrics_specs(spec))
