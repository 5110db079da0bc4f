"""Sanity check before training: can the model fit a tiny subset at all?

A model that cannot memorise a hundred examples will not learn from a
hundred thousand, and finding that out after a full training run (plus
Evaluator) wastes the run. Typical causes: labels misaligned with the
features, inputs that are constant after preprocessing, a learning rate
orders of magnitude off, or too little capacity. The check trains a fresh
model (never the one that is trained afterwards) on one full batch of the
first `num_examples` training examples until its accuracy on that same batch
reaches `target_accuracy`, and raises CannotOverfitError if it does not
within `max_steps` gradient steps.

Called from the Trainer's run_fn before model.fit; see assert_can_overfit.
"""

import dataclasses
import math
import time
from typing import Callable, Optional

from absl import logging
import numpy as np
import tensorflow as tf

DEFAULT_NUM_EXAMPLES = 128
DEFAULT_TARGET_ACCURACY = 0.95
DEFAULT_MAX_STEPS = 600
DEFAULT_CHECK_EVERY = 25


class CannotOverfitError(RuntimeError):
  """The model could not fit a tiny training subset; the message says how far it got."""


@dataclasses.dataclass(frozen=True)
class OverfitResult:
  num_examples: int
  steps: int
  accuracy: float
  initial_loss: float
  final_loss: float
  seconds: float
  majority_share: float  # accuracy of always predicting the subset's top class


def _first_batch(dataset: tf.data.Dataset, num_examples: int):
  """The first num_examples (features, labels) of a batched dataset, as one batch."""
  spec = dataset.element_spec
  if not isinstance(spec, tuple) or len(spec) != 2:
    raise ValueError(
        'assert_can_overfit needs a dataset of (features, labels) batches, got '
        f'elements of {spec}')
  # unbatch + batch rather than take(k batches): the dataset's batch size is
  # unknown here and the last batch may be short.
  subset = dataset.unbatch().take(num_examples).batch(num_examples)
  for features, labels in subset:
    return features, labels
  raise CannotOverfitError(
      'sanity check: the training dataset is empty, there is nothing to fit')


def _accuracy(model: tf.keras.Model, features, labels: np.ndarray) -> float:
  # Computed here rather than read from model.evaluate: the metric names a
  # builder compiles with vary, argmax over the probabilities does not.
  # training=False turns dropout off, as it is when the model is used.
  probabilities = model(features, training=False)
  predicted = np.argmax(np.asarray(probabilities), axis=-1).reshape(-1)
  return float(np.mean(predicted == labels))


def _check_arguments(num_examples: int, target_accuracy: float, max_steps: int,
                     check_every: int) -> None:
  if num_examples < 1:
    raise ValueError(f'num_examples must be >= 1, got {num_examples}')
  if not 0.0 < target_accuracy <= 1.0:
    raise ValueError(f'target_accuracy must be in (0, 1], got {target_accuracy}')
  if max_steps < 1 or check_every < 1:
    raise ValueError(f'max_steps and check_every must be >= 1, got {max_steps}, {check_every}')


def _build(model_builder: Callable[[], tf.keras.Model]) -> tf.keras.Model:
  model = model_builder()
  if not isinstance(model, tf.keras.Model):
    raise TypeError(f'model_builder must return a tf.keras.Model, got {type(model).__name__}')
  if getattr(model, 'optimizer', None) is None:
    raise TypeError('model_builder must return a compiled model (call model.compile)')
  return model


def assert_can_overfit(
    model_builder: Callable[[], tf.keras.Model],
    dataset: tf.data.Dataset,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
    max_steps: int = DEFAULT_MAX_STEPS,
    check_every: int = DEFAULT_CHECK_EVERY,
    seed: Optional[int] = None,
) -> OverfitResult:
  """Raises CannotOverfitError unless a fresh model fits a tiny subset.

  model_builder: returns a new *compiled* Keras model each call (the one
    trained afterwards must not carry the check's weights).
  dataset: batched (features, labels) training data, labels as class ids;
    only its first num_examples examples are read.
  target_accuracy: below 1.0 because real data may hold a few identical
    inputs with different labels, which no model can all get right.
  max_steps: full-batch gradient steps allowed; the check stops as soon as
    the target is reached, checking every `check_every` steps.
  seed: when given, seeds Python, NumPy and TensorFlow first so the check is
    reproducible. It consumes random state: re-seed before building the real
    model if the real run must not depend on whether the check ran.

  Returns how far it got (logged too).
  """
  _check_arguments(num_examples, target_accuracy, max_steps, check_every)
  if seed is not None:
    tf.keras.utils.set_random_seed(int(seed))

  started = time.time()
  features, labels = _first_batch(dataset, num_examples)
  labels = np.asarray(labels).reshape(-1).astype(np.int64)
  n = len(labels)
  majority_share = float(np.bincount(labels).max() / n)
  if majority_share >= target_accuracy:
    logging.warning(
        'sanity check: %.0f%% of the %d subset examples share one class, so '
        'reaching %.0f%% accuracy proves little', 100 * majority_share, n,
        100 * target_accuracy)

  model = _build(model_builder)

  accuracy = _accuracy(model, features, labels)
  steps, initial_loss, loss = 0, math.nan, math.nan
  while accuracy < target_accuracy and steps < max_steps:
    # train_on_batch rather than fit: fit's per-epoch set-up dominates on a
    # batch this small. Its loss is computed before the update, so the first
    # one is the untrained model's (model.evaluate would trace another graph,
    # seconds on a busy machine, for that one number).
    for _ in range(min(check_every, max_steps - steps)):
      result = model.train_on_batch(features, labels, return_dict=True)
      if steps == 0:
        initial_loss = float(result['loss'])
      steps += 1
    loss = float(result['loss'])
    if not math.isfinite(loss):
      raise CannotOverfitError(
          f'sanity check failed: the training loss became {loss} after {steps} '
          f'step(s) on {n} examples (initial loss {initial_loss:.4g}). Look for '
          f'NaN or infinite inputs after preprocessing, or a learning rate far too high.')
    accuracy = _accuracy(model, features, labels)

  result = OverfitResult(
      num_examples=n, steps=steps, accuracy=accuracy, initial_loss=initial_loss,
      final_loss=loss, seconds=time.time() - started, majority_share=majority_share)
  if accuracy < target_accuracy:
    raise CannotOverfitError(
        f'sanity check failed: the model could not fit {n} training examples. '
        f'Accuracy on them is {accuracy:.3f} after {steps} full-batch steps '
        f'(needed >= {target_accuracy:.3f}; always predicting the most common '
        f'class scores {majority_share:.3f}); loss {initial_loss:.4g} -> {loss:.4g}. '
        f'A model that cannot memorise a handful of examples will not learn from '
        f'the full training set, so the full training run was not started. '
        f'Likely causes: labels not aligned with the features, inputs constant or '
        f'all missing after preprocessing, a learning rate far too low, or too '
        f'little capacity.')
  logging.info(
      'sanity check passed: %d examples fitted to accuracy %.3f in %d steps '
      '(loss %.4g -> %.4g, %.1f s)', n, accuracy, steps, initial_loss, loss,
      result.seconds)
  return result
