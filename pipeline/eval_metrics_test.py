"""The faster metrics give TFMA's own values, under TFMA's own keys."""

import pickle

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from fairness_indicators import fairness_indicators_metrics
from google.protobuf import json_format
from tensorflow_model_analysis.metrics import metric_types

from pipeline import eval_histogram
from pipeline import eval_metrics


def _inputs(seed=7, count=3000):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(count, 3))
  probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  # Predictions exactly on a threshold: "> threshold" decides, not ">=".
  probabilities[:40, 2] = 0.5
  probabilities[40:80, 2] = 0.25
  labels = rng.integers(0, 3, size=count)
  return [metric_types.StandardMetricInputs(
      labels=np.array([label]), predictions=p, example_weights=np.array([1.0]))
          for label, p in zip(labels, probabilities)]


def _evaluate(metric, inputs, chunks=3):
  """Runs a metric's computations as TFMA's evaluator does, in merged parts."""
  computations = metric.computations(
      sub_keys=[metric_types.SubKey(class_id=2)], example_weighted=False)
  results = {}
  combiners = [c for c in computations if isinstance(c, metric_types.MetricComputation)]
  for computation in combiners:
    combiner = computation.combiner
    parts = []
    for part in np.array_split(np.arange(len(inputs)), chunks):
      accumulator = combiner.create_accumulator()
      for i in part:
        accumulator = combiner.add_input(accumulator, inputs[i])
      parts.append(combiner.compact(accumulator))
    results.update(combiner.extract_output(combiner.merge_accumulators(parts)))
  for computation in computations:
    if isinstance(computation, metric_types.DerivedMetricComputation):
      results.update(computation.result(results))
  return {k: v for k, v in results.items() if not k.name.startswith('_')}


@pytest.mark.parametrize('tfma_metric, ours', [
    (tfma.metrics.Precision(), eval_metrics.FastPrecision()),
    (tfma.metrics.Recall(), eval_metrics.FastRecall()),
    (tfma.metrics.F1Score(), eval_metrics.FastF1Score()),
    (fairness_indicators_metrics.FairnessIndicators(thresholds=[0.25, 0.5, 0.75]),
     eval_metrics.FastFairnessIndicators(thresholds=[0.25, 0.5, 0.75])),
])
def test_same_keys_and_values_as_tfma(tfma_metric, ours):
  inputs = _inputs()
  expected = _evaluate(tfma_metric, inputs)
  found = _evaluate(ours, inputs)
  assert expected and set(found) == set(expected)
  for key, value in expected.items():
    assert found[key] == pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True), key


def test_the_fast_combiner_replaces_tfmas():
  computations = eval_metrics.FastPrecision().computations(
      sub_keys=[metric_types.SubKey(class_id=1)], example_weighted=False)
  combiners = [type(c.combiner) for c in computations
               if isinstance(c, metric_types.MetricComputation)]
  assert combiners == [eval_metrics.FastMatrices]


def test_combiners_sharing_elements_count_each_their_own_class():
  # As TFMA's evaluator calls them: every combiner on one element in turn.
  inputs = _inputs(seed=3, count=500)
  combiners = []
  for metric, class_id in ((eval_metrics.FastPrecision(), 0), (eval_metrics.FastPrecision(), 2),
                           (eval_metrics.FastFairnessIndicators(thresholds=[0.5]), 2)):
    for c in metric.computations(sub_keys=[metric_types.SubKey(class_id=class_id)],
                                 example_weighted=False):
      if isinstance(c, metric_types.MetricComputation):
        combiners.append(c.combiner)
  accumulators = [c.create_accumulator() for c in combiners]
  for element in inputs:
    accumulators = [c.add_input(a, element) for c, a in zip(combiners, accumulators)]
  for combiner, accumulator in zip(combiners, accumulators):
    alone = combiner.create_accumulator()
    for element in inputs:
      alone = combiner.add_input(alone, element)
    together = combiner.extract_output(accumulator)
    assert together == combiner.extract_output(alone)
  positives = [list(c.extract_output(a).values())[0][0.5].matrix.tp
               for c, a in zip(combiners, accumulators)]
  assert positives[0] != positives[1] and positives[1] == positives[2]


