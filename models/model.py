"""The Keras model and the Trainer's run_fn.

A small DNN over the transformed features: z-scored numerics and their missing
indicators, embeddings for vocabulary ids, one-hot quantile buckets. Rare
classes are up-weighted by class weights computed from the training split.

The exported SavedModel carries three signatures, all applying the Transform
graph first so serving takes raw values:
  serving_default     raw feature values as named rank-1 tensors (float32 for
                      numbers, NaN = missing; string for categories, '' =
                      missing), the TensorFlow Serving REST contract;
  serving_examples    serialized tf.Example, for TFMA and gRPC-style clients;
  transform_features  serialized tf.Example -> transformed features, so TFMA
                      reads the integer label the model was trained on.
Outputs: probabilities [N, K], class_ids [N], classes [N].
"""

import contextlib
import json
import math
import os
import time
from typing import Dict, List

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.tfxio import dataset_util

import description
from models import preprocessing
from models import sanity_check

# The order training examples are shuffled in: tfx_bsl's default buffer, and a
# fixed seed so the same data trains the same model.
SHUFFLE_BUFFER = 10000
SHUFFLE_SEED = 7


def _embedding_dim(vocab_size: int) -> int:
  return int(min(16, max(2, math.ceil(vocab_size ** 0.5))))


def categorical_sizes(spec: description.DatasetSpec,
                      tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
  """Number of distinct ids each categorical transformed feature can take."""
  sizes = {}
  for column in spec.features('vocabulary'):
    vocab = tf_transform_output.vocabulary_size_by_name(
        preprocessing.vocabulary_filename(column.name))
    sizes[column.name] = vocab + 1  # + the out-of-vocabulary bucket
  for column in spec.features('bucketize'):
    sizes[column.name] = column.buckets + 1  # + the missing bucket
  return sizes


def _steps_without_autograph(model: tf.keras.Model) -> tf.keras.Model:
  """Has Keras trace the model's train/test/predict steps as plain Python.

  Keras traces its step functions with AutoGraph on, which converts the
  source of every tf_keras function a step calls (the loss, the optimizer,
  each layer) the first time a process traces them: 16 s of the Trainer's
  first step on a 2-core machine, against 1 s for the same graph traced
  without it. The steps hold no tensor-dependent Python control flow, so the
  graph is the same (the sanity check's losses agree to the last digit).
  Set on the instance, so the model stays a plain functional Keras model.
  """
  for name in ('train_step', 'test_step', 'predict_step'):
    setattr(model, name, tf.autograph.experimental.do_not_convert(getattr(model, name)))
  return model


def build_keras_model(spec: description.DatasetSpec,
                      categorical: Dict[str, int],
                      training: description.Training) -> tf.keras.Model:
  """A DNN over the transformed features; outputs class probabilities."""
  inputs, parts = {}, []
  for column in spec.features('scale'):
    for name in (description.transformed_name(column.name),
                 description.missing_indicator_name(column.name)):
      inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.float32)
      parts.append(inputs[name])
  for column in spec.features('vocabulary'):
    name = description.transformed_name(column.name)
    inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
    size = categorical[column.name]
    embedded = tf.keras.layers.Embedding(size, _embedding_dim(size))(inputs[name])
    parts.append(tf.keras.layers.Flatten()(embedded))
  for column in spec.features('bucketize'):
    name = description.transformed_name(column.name)
    inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
    parts.append(tf.keras.layers.CategoryEncoding(
        num_tokens=categorical[column.name], output_mode='one_hot')(inputs[name]))

  x = tf.keras.layers.concatenate(parts) if len(parts) > 1 else parts[0]
  for units in training.hidden_units:
    x = tf.keras.layers.Dense(units, activation='relu')(x)
    if training.dropout:
      x = tf.keras.layers.Dropout(training.dropout)(x)
  outputs = tf.keras.layers.Dense(
      spec.num_classes, activation='softmax', name='probabilities')(x)

  model = tf.keras.Model(inputs=inputs, outputs=outputs)
  model.compile(
      optimizer=tf.keras.optimizers.Adam(training.learning_rate),
      loss=tf.keras.losses.SparseCategoricalCrossentropy(),
      metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name='accuracy')])
  return _steps_without_autograph(model)


def class_weights(counts: np.ndarray, scheme: str) -> Dict[int, float]:
  """Per-class loss weights, normalised so the average example weighs 1.

  `sqrt_inverse_frequency` is the default for the rare class: full inverse
  frequency over-corrects a 3% class into many false alarms.
  """
  counts = np.asarray(counts, dtype=np.float64)
  if scheme == 'none' or counts.sum() == 0:
    return {i: 1.0 for i in range(len(counts))}
  freq = np.maximum(counts, 1.0) / counts.sum()
  raw = 1.0 / freq if scheme == 'inverse_frequency' else 1.0 / np.sqrt(freq)
  raw = raw / np.sum(raw * freq)
  return {i: float(w) for i, w in enumerate(raw)}


