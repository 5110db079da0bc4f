"""Models exported by the Trainer's own code (models/model.py) for the scoring tests.

The tiny dataset of models/conftest.py goes through the real preprocessing_fn
with tf.Transform; two Keras models trained on it from different seeds are
exported with `export_model`, the Trainer's export, as versions 1 and 2 of a
Pusher-style serving directory. Seconds, not a pipeline run, and the same
signatures the Pusher would push.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from models import model as model_lib
# The tiny dataset's fixtures, shared with the model tests.
from models.conftest import TINY_DESCRIPTION, tiny_spec, tiny_transform  # noqa: F401 pylint: disable=unused-import

MODEL = 'tiny'
HEADER = ['row_id', 'income', 'city', 'score', 'gender']


def _train_and_export(spec, transform, seed: int, path: str) -> str:
  transformed, output = transform
  tf.keras.utils.set_random_seed(seed)
  model = model_lib.build_keras_model(
      spec, model_lib.categorical_sizes(spec, output), spec.training)
  inputs = {k: np.array([np.asarray(r[k]).reshape(-1) for r in transformed])
            for k in model.input_names}
  model.fit(inputs, np.array([r['outcome_xf'] for r in transformed]), epochs=2, verbose=0)
  model_lib.export_model(model, path, spec, output)
  return path


@pytest.fixture(scope='session')
def serving_dir(tmp_path_factory, tiny_spec, tiny_transform):  # pylint: disable=redefined-outer-name
  """<root>/tiny with versions 1 and 2 (different weights), as the Pusher lays it out."""
  model_dir = str(tmp_path_factory.mktemp('serving') / MODEL)
  for version, seed in ((1, 11), (2, 22)):
    _train_and_export(tiny_spec, tiny_transform, seed, os.path.join(model_dir, str(version)))
  return model_dir


def random_rows(n: int, seed: int = 0, prefix: str = 'id'):
  """Rows of the tiny dataset's columns, with missing values and unseen cities."""
  rng = np.random.default_rng(seed)
  cities = ['paris', 'rome', 'oslo', '']
  rows = []
  for i in range(n):
    income = '' if rng.random() < 0.2 else f'{rng.normal(20, 10):.3f}'
    rows.append([f'{prefix}{i}', income, cities[rng.integers(0, 4)],
                 str(int(rng.integers(0, 6))), ['f', 'm'][rng.integers(0, 2)]])
  return rows


def write_csv(path: str, rows, header=HEADER) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(','.join(header) + '\n')
    for row in rows:
      f.write(','.join(row) + '\n')
  return path