@pytest.mark.parametrize('tfma_metric, ours', [
    (tfma.metrics.Precision(), eval_metrics.FastPrecision()),
    (fairness_indicators_metrics.FairnessIndicators(thresholds=[0.5]),
     eval_metrics.FastFairnessIndicators(thresholds=[0.5])),
])
def test_no_examples_at_all_gives_tfmas_values(tfma_metric, ours):
  # An empty combine (a slice or a resample with nothing in it): zeros at every
  # threshold, so the derived metrics find each threshold they look up.
  expected = _evaluate(tfma_metric, [])
  found = _evaluate(ours, [])
  assert expected and set(found) == set(expected)
  for key, value in expected.items():
    assert found[key] == pytest.approx(value, nan_ok=True), key


@pytest.mark.parametrize('tfma_metric, ours', [
    (tfma.metrics.Calibration(), eval_metrics.FastCalibration()),
    (tfma.metrics.MultiClassConfusionMatrixPlot(),
     eval_metrics.FastMultiClassConfusionMatrixPlot()),
])
def test_cached_extraction_gives_tfmas_exact_values(tfma_metric, ours):
  # The same arithmetic in the same order as TFMA's combiners: equal, not close.
  inputs = _inputs()
  expected = _evaluate(tfma_metric, inputs)
  found = _evaluate(ours, inputs)
  assert expected and found == expected


def _leaves(value):
  if hasattr(value, 'DESCRIPTOR'):  # a plot's proto
    value = json_format.MessageToDict(value)
  if isinstance(value, dict):
    return {f'{k}/{p}': v for k, item in value.items() for p, v in _leaves(item).items()}
  if isinstance(value, list):
    return {f'{i}/{p}': v for i, item in enumerate(value) for p, v in _leaves(item).items()}
  return {'': value}


@pytest.mark.parametrize('tfma_metric, ours', [
    (tfma.metrics.AUC(num_thresholds=1000), eval_metrics.FastAUC(num_thresholds=1000)),
    (tfma.metrics.CalibrationPlot(num_buckets=20), eval_metrics.FastCalibrationPlot(num_buckets=20)),
])
def test_numpy_histograms_give_tfmas_values(tfma_metric, ours):
  # Same buckets; sums only in another order.
  inputs = _inputs()
  expected = _evaluate(tfma_metric, inputs)
  found = _evaluate(ours, inputs)
  assert expected and set(found) == set(expected)
  for key, value in expected.items():
    want, got = _leaves(value), _leaves(found[key])
    assert set(got) == set(want), key
    for path, number in want.items():
      assert got[path] == pytest.approx(number, rel=1e-12, abs=1e-12), (key, path)


def test_histogram_buckets_as_tfma_edges_and_pickling_included():
  from tensorflow_model_analysis.metrics import calibration_histogram  # pylint: disable=g-import-not-at-top
  predictions = np.array([0.0, 1.0, 0.5, 0.25, 0.05, 0.95, 0.999, 1e-9, 0.1, 0.1])
  inputs = [metric_types.StandardMetricInputs(
      labels=np.array([float(i % 2)]), predictions=np.array([p]),
      example_weights=np.array([0.5 + i])) for i, p in enumerate(predictions)]
  for num_buckets in (10, 1000):
    (tfma_computation,) = calibration_histogram.calibration_histogram(num_buckets=num_buckets)
    (computation,) = eval_metrics._fast([tfma_computation])  # pylint: disable=protected-access
    assert isinstance(computation.combiner, eval_histogram.FastHistogram)
    expected = tfma_computation.combiner.create_accumulator()
    for element in inputs:
      expected = tfma_computation.combiner.add_input(expected, element)
    ours = computation.combiner
    first, second = ours.create_accumulator(), ours.create_accumulator()
    for i, element in enumerate(inputs):
      if i < 4:
        first = ours.add_input(first, element)
      else:
        second = ours.add_input(second, element)
    # As Beam encodes accumulators between stages, one counted, one still pending.
    first = pickle.loads(pickle.dumps(ours.compact(first)))
    second = pickle.loads(pickle.dumps(second))
    merged = ours.merge_accumulators([ours.create_accumulator(), first, second])
    (want,) = tfma_computation.combiner.extract_output(expected).values()
    (got,) = ours.extract_output(merged).values()
    assert [b.bucket_id for b in got] == [b.bucket_id for b in want]
    assert got[0].bucket_id == 1 and got[-1].bucket_id == num_buckets + 1
    for a, b in zip(got, want):
      assert (a.weighted_labels, a.weighted_predictions, a.weighted_examples) == pytest.approx(
          (b.weighted_labels, b.weighted_predictions, b.weighted_examples), rel=1e-12)
    assert ours.extract_output(ours.create_accumulator()) == {computation.keys[0]: []}


