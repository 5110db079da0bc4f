"""The EvalConfig built from a dataset description."""

import os

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

import description
from pipeline import configs
from pipeline import eval_config


@pytest.fixture(scope='module')
def spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='module')
def config(spec):
  return eval_config.build(spec)


def test_slices_cover_overall_protected_attributes_tags_and_crosses(spec, config):
  slices = [tuple(s.feature_keys) for s in config.slicing_specs]
  assert () in slices  # overall
  for column in spec.protected_attributes + spec.tags:
    assert (column,) in slices
  assert ('gender', 'age_band') in slices


def test_model_spec_reads_the_transformed_label_and_probabilities(spec, config):
  (model_spec,) = config.model_specs
  assert model_spec.label_key == 'outcome_xf'
  assert model_spec.prediction_key == 'probabilities'
  assert model_spec.signature_name == 'serving_examples'
  assert list(model_spec.preprocessing_function_names) == ['transform_features']


def _metrics_by_class(config):
  found = {}
  for metrics_spec in config.metrics_specs:
    class_ids = tuple(metrics_spec.binarize.class_ids.values) or None
    for metric in metrics_spec.metrics:
      # Our faster classes (pipeline/eval_metrics.py) stand for TFMA's.
      found.setdefault(class_ids, {})[metric.class_name.replace('Fast', '', 1)] = metric
  return found


def test_per_class_metrics_for_every_class_including_the_rare_one(spec, config):
  by_class = _metrics_by_class(config)
  for class_id in range(spec.num_classes):
    metrics = by_class[(class_id,)]
    for name in ('Precision', 'Recall', 'F1Score', 'AUC', 'Calibration',
                 'CalibrationPlot', 'FairnessIndicators'):
      assert name in metrics, (class_id, name)
  fairness = by_class[(2,)]['FairnessIndicators']
  # Fairness Indicators' own metric, its matrices counted faster.
  assert fairness.module == 'pipeline.eval_metrics'
  from fairness_indicators import fairness_indicators_metrics
  import pipeline.eval_metrics
  assert issubclass(pipeline.eval_metrics.FastFairnessIndicators,
                    fairness_indicators_metrics.FairnessIndicators)
  assert '0.25' in fairness.config and '0.75' in fairness.config
  overall = by_class[None]
  assert 'MultiClassConfusionMatrixPlot' in overall
  assert 'SparseCategoricalAccuracy' in overall


def test_binary_label_computes_mirrored_metrics_once(spec):
  taxi = description.load(os.path.join(configs.REPO_ROOT, 'data', 'descriptions', 'taxi.yaml'))
  assert taxi.num_classes == 2
  by_class = _metrics_by_class(eval_config.build(taxi))
  # Class 1 ('yes') gets everything; class 0 its own precision, recall and
  # F1 but not AUC, calibration or fairness rates, which mirror class 1's.
  assert set(by_class[(1,)]) == set(eval_config.PER_CLASS_METRICS) | {
      'Calibration', 'CalibrationPlot', 'FairnessIndicators'}
  assert set(by_class[(0,)]) == set(eval_config.MIRROR_FREE_METRICS)
  # Three classes: nothing mirrors, every class gets every metric.
  assert spec.num_classes == 3
  multi = _metrics_by_class(eval_config.build(spec))
  assert all(set(multi[(c,)]) == set(by_class[(1,)]) for c in range(3))


def test_accuracy_is_a_tfma_metric_named_as_keras_names_it():
  import importlib
  module = importlib.import_module(eval_config.ACCURACY_MODULE)
  metric = getattr(module, eval_config.ACCURACY)()
  assert metric.name == 'sparse_categorical_accuracy'  # what reports read
  (computation,) = metric.computations(example_weighted=False)
  assert computation.keys == [metric_types.MetricKey(name='sparse_categorical_accuracy')]


def test_blessing_thresholds_come_from_the_description(spec, config):
  by_class = _metrics_by_class(config)
  accuracy_config = by_class[None]['SparseCategoricalAccuracy']
  (per_slice,) = accuracy_config.per_slice_thresholds
  # Gates apply to the overall slice only; slices are reported, not gated.
  assert [tuple(s.feature_keys) for s in per_slice.slicing_specs] == [()]
  accuracy = per_slice.threshold
  assert accuracy.value_threshold.lower_bound.value == pytest.approx(
      spec.evaluation.min_accuracy)
  assert accuracy.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
  assert accuracy.change_threshold.absolute.value == pytest.approx(
      -spec.evaluation.max_accuracy_drop)
  (rare_per_slice,) = by_class[(spec.rare_class_id,)]['Recall'].per_slice_thresholds
  assert [tuple(s.feature_keys) for s in rare_per_slice.slicing_specs] == [()]
  rare_recall = rare_per_slice.threshold
  assert rare_recall.value_threshold.lower_bound.value == pytest.approx(
      spec.evaluation.min_rare_class_recall)
  # Only the rare class carries a recall floor.
  for class_id in range(spec.num_classes):
    if class_id != spec.rare_class_id:
      assert not by_class[(class_id,)]['Recall'].per_slice_thresholds


def test_fairness_metric_module_is_importable():
  import importlib
  module = importlib.import_module(eval_config.FAIRNESS_MODULE)
  assert hasattr(module, 'FastFairnessIndicators')