def label_counts(dataset: tf.data.Dataset, num_classes: int) -> np.ndarray:
  counts = np.zeros(num_classes, dtype=np.int64)
  for _, labels in dataset:
    ids = labels.numpy().reshape(-1)
    if (ids < 0).any() or (ids >= num_classes).any():
      bad = sorted(set(ids[(ids < 0) | (ids >= num_classes)].tolist()))
      raise ValueError(
          f'training labels outside the declared classes (class ids {bad}); '
          f'the label column holds a value not listed in label.classes')
    counts += np.bincount(ids, minlength=num_classes)
  return counts


def _input_fn(file_pattern: List[str], feature_spec: Dict[str, tf.io.FixedLenFeature],
              label_key: str, batch_size: int, shuffle: bool) -> tf.data.Dataset:
  """Batches of (transformed features, label) from Transform's examples.

  The steps of tfx_bsl's TFExampleRecord.TensorFlowDataset (what the Trainer's
  data_accessor.tf_dataset_factory returns) with one change: it reads the
  files through a *parallel* interleave, a kernel that hands every record to
  the consumer from background threads (tensorflow/tensorflow#33105). For
  records of a few hundred bytes the hand-offs cost ten times the reading:
  32-80 s against 3-10 s for the 700,000 training rows of a million-row span
  on two cores. That kernel's cycle is ceil(cores / 3) files (TensorFlow's
  ComputeCycleLength), one on two cores: so this reads the files one after
  another, and yields tfx_bsl's batches byte for byte where the models of
  this project have been trained, and the same order on any machine.
  """
  patterns = tf.convert_to_tensor(file_pattern)
  files = tf.data.Dataset.list_files(patterns, shuffle=shuffle, seed=SHUFFLE_SEED)
  compression = dataset_util.detect_compression_type(patterns)
  records = files.flat_map(lambda name: tf.data.TFRecordDataset(name, compression))
  if shuffle:
    records = records.shuffle(SHUFFLE_BUFFER, SHUFFLE_SEED)
  batches = records.batch(batch_size).apply(
      tf.data.experimental.parse_example_dataset(feature_spec))
  return batches.map(lambda x: (x, x.pop(label_key))).prefetch(tf.data.AUTOTUNE)


def _raw_serving_inputs(spec: description.DatasetSpec):
  return {
      c.name: tf.TensorSpec(
          [None], tf.string if c.type == 'string' else tf.float32, name=c.name)
      for c in spec.features()
  }


def _to_raw_feature(value: tf.Tensor, feature_spec, column: description.Column):
  """A dense serving tensor -> the form the Transform graph parsed in training."""
  if column.type == 'string':
    present = tf.strings.length(value) > 0
  else:
    present = tf.logical_not(tf.math.is_nan(value))
    value = tf.cast(value, feature_spec.dtype) if column.type == 'int' else value
  if isinstance(feature_spec, tf.io.FixedLenFeature):
    return tf.reshape(value, [-1, 1])
  rows = tf.cast(tf.where(present)[:, 0], tf.int64)
  return tf.SparseTensor(
      indices=tf.stack([rows, tf.zeros_like(rows)], axis=1),
      values=tf.boolean_mask(value, present),
      dense_shape=tf.stack([tf.shape(value, out_type=tf.int64)[0],
                            tf.constant(1, tf.int64)]))


def _prediction_outputs(probabilities: tf.Tensor, classes) -> Dict[str, tf.Tensor]:
  class_ids = tf.argmax(probabilities, axis=1)
  return {
      'probabilities': probabilities,
      'class_ids': class_ids,
      'classes': tf.gather(tf.constant(list(classes)), class_ids),
  }


