"""The sanity check passes a model that can learn and stops one that cannot."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from models import model as model_lib
from models import sanity_check

CATEGORICAL = {'city': 4, 'score': 3}


def _dataset(n, labels='learnable', seed=0, batch_size=32):
  """Batched (features, labels) in the shape the tiny spec's model takes.

  labels: 'learnable' (a deterministic function of city and score, as real
  labels depend on features), 'random', or 'constant_inputs' (random labels,
  every input identical: a broken pipeline in its purest form).
  """
  rng = np.random.default_rng(seed)
  income = rng.normal(size=(n, 1)).astype(np.float32)
  missing = (rng.random((n, 1)) < 0.2).astype(np.float32)
  city = rng.integers(0, 4, size=(n, 1))
  score = rng.integers(0, 3, size=(n, 1))
  if labels == 'learnable':
    target = (city + score) % 3
  else:
    target = rng.integers(0, 3, size=(n, 1))
  if labels == 'constant_inputs':
    income, missing = np.zeros_like(income), np.zeros_like(missing)
    city, score = np.zeros_like(city), np.zeros_like(score)
  inputs = {'income_xf': income, 'income_missing_xf': missing,
            'city_xf': city, 'score_xf': score}
  return tf.data.Dataset.from_tensor_slices((inputs, target)).batch(batch_size)


def _builder(spec, **overrides):
  # The production model and, unless overridden, the default training
  # parameters of the shipped description (64-32 units, lr 0.002, dropout
  # 0.1): the check must pass with what the Trainer really builds.
  params = dataclasses.replace(spec.training, hidden_units=(64, 32),
                               learning_rate=0.002, dropout=0.1)
  params = dataclasses.replace(params, **overrides)
  return lambda: model_lib.build_keras_model(spec, CATEGORICAL, params)


def test_production_model_fits_a_learnable_subset_within_the_default_budget(tiny_spec):
  result = sanity_check.assert_can_overfit(
      _builder(tiny_spec), _dataset(400), num_examples=128, seed=1)
  assert result.num_examples == 128
  assert result.accuracy >= sanity_check.DEFAULT_TARGET_ACCURACY
  assert result.steps <= sanity_check.DEFAULT_MAX_STEPS
  assert result.final_loss < result.initial_loss
  assert result.majority_share < 0.5  # so reaching 95% proves something


def test_constant_inputs_cannot_be_fitted_and_the_error_says_so(tiny_spec):
  with pytest.raises(sanity_check.CannotOverfitError) as error:
    sanity_check.assert_can_overfit(
        _builder(tiny_spec, learning_rate=0.05), _dataset(128, labels='constant_inputs'),
        num_examples=64, max_steps=100, seed=1)
  message = str(error.value)
  assert 'could not fit 64 training examples' in message
  assert 'after 100 full-batch steps' in message
  assert 'labels not aligned with the features' in message


def test_a_far_too_low_learning_rate_is_caught(tiny_spec):
  with pytest.raises(sanity_check.CannotOverfitError, match='needed >= 0.950'):
    sanity_check.assert_can_overfit(
        _builder(tiny_spec, learning_rate=1e-7), _dataset(128), num_examples=64,
        max_steps=50, seed=1)


def test_the_check_is_reproducible_and_uses_what_there_is(tiny_spec):
  # 20 examples when 128 are asked for: the check fits what there is. Random
  # labels: only memorising fits them, a path long enough for any
  # nondeterminism to show.
  runs = [sanity_check.assert_can_overfit(
      _builder(tiny_spec, learning_rate=0.01), _dataset(20, labels='random', batch_size=8),
      num_examples=128, seed=3, check_every=5) for _ in range(2)]
  assert runs[0].num_examples == 20
  assert runs[0].steps == runs[1].steps
  assert runs[0].final_loss == pytest.approx(runs[1].final_loss, rel=1e-5)


def test_bad_arguments_are_rejected(tiny_spec):
  empty = _dataset(8).take(0)
  with pytest.raises(sanity_check.CannotOverfitError, match='empty'):
    sanity_check.assert_can_overfit(_builder(tiny_spec), empty)
  features_only = tf.data.Dataset.from_tensor_slices({'x': [1.0, 2.0]}).batch(2)
  with pytest.raises(ValueError, match=r'\(features, labels\)'):
    sanity_check.assert_can_overfit(_builder(tiny_spec), features_only)

  def uncompiled():
    inputs = tf.keras.Input(shape=(1,), name='income_xf')
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(inputs))
  with pytest.raises(TypeError, match='compiled'):
    sanity_check.assert_can_overfit(uncompiled, _dataset(8))
  with pytest.raises(ValueError, match='target_accuracy'):
    sanity_check.assert_can_overfit(_builder(tiny_spec), _dataset(8), target_accuracy=0)
