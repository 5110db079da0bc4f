"""A tiny dataset run through the real preprocessing_fn with tf.Transform.

Shared by the preprocessing and model tests: the transform output written here
is what the Trainer would receive from the Transform component.
"""

import functools
import os
import tempfile

import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import metadata_io
from tensorflow_transform.tf_metadata import schema_utils

import description
from models import preprocessing

TINY_DESCRIPTION = {
    'name': 'tiny',
    'input': {'pattern': 'span-{SPAN}/*.csv'},
    'id_column': 'row_id',
    'label': {'column': 'outcome', 'classes': ['good', 'late', 'bad'],
              'rare_class': 'bad', 'class_weighting': 'sqrt_inverse_frequency'},
    'columns': {
        'row_id': {'type': 'string', 'treatment': 'exclude'},
        'income': {'type': 'float', 'treatment': 'scale'},
        'city': {'type': 'string', 'treatment': 'vocabulary'},
        'score': {'type': 'int', 'treatment': 'bucketize', 'buckets': 2},
        'gender': {'type': 'string', 'treatment': 'exclude'},
        'outcome': {'type': 'string', 'treatment': 'exclude'},
    },
    'protected_attributes': ['gender'],
    'training': {'epochs': 2, 'batch_size': 4, 'hidden_units': [8]},
}

# income is missing in row 3; city is missing in row 4; score is always there.
TINY_ROWS = [
    {'row_id': ['r1'], 'income': [10.0], 'city': ['paris'], 'score': [1], 'gender': ['f'], 'outcome': ['good']},
    {'row_id': ['r2'], 'income': [20.0], 'city': ['paris'], 'score': [2], 'gender': ['m'], 'outcome': ['late']},
    {'row_id': ['r3'], 'income': [], 'city': ['rome'], 'score': [3], 'gender': ['f'], 'outcome': ['good']},
    {'row_id': ['r4'], 'income': [30.0], 'city': [], 'score': [4], 'gender': ['m'], 'outcome': ['bad']},
]

TINY_FEATURE_SPEC = {
    'row_id': tf.io.FixedLenFeature([1], tf.string),
    'income': tf.io.VarLenFeature(tf.float32),
    'city': tf.io.VarLenFeature(tf.string),
    'score': tf.io.FixedLenFeature([1], tf.int64),
    'gender': tf.io.FixedLenFeature([1], tf.string),
    'outcome': tf.io.FixedLenFeature([1], tf.string),
}


@pytest.fixture(scope='session')
def tiny_spec() -> description.DatasetSpec:
  return description.parse(TINY_DESCRIPTION, source='tiny')


@pytest.fixture(scope='session')
def tiny_transform(tiny_spec):
  """(transformed rows, TFTransformOutput) for TINY_ROWS."""
  out_dir = tempfile.mkdtemp(prefix='tiny_transform_')
  metadata = dataset_metadata.DatasetMetadata(
      schema_utils.schema_from_feature_spec(TINY_FEATURE_SPEC))
  fn = functools.partial(preprocessing.preprocessing_fn,
                         custom_config=tiny_spec.to_config())
  # TFX's Transform executor turns on the deep-copy optimisation; with Beam
  # 2.74 it breaks any preprocessing_fn with nested analyzers (phase > 0), so
  # the test runs the same way to catch one.
  with tft_beam.Context(temp_dir=os.path.join(out_dir, 'tmp'),
                        force_tf_compat_v1=False,
                        use_deep_copy_optimization=True):
    # Analyze, then transform, as TFX's executor does.
    transform_fn = (TINY_ROWS, metadata) | tft_beam.AnalyzeDataset(fn)
    transformed, _ = (
        ((TINY_ROWS, metadata), transform_fn) | tft_beam.TransformDataset())
    _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
  # The Transform component also records the raw schema; serving signatures
  # parse raw tf.Examples with it.
  metadata_io.write_metadata(
      metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
  return transformed, tft.TFTransformOutput(out_dir)
