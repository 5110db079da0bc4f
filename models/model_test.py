"""The Keras model: builds, overfits a tiny batch, exports serving signatures."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import description
from models import model as model_lib
from models.conftest import TINY_FEATURE_SPEC, TINY_ROWS


def _model_inputs(rows, model):
  return {k: np.array([np.asarray(r[k]).reshape(-1) for r in rows])
          for k in model.input_names}


def test_build_has_one_input_per_transformed_feature(tiny_spec, tiny_transform):
  _, output = tiny_transform
  sizes = model_lib.categorical_sizes(tiny_spec, output)
  assert sizes == {'city': 4, 'score': 3}  # 3 vocab + OOV; 2 buckets + missing
  model = model_lib.build_keras_model(
      tiny_spec, sizes, tiny_spec.training)
  assert sorted(model.input_names) == sorted(
      ['income_xf', 'income_missing_xf', 'city_xf', 'score_xf'])
  assert model.output_shape == (None, 3)


def test_overfits_a_tiny_batch(tiny_spec):
  """Fit a small set before a large one: a model that cannot is broken."""
  rng = np.random.default_rng(0)
  n = 32
  inputs = {
      'income_xf': rng.normal(size=(n, 1)).astype(np.float32),
      'income_missing_xf': (rng.random((n, 1)) < 0.2).astype(np.float32),
      'city_xf': rng.integers(0, 4, size=(n, 1)),
      'score_xf': rng.integers(0, 3, size=(n, 1)),
  }
  labels = rng.integers(0, 3, size=(n, 1))  # random: only memorising fits them
  tf.keras.utils.set_random_seed(0)
  params = dataclasses.replace(tiny_spec.training, hidden_units=(64, 64),
                               dropout=0.0, learning_rate=0.03)
  model = model_lib.build_keras_model(tiny_spec, {'city': 4, 'score': 3}, params)
  first = model.evaluate(inputs, labels, verbose=0)
  model.fit(inputs, labels, epochs=400, batch_size=n, verbose=0)
  loss, accuracy = model.evaluate(inputs, labels, verbose=0)
  assert accuracy == 1.0
  assert loss < first[0] / 10


def test_class_weights_upweight_rare_classes_and_average_to_one():
  counts = np.array([900, 80, 20])
  for scheme in ('inverse_frequency', 'sqrt_inverse_frequency'):
    weights = model_lib.class_weights(counts, scheme)
    assert weights[2] > weights[1] > weights[0]
    freq = counts / counts.sum()
    assert sum(weights[i] * freq[i] for i in range(3)) == pytest.approx(1.0)
  inverse = model_lib.class_weights(counts, 'inverse_frequency')
  assert inverse[2] / inverse[0] == pytest.approx(45.0)
  sqrt = model_lib.class_weights(counts, 'sqrt_inverse_frequency')
  assert sqrt[2] / sqrt[0] == pytest.approx(np.sqrt(45.0))
  assert model_lib.class_weights(counts, 'none') == {0: 1.0, 1: 1.0, 2: 1.0}


def test_label_counts_rejects_labels_outside_the_classes():
  ds = tf.data.Dataset.from_tensor_slices(({'x': [1, 2]}, [[0], [5]])).batch(2)
  with pytest.raises(ValueError, match='outside the declared classes'):
    model_lib.label_counts(ds, 3)
  ok = tf.data.Dataset.from_tensor_slices(({'x': [1, 2, 3]}, [[0], [2], [2]])).batch(2)
  assert model_lib.label_counts(ok, 3).tolist() == [1, 0, 2]


def _example(row):
  feature = {}
  for key, spec in TINY_FEATURE_SPEC.items():
    values = row[key]
    if spec.dtype == tf.string:
      feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[v.encode() for v in values]))
    elif spec.dtype == tf.int64:
      feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    else:
      feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
  return tf.train.Example(
      features=tf.train.Features(feature=feature)).SerializeToString()


def test_steps_without_autograph_train_exactly_like_keras_default(tiny_spec, tiny_transform):
  transformed, output = tiny_transform
  params = tiny_spec.training
  sizes = model_lib.categorical_sizes(tiny_spec, output)
  weights = []
  for autograph in (False, True):
    tf.keras.utils.set_random_seed(3)
    model = model_lib.build_keras_model(tiny_spec, sizes, params)
    if autograph:  # Back to the class's own steps, which Keras converts.
      for name in ('train_step', 'test_step', 'predict_step'):
        delattr(model, name)
    model.fit(_model_inputs(transformed, model),
              np.array([r['outcome_xf'] for r in transformed]), epochs=3, verbose=0)
    weights.append(model.get_weights())
  for plain, converted in zip(*weights):
    np.testing.assert_array_equal(plain, converted)


def test_exported_signatures_take_raw_values_and_agree(tiny_spec, tiny_transform, tmp_path):
  transformed, output = tiny_transform
  model = model_lib.build_keras_model(
      tiny_spec, model_lib.categorical_sizes(tiny_spec, output),
      tiny_spec.training)
  model.fit(_model_inputs(transformed, model),
            np.array([r['outcome_xf'] for r in transformed]), epochs=2, verbose=0)
  export = str(tmp_path / 'model')
  model_lib.export_model(model, export, tiny_spec, output)

  loaded = tf.saved_model.load(export)
  assert {'serving_default', 'serving_examples', 'transform_features'} <= set(
      loaded.signatures)
  raw = loaded.signatures['serving_default'](
      income=tf.constant([10.0, 20.0, float('nan'), 30.0]),   # NaN = missing
      city=tf.constant(['paris', 'paris', 'rome', '']),       # '' = missing
      score=tf.constant([1.0, 2.0, 3.0, 4.0]))
  examples = loaded.signatures['serving_examples'](
      examples=tf.constant([_example(r) for r in TINY_ROWS]))
  np.testing.assert_allclose(raw['probabilities'].numpy(),
                             examples['probabilities'].numpy(), rtol=1e-5)
  np.testing.assert_allclose(raw['probabilities'].numpy().sum(axis=1), 1.0, rtol=1e-5)
  ids = raw['class_ids'].numpy()
  assert [c.decode() for c in raw['classes'].numpy()] == [
      tiny_spec.classes[i] for i in ids]
  # The signature a TFMA preprocessing step uses yields the integer label.
  transformed_out = loaded.signatures['transform_features'](
      examples=tf.constant([_example(r) for r in TINY_ROWS]))
  assert transformed_out['outcome_xf'].numpy().reshape(-1).tolist() == [0, 1, 0, 2]
  # An unseen city goes to the out-of-vocabulary bucket instead of failing.
  unseen = loaded.signatures['serving_default'](
      income=tf.constant([15.0]), city=tf.constant(['tokyo']),
      score=tf.constant([2.0]))
  assert unseen['probabilities'].shape == (1, 3)
  # Keras can reload it too (for fine-tuning), from the saved config.
  reloaded = tf.keras.models.load_model(export)
  batch = _model_inputs(transformed, model)
  np.testing.assert_allclose(reloaded.predict(batch, verbose=0),
                             model.predict(batch, verbose=0), rtol=1e-5)


def _write_transformed_shards(directory, feature_spec, shards, rows_per_shard):
  """Gzipped tf.Example shards of random values for every transformed feature."""
  rng = np.random.default_rng(3)
  for shard in range(shards):
    path = str(directory / f'transformed_examples-{shard:05d}-of-{shards:05d}.gz')
    with tf.io.TFRecordWriter(path, options='GZIP') as writer:
      for _ in range(rows_per_shard):
        features = {}
        for name, spec in feature_spec.items():
          if spec.dtype == tf.int64:
            features[name] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[int(rng.integers(0, 3))]))
          else:
            features[name] = tf.train.Feature(
                float_list=tf.train.FloatList(value=[float(rng.normal())]))
        writer.write(tf.train.Example(
            features=tf.train.Features(feature=features)).SerializeToString())


def _batches(dataset):
  return [({k: v.numpy() for k, v in features.items()}, labels.numpy())
          for features, labels in dataset]


@pytest.mark.parametrize('shuffle', [True, False])
def test_input_fn_yields_tfx_bsls_batches_in_tfx_bsls_order(tiny_transform, tmp_path, shuffle):
  # The reference: tfx_bsl's own dataset (the Trainer's data_accessor), its
  # interleave cycle pinned to one file as it is on two cores.
  from tfx_bsl.tfxio import dataset_options, tf_example_record
  _, output = tiny_transform
  feature_spec = output.transformed_feature_spec()
  _write_transformed_shards(tmp_path, feature_spec, shards=3, rows_per_shard=700)
  pattern = [str(tmp_path / '*')]
  reference = tf_example_record.TFExampleRecord(
      pattern, schema=output.transformed_metadata.schema).TensorFlowDataset(
          dataset_options.TensorFlowDatasetOptions(
              batch_size=64, label_key='outcome_xf', num_epochs=1, shuffle=shuffle,
              shuffle_seed=model_lib.SHUFFLE_SEED, reader_num_threads=1))
  expected = _batches(reference)
  got = _batches(model_lib._input_fn(pattern, feature_spec, 'outcome_xf', 64, shuffle))
  assert len(got) == len(expected) == 33  # 2,100 rows in batches of 64
  for (features, labels), (want_features, want_labels) in zip(got, expected):
    assert features.keys() == want_features.keys()
    for name, values in features.items():
      assert values.dtype == want_features[name].dtype
      np.testing.assert_array_equal(values, want_features[name])
    np.testing.assert_array_equal(labels, want_labels)
