"""Feature engineering with TensorFlow Transform, driven by the dataset description.

The same graph runs in training (Transform component) and inside the serving
signatures (models/model.py), so there is no training/serving skew by
construction. Treatments:
  scale      -> z-score over present values (missing -> 0, the mean), plus a
                0/1 missing indicator;
  vocabulary -> integer id from a vocabulary computed on the training split,
                with one out-of-vocabulary bucket for categories never seen;
  bucketize  -> quantile bucket id, with one extra bucket for missing values;
  label      -> class id by the order of label.classes (-1 for an unknown
                class, which the schema's domain check reports before training).
"""

from typing import Any, Dict, Tuple

import tensorflow as tf
import tensorflow_transform as tft

import description

MISSING_TOKEN = '__missing__'

# Categories kept per vocabulary column, most frequent first; rarer ones share
# the out-of-vocabulary id. Below this many distinct values the vocabulary is
# exact.
MAX_VOCABULARY_SIZE = 100_000


def vocabulary_filename(column: str) -> str:
  return f'vocab_{column}'


def present_values(x, default) -> Tuple[tf.Tensor, tf.Tensor]:
  """Returns (values, present) as rank-1 tensors for a raw feature.

  Raw features come as SparseTensor when the schema allows them to be missing,
  and as dense [batch, 1] when it does not. NaN counts as missing so a float
  column behaves the same whether the CSV had an empty field or 'nan'.
  """
  if isinstance(x, tf.SparseTensor):
    shape = tf.stack([x.dense_shape[0], 1])
    first_only = tf.SparseTensor(x.indices, x.values, shape)
    values = tf.squeeze(tf.sparse.to_dense(first_only, default), axis=1)
    flags = tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.int64), shape)
    present = tf.squeeze(tf.sparse.to_dense(flags, 0), axis=1) > 0
  else:
    values = tf.reshape(x, [-1])
    present = tf.ones_like(values, tf.bool)
  if values.dtype.is_floating:
    present = tf.logical_and(present, tf.logical_not(tf.math.is_nan(values)))
  return values, present


def _as_column(x: tf.Tensor) -> tf.Tensor:
  # Transformed features are [batch, 1] so Keras inputs and TFMA agree on shape.
  return tf.reshape(x, [-1, 1])


def _scale(x) -> Tuple[tf.Tensor, tf.Tensor]:
  """z-score over the present values; a missing value becomes 0, the mean.

  Mean and variance come from the present values only (a missing value must
  not drag them), and from analyzers of the first phase: a z-score of an
  imputed value would nest analyzers, which TFX's deep-copy optimisation
  cannot run on Beam 2.74.
  """
  values, present = present_values(x, default=0)
  values = tf.cast(values, tf.float32)
  rows = tf.where(present)
  observed = tf.SparseTensor(
      indices=tf.concat([rows, tf.zeros_like(rows)], axis=1),
      values=tf.gather_nd(values, rows),
      dense_shape=tf.stack([tf.shape(values, out_type=tf.int64)[0],
                            tf.constant(1, tf.int64)]))
  scaled = tf.sparse.to_dense(tft.scale_to_z_score(observed), default_value=0.0)
  return tf.reshape(scaled, [-1]), tf.cast(tf.logical_not(present), tf.float32)


def _vocabulary(x, column: str) -> tf.Tensor:
  """Id by frequency rank, from a combiner-based (Misra-Gries) vocabulary.

  tft.vocabulary runs its own chain of Beam stages per column; the combiner
  form is packed with every other combiner of the phase (quantiles, z-score
  moments) into one pass over the data, and is exact below
  MAX_VOCABULARY_SIZE distinct values.
  """
  values, present = present_values(x, default='' if x.dtype == tf.string else 0)
  if values.dtype != tf.string:
    values = tf.strings.as_string(values)
  values = tf.where(present, values, MISSING_TOKEN)
  vocabulary = tft.experimental.approximate_vocabulary(
      values, top_k=MAX_VOCABULARY_SIZE, vocab_filename=vocabulary_filename(column))
  return tft.apply_vocabulary(values, vocabulary, num_oov_buckets=1)


def _bucketize(x, num_buckets: int) -> tf.Tensor:
  values, present = present_values(x, default=0)
  values = tf.cast(values, tf.float32)
  observed = tf.boolean_mask(values, present)
  boundaries = tft.quantiles(observed, num_buckets, epsilon=0.01)
  buckets = tft.apply_buckets(values, boundaries)
  return tf.where(present, buckets, tf.cast(num_buckets, tf.int64))


def label_to_class_id(label, classes) -> tf.Tensor:
  values, _ = present_values(label, default='')
  if values.dtype != tf.string:
    values = tf.strings.as_string(values)
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(list(classes)), tf.range(len(classes), dtype=tf.int64)),
      default_value=-1)
  return table.lookup(values)


def preprocessing_fn(inputs: Dict[str, Any],
                     custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
  """tf.Transform's callback; custom_config carries the dataset description."""
  spec = description.DatasetSpec.from_config(custom_config)
  outputs = {}
  for column in spec.features():
    x = inputs[column.name]
    name = description.transformed_name(column.name)
    if column.treatment == 'scale':
      outputs[name], missing = _scale(x)
      outputs[name] = _as_column(outputs[name])
      outputs[description.missing_indicator_name(column.name)] = _as_column(missing)
    elif column.treatment == 'vocabulary':
      outputs[name] = _as_column(_vocabulary(x, column.name))
    elif column.treatment == 'bucketize':
      outputs[name] = _as_column(_bucketize(x, column.buckets))
  if spec.label_rule:
    column, factor, times = spec.label_rule
    if column in inputs:  # Absent at serving time.
      outputs[spec.transformed_label] = _as_column(
          derived_label(inputs[column], factor, times and inputs[times]))
  elif spec.label in inputs:  # Absent at serving time.
    outputs[spec.transformed_label] = _as_column(
        label_to_class_id(inputs[spec.label], spec.classes))
  return outputs


def derived_label(value, factor: float, times=None) -> tf.Tensor:
  """Class 1 where value > factor * times (or > factor), else 0; missing -> 0."""
  value, _ = present_values(value, default=0)
  threshold = tf.constant(factor, tf.float32)
  if times is not None:
    base, present = present_values(times, default=0)
    threshold = tf.where(present, threshold * tf.cast(base, tf.float32), float('inf'))
  return tf.cast(tf.cast(value, tf.float32) > threshold, tf.int64)