def make_signatures(model: tf.keras.Model, spec: description.DatasetSpec,
                    tf_transform_output: tft.TFTransformOutput) -> Dict:
  # Attach the layer to the model so it is tracked and saved with it.
  model.tft_layer = tf_transform_output.transform_features_layer()
  raw_feature_spec = tf_transform_output.raw_feature_spec()
  serving_feature_spec = {
      k: v for k, v in raw_feature_spec.items()
      if k not in spec.label_only_columns}

  def predict(raw_features):
    transformed = model.tft_layer(raw_features)
    model_inputs = {k: transformed[k] for k in model.input_names}
    return _prediction_outputs(model(model_inputs), spec.classes)

  # Plain-Python tracing (no AutoGraph), as for the training steps.
  @tf.function(input_signature=[_raw_serving_inputs(spec)], autograph=False)
  def serve_raw(inputs):
    raw = {c.name: _to_raw_feature(inputs[c.name], raw_feature_spec[c.name], c)
           for c in spec.features()}
    return predict(raw)

  @tf.function(input_signature=[
      tf.TensorSpec(shape=[None], dtype=tf.string, name='examples')], autograph=False)
  def serve_examples(serialized):
    return predict(tf.io.parse_example(serialized, serving_feature_spec))

  @tf.function(input_signature=[
      tf.TensorSpec(shape=[None], dtype=tf.string, name='examples')], autograph=False)
  def transform_features(serialized):
    return model.tft_layer(tf.io.parse_example(serialized, raw_feature_spec))

  # For TFX's BulkInferrer: tfx_bsl's RunInference splits every output per row
  # and cannot split the one-string-per-row `classes` of serving_examples
  # ('bytes' object has no attribute 'dtype'), so the class name goes out as
  # a [batch, 1] tensor.
  @tf.function(input_signature=[
      tf.TensorSpec(shape=[None], dtype=tf.string, name='examples')], autograph=False)
  def bulk_inference(serialized):
    outputs = serve_examples(serialized)
    return {'class_probabilities': outputs['probabilities'], 'class_id': outputs['class_ids'],
            'class_name': tf.expand_dims(outputs['classes'], 1)}

  return {
      'serving_default': serve_raw.get_concrete_function(),
      'serving_examples': serve_examples,
      'transform_features': transform_features,
      'bulk_inference': bulk_inference,
  }


def export_model(model: tf.keras.Model, path: str, spec: description.DatasetSpec,
                 tf_transform_output: tft.TFTransformOutput) -> None:
  """The SavedModel the Evaluator, the Pusher and the model server load.

  save_traces=False: the signatures are the model's interface (serving, TFMA
  and the analyses all call them). Keras would otherwise also trace every
  layer's call, for reloading without the layers' code: seconds per export.
  tf.keras.models.load_model still reloads it, from the saved config.
  """
  model.save(path, save_format='tf', save_traces=False,
             signatures=make_signatures(model, spec, tf_transform_output))


@contextlib.contextmanager
def _phase(seconds: Dict[str, float], name: str):
  """Adds the wall time of the block to seconds[name]."""
  started = time.perf_counter()
  try:
    yield
  finally:
    seconds[name] = time.perf_counter() - started


def run_fn(fn_args: FnArgs):
  """The Trainer's entry point: train by epochs with early stopping, export."""
  spec = description.DatasetSpec.from_config(fn_args.custom_config)
  training = spec.training
  # Same data, same code -> the same model, so a rerun can be compared.
  tf.keras.utils.set_random_seed(training.seed)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  feature_spec = tf_transform_output.transformed_feature_spec()
  label_key = spec.transformed_label

  train = _input_fn(fn_args.train_files, feature_spec, label_key,
                    training.batch_size, shuffle=True).cache()
  evaluation = _input_fn(fn_args.eval_files, feature_spec, label_key,
                         training.batch_size, shuffle=False).cache()

  counts = label_counts(train, spec.num_classes)
  weights = class_weights(counts, spec.class_weighting)
  logging.info('training label counts %s -> class weights %s',
               dict(zip(spec.classes, counts.tolist())), weights)

  categorical = categorical_sizes(spec, tf_transform_output)
  seconds = {}
  # Fail in seconds, not after the full run, if the model cannot fit a tiny
  # subset (labels misaligned, inputs constant, learning rate far off).
  with _phase(seconds, 'sanity_check'):
    sanity_check.assert_can_overfit(
        lambda: build_keras_model(spec, categorical, training),
        _input_fn(fn_args.train_files, feature_spec, label_key,
                  training.batch_size, shuffle=False),
        seed=training.seed)
  tf.keras.utils.set_random_seed(training.seed)  # the check drew numbers
  model = build_keras_model(spec, categorical, training)
  with _phase(seconds, 'fit'):
    model.fit(
        train,
        validation_data=evaluation,
        epochs=training.epochs,
        class_weight=weights,
        verbose=2,
        callbacks=[
            tf.keras.callbacks.EarlyStopping(
                monitor='val_loss', patience=training.early_stopping_patience,
                restore_best_weights=True),
            tf.keras.callbacks.TensorBoard(
                log_dir=fn_args.model_run_dir, update_freq='epoch'),
        ])
  with _phase(seconds, 'export'):
    export_model(model, fn_args.serving_model_dir, spec, tf_transform_output)
  # Where the Trainer's time went, beside its TensorBoard logs.
  logging.info('trainer phases (s): %s', seconds)
  with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, 'phase_seconds.json'), 'w') as f:
    f.write(json.dumps({k: round(v, 3) for k, v in seconds.items()}))
  with tf.io.gfile.GFile(
      os.path.join(fn_args.model_run_dir, 'class_weights.txt'), 'w') as f:
    f.write(repr({spec.classes[i]: w for i, w in weights.items()}))
