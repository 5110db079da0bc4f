"""preprocessing_fn run through tf.Transform on a few rows."""

import numpy as np
import pytest

import description
from models import preprocessing


def _column(rows, name):
  return np.array([np.asarray(r[name]).reshape(-1)[0] for r in rows])


def test_scale_uses_present_values_only_and_flags_missing(tiny_transform):
  rows, _ = tiny_transform
  income = _column(rows, description.transformed_name('income'))
  missing = _column(rows, description.missing_indicator_name('income'))
  np.testing.assert_array_equal(missing, [0.0, 0.0, 1.0, 0.0])
  # Present values 10, 20, 30: mean 20, population std sqrt(200/3); the
  # missing row 3 sits at the mean, z = 0.
  expected = (np.array([10.0, 20.0, 20.0, 30.0]) - 20.0) / np.sqrt(200.0 / 3.0)
  np.testing.assert_allclose(income, expected, rtol=1e-5)


def test_vocabulary_gives_ids_by_frequency_and_a_missing_token(tiny_transform):
  rows, output = tiny_transform
  city = _column(rows, description.transformed_name('city'))
  vocab = [v.decode() for v in output.vocabulary_by_name(
      preprocessing.vocabulary_filename('city'))]
  assert vocab[0] == 'paris'  # the most frequent value gets id 0
  assert set(vocab) == {'paris', 'rome', preprocessing.MISSING_TOKEN}
  assert [vocab[i] for i in city] == ['paris', 'paris', 'rome',
                                      preprocessing.MISSING_TOKEN]


def test_bucketize_splits_at_quantiles(tiny_transform):
  rows, _ = tiny_transform
  buckets = _column(rows, description.transformed_name('score'))
  assert list(buckets) == sorted(buckets)
  assert set(buckets) == {0, 1}


def test_label_maps_to_class_ids_in_declared_order(tiny_transform):
  rows, _ = tiny_transform
  assert list(_column(rows, 'outcome_xf')) == [0, 1, 0, 2]


def test_excluded_and_protected_columns_never_reach_the_model(tiny_transform):
  rows, _ = tiny_transform
  assert not any(k.startswith(('gender', 'row_id')) for k in rows[0])


def test_unknown_label_maps_to_minus_one():
  import tensorflow as tf
  ids = preprocessing.label_to_class_id(
      tf.constant([['good'], ['nope']]), ('good', 'bad'))
  assert ids.numpy().tolist() == [0, -1]


def test_present_values_treats_nan_as_missing():
  import tensorflow as tf
  values, present = preprocessing.present_values(
      tf.constant([[1.0], [float('nan')]]), default=0.0)
  assert present.numpy().tolist() == [True, False]
  assert values.numpy()[0] == pytest.approx(1.0)
