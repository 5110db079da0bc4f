"""Our metrics give TFMA's own values under TFMA's own keys, their base counts shared."""

import copy
import pickle

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator as mpv
from tensorflow_model_analysis.metrics import calibration_histogram
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import config_util

import description
from pipeline import eval_config
from pipeline import eval_metrics
from pipeline import eval_shared


def _probabilities(rng, count, classes):
  logits = rng.normal(size=(count, classes))
  probabilities = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
  # Predictions exactly on a threshold: "> threshold" decides, not ">=".
  probabilities[:40, -1] = 0.5
  probabilities[40:80, -1] = 0.25
  return probabilities


def _inputs(classes=3, seed=7, count=3000, models=None):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, classes, size=count)
  if models:
    predictions = [dict(zip(models, p)) for p in zip(
        *(_probabilities(rng, count, classes) for _ in models))]
  else:
    predictions = list(_probabilities(rng, count, classes))
  return [metric_types.StandardMetricInputs(
      labels=np.array([label]), predictions=p, example_weights=np.array([1.0]))
          for label, p in zip(labels, predictions)]


def _run(computations, inputs, chunks=3):
  """Runs computations as TFMA's evaluator does: in parts, pickled between stages, merged."""
  separated = mpv._filter_and_separate_computations(computations)  # pylint: disable=protected-access
  results = {}
  for computation in separated.non_derived_computations:
    combiner = computation.combiner
    parts = []
    for part in np.array_split(np.arange(len(inputs)), chunks):
      accumulator = combiner.create_accumulator()
      for i in part:
        accumulator = combiner.add_input(accumulator, inputs[i])
      parts.append(pickle.loads(pickle.dumps(accumulator)))
    results.update(combiner.extract_output(combiner.merge_accumulators(parts)))
  for computation in separated.derived_computations:
    results.update(computation.result(results))
  return results, separated


def _spec(name):
  return description.load(f'data/descriptions/{name}.yaml')


def _configs(name, baseline=False):
  """(our EvalConfig as the pipeline builds it, the same with TFMA's own classes)."""
  # As the Evaluator completes it: a candidate and a baseline model, or a first run.
  ours = config_util.update_eval_config_with_defaults(
      eval_config.build(_spec(name)), has_baseline=baseline, rubber_stamp=not baseline)
  theirs = copy.deepcopy(ours)
  for spec in theirs.metrics_specs:
    keep = []
    for metric in spec.metrics:
      if metric.class_name == eval_config.ACCURACY:
        continue  # Keras' own, compared on its own below
      metric.class_name = metric.class_name.replace('Fast', '', 1)
      metric.module = ''
      keep.append(metric)
    del spec.metrics[:]
    spec.metrics.extend(keep)
  return ours, theirs


def _leaves(value):
  if hasattr(value, 'DESCRIPTOR'):  # a plot's proto
    value = json_format.MessageToDict(value)
  if hasattr(value, '__slots__') and not isinstance(value, dict):  # calibration totals
    value = {n: getattr(value, n) for n in value.__slots__}
  if isinstance(value, dict):
    return {f'{k}/{p}': v for k, item in value.items() for p, v in _leaves(item).items()}
  if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
    return {f'{i}/{p}': v for i, item in enumerate(value) for p, v in _leaves(item).items()}
  if hasattr(value, '_fields'):  # TFMA's namedtuples (Bucket, Matrix, ...)
    return {f'{k}/{p}': v for k, item in value._asdict().items() for p, v in _leaves(item).items()}
  return {'': value}


def _assert_same(found, expected):
  assert expected and set(found) >= set(expected)
  for key, value in expected.items():
    want, got = _leaves(value), _leaves(found[key])
    assert set(got) == set(want), key
    for path, number in want.items():
      if isinstance(number, (int, float, np.number)):
        # Same buckets and counts; sums only in another order.
        assert got[path] == pytest.approx(number, rel=1e-12, abs=1e-12, nan_ok=True), (key, path)
      else:
        assert got[path] == number, (key, path)


@pytest.mark.parametrize('name, baseline, classes', [
    ('credit_risk', False, 3), ('credit_risk', True, 3), ('taxi', False, 2)])
def test_the_pipelines_config_gives_tfmas_values_for_every_key(name, baseline, classes):
  ours, theirs = _configs(name, baseline)
  models = ['candidate', 'baseline'] if baseline else None
  inputs = _inputs(classes=classes, models=models)
  expected, _ = _run(metric_specs.to_computations(theirs.metrics_specs, eval_config=theirs), inputs)
  found, separated = _run(metric_specs.to_computations(ours.metrics_specs, eval_config=ours),
                          inputs)
  _assert_same(found, expected)
  # Every key TFMA computes is there, derived and private ones included; ours
  # adds only the accuracy.
  assert {k.name for k in set(found) - set(expected)} == {'sparse_categorical_accuracy'}
  assert len({k.model_name for k in expected}) == (2 if baseline else 1)
  # And all of it from one combiner.
  (shared,) = separated.non_derived_computations
  assert isinstance(shared.combiner, eval_shared.SharedCombiner)