def test_every_per_example_combiner_is_replaced():
  for metric in (eval_metrics.FastAUC(), eval_metrics.FastCalibration(),
                 eval_metrics.FastCalibrationPlot(),
                 eval_metrics.FastMultiClassConfusionMatrixPlot()):
    computations = metric.computations(
        sub_keys=[metric_types.SubKey(class_id=1)], example_weighted=False)
    for c in computations:
      if isinstance(c, metric_types.MetricComputation):
        assert type(c.combiner).__module__.startswith('pipeline.eval_') or isinstance(
            c.combiner._extract_label_prediction_and_weight,  # pylint: disable=protected-access
            eval_metrics._CachedExtraction), (metric, c.combiner)  # pylint: disable=protected-access


def _comparable(output):
  # Calibration's totals are a __slots__ object without equality.
  return {k: tuple(getattr(v, n) for n in v.__slots__) if hasattr(v, '__slots__') else v
          for k, v in output.items()}


def test_one_element_through_every_combiner_and_slice_in_turn():
  # As TFMA's evaluator calls them: the same element object to every combiner of
  # every slice it is in, before the next element. Each combiner must see its
  # own class's values however the cache was filled.
  inputs = _inputs(seed=5, count=400)
  combiners = []
  for metric, class_id in ((eval_metrics.FastAUC(num_thresholds=50), 0),
                           (eval_metrics.FastCalibration(), 2),
                           (eval_metrics.FastCalibrationPlot(num_buckets=10), 1),
                           (eval_metrics.FastPrecision(), 2),
                           (eval_metrics.FastMultiClassConfusionMatrixPlot(), None)):
    sub_keys = [metric_types.SubKey(class_id=class_id)] if class_id is not None else None
    for c in metric.computations(sub_keys=sub_keys, example_weighted=False):
      if isinstance(c, metric_types.MetricComputation):
        combiners.append(c.combiner)
  slices = 3
  accumulators = [[c.create_accumulator() for c in combiners] for _ in range(slices)]
  for element in inputs:
    for s in range(slices):
      accumulators[s] = [c.add_input(a, element) for c, a in zip(combiners, accumulators[s])]
  for i, combiner in enumerate(combiners):
    alone = combiner.create_accumulator()
    for element in inputs:
      alone = combiner.add_input(alone, element)
    for s in range(slices):
      assert (_comparable(combiner.extract_output(accumulators[s][i])) ==
              _comparable(combiner.extract_output(alone)))
  calibration_totals = [a for a in accumulators[0] if hasattr(a, 'total_weighted_labels')]
  assert calibration_totals[0].total_weighted_examples == len(inputs)


def test_accuracy_gives_keras_sparse_categorical_accuracy():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(11)
  probabilities = rng.dirichlet([1, 1, 1], size=2000).astype(np.float32)
  labels = rng.integers(0, 3, size=2000)
  weights = rng.uniform(0.5, 2.0, size=2000)
  inputs = [metric_types.StandardMetricInputs(
      labels=np.array([float(l)]), predictions=p, example_weights=np.array([w]))
            for l, p, w in zip(labels, probabilities, weights)]
  for weighted in (False, True):
    keras = tf.keras.metrics.SparseCategoricalAccuracy()
    keras.update_state(labels[:, None], probabilities, sample_weight=weights if weighted else None)
    (computation,) = eval_metrics.FastSparseCategoricalAccuracy().computations(
        example_weighted=weighted)
    combiner = computation.combiner
    parts = []
    for part in np.array_split(np.arange(len(inputs)), 3):
      accumulator = combiner.create_accumulator()
      for i in part:
        accumulator = combiner.add_input(accumulator, inputs[i])
      parts.append(pickle.loads(pickle.dumps(accumulator)))
    (value,) = combiner.extract_output(combiner.merge_accumulators(parts)).values()
    assert value == pytest.approx(float(keras.result()), rel=1e-6)
    assert 0.2 < value < 0.5  # chance level for three classes: a real comparison