def test_an_empty_slice_gives_tfmas_values():
  # A slice or a resample with nothing in it: zeros at every threshold, so the
  # derived metrics find each threshold they look up.
  ours, theirs = _configs('credit_risk')
  found, _ = _run(metric_specs.to_computations(ours.metrics_specs, eval_config=ours), [], 1)
  expected, _ = _run(metric_specs.to_computations(theirs.metrics_specs, eval_config=theirs), [], 1)
  _assert_same(found, expected)


def test_the_slices_of_one_example_each_count_it():
  # As TFMA's evaluator calls the combiner: the same element object for every
  # slice it is in, before the next element (the extraction is cached).
  ours, _ = _configs('credit_risk')
  separated = mpv._filter_and_separate_computations(  # pylint: disable=protected-access
      metric_specs.to_computations(ours.metrics_specs, eval_config=ours))
  combiner = separated.non_derived_computations[0].combiner
  inputs = _inputs(seed=5, count=2500)
  slices = [combiner.create_accumulator() for _ in range(3)]
  for i, element in enumerate(inputs):
    for s in range(3):
      if s < 2 or i % 2:
        slices[s] = combiner.add_input(slices[s], element)
  alone = combiner.create_accumulator()
  for element in inputs[1::2]:
    alone = combiner.add_input(alone, element)
  outputs = [combiner.extract_output(a) for a in slices]
  assert _leaves(outputs[0]) == _leaves(outputs[1])
  assert _leaves(outputs[2]) == _leaves(combiner.extract_output(alone))
  count_key = metric_types.MetricKey('example_count')
  assert (outputs[0][count_key], outputs[2][count_key]) == (2500, 1250)


@pytest.mark.parametrize('ours, sub_keys', [
    (eval_metrics.FastPrecision(), [metric_types.SubKey(class_id=1)]),
    (eval_metrics.FastAUC(num_thresholds=50), [metric_types.SubKey(class_id=0)]),
    (eval_metrics.FastCalibration(), [metric_types.SubKey(class_id=2)]),
    (eval_metrics.FastCalibrationPlot(num_buckets=10), [metric_types.SubKey(class_id=1)]),
    (eval_metrics.FastFairnessIndicators(thresholds=[0.25, 0.5]),
     [metric_types.SubKey(class_id=1)]),
    # Above a threshold, a row's class stays "no prediction" for the rest (TFMA's loop).
    (eval_metrics.FastMultiClassConfusionMatrixPlot(thresholds=[0.45, 0.4, 0.6]), None)])
def test_a_metric_on_its_own_gives_tfmas_values(ours, sub_keys):
  # Without an EvalConfig (a metric used alone) the combiner holds its tasks only.
  theirs = type(ours).__mro__[2](**ours.get_config())
  inputs = _inputs(seed=3, count=800)
  expected, _ = _run(theirs.computations(sub_keys=sub_keys, example_weighted=False), inputs)
  found, _ = _run(ours.computations(sub_keys=sub_keys, example_weighted=False), inputs)
  _assert_same(found, expected)


def test_histogram_buckets_at_tfmas_edges_weights_included():
  predictions = np.array([0.0, 1.0, 0.5, 0.25, 0.05, 0.95, 0.999, 1e-9, 0.1, 0.1])
  inputs = [metric_types.StandardMetricInputs(
      labels=np.array([float(i % 2)]), predictions=np.array([1 - p, p]),
      example_weights=np.array([0.5 + i])) for i, p in enumerate(predictions)]
  for num_buckets in (10, 1000):
    computations = calibration_histogram.calibration_histogram(
        num_buckets=num_buckets, sub_key=metric_types.SubKey(class_id=1), example_weighted=True)
    expected, _ = _run(computations, inputs, chunks=2)
    found, _ = _run(eval_shared.share(computations, None), inputs, chunks=2)
    _assert_same(found, expected)
    (buckets,) = found.values()
    assert buckets[0].bucket_id == 1 and buckets[-1].bucket_id == num_buckets + 1


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
    found, _ = _run(eval_metrics.FastSparseCategoricalAccuracy().computations(
        example_weighted=weighted), inputs)
    (value,) = found.values()
    assert value == pytest.approx(float(keras.result()), rel=1e-6)
    assert 0.2 < value < 0.5  # chance level for three classes: a real comparison


def test_a_prediction_that_is_not_a_probability_vector_is_named():
  computations = eval_metrics.FastPrecision().computations(
      sub_keys=[metric_types.SubKey(class_id=0)], example_weighted=False)
  element = metric_types.StandardMetricInputs(
      labels=np.array([1]), predictions=np.array([0.7]), example_weights=np.array([1.0]))
  with pytest.raises(ValueError, match=r'vector of class probabilities.*prediction array\(\[0\.7'):
    _run(computations, [element])
