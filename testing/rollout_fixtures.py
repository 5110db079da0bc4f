"""Helpers of the rollout tests: toy candidates, held-out rows with labels.

Stable is the toy model (`testing.toy_model`, bias 0). The labels of the
held-out rows are what stable predicts with 10% of them changed at random, so
stable is a decent model of them and a candidate can be judged against it.
"""

import atexit
import os
import shutil
import tempfile
from typing import Dict, List, Sequence, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # noqa: E402

import description  # noqa: E402
from testing import faulty_model  # noqa: E402
from testing import toy_model  # noqa: E402
from rollout.replay import ReplayRow  # noqa: E402

MODEL = 'credit_risk'
ID = 'application_id'

TOY_DESCRIPTION = {
    'name': MODEL,
    'input': {'pattern': 'span-{SPAN}/*.csv'},
    'id_column': ID,
    'label': {'column': 'outcome', 'classes': list(toy_model.CLASSES),
              'rare_class': 'default'},
    'columns': {
        ID: {'type': 'string', 'treatment': 'exclude'},
        'annual_income': {'type': 'float', 'treatment': 'scale'},
        'loan_amount': {'type': 'float', 'treatment': 'scale'},
        'credit_score': {'type': 'int', 'treatment': 'bucketize', 'buckets': 4},
        'home_ownership': {'type': 'string', 'treatment': 'vocabulary'},
        'employment_type': {'type': 'string', 'treatment': 'vocabulary'},
        'outcome': {'type': 'string', 'treatment': 'exclude'},
    },
}


def toy_spec() -> description.DatasetSpec:
  return description.parse(TOY_DESCRIPTION, source='toy')


def random_rows(n: int, seed: int = 0) -> List[Dict[str, object]]:
  rng = np.random.default_rng(seed)
  rows = []
  for i in range(n):
    rows.append({
        ID: f'app-{seed}-{i}',
        'annual_income': float(np.round(rng.uniform(15e3, 150e3), 2)),
        'loan_amount': float(np.round(rng.uniform(1e3, 60e3), 2)),
        'credit_score': float(rng.integers(300, 851)),
        'home_ownership': str(rng.choice(toy_model.HOME_OWNERSHIP)),
        'employment_type': str(rng.choice(toy_model.EMPLOYMENT_TYPE)),
    })
  return rows


def predict_classes(model_dir: str, rows: Sequence[Dict[str, object]]) -> np.ndarray:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fn = tf.saved_model.load(model_dir).signatures['serving_default']
  out = fn(**{
      n: tf.constant([r[n] for r in rows], tf.float32) for n in toy_model.NUMERIC_FEATURES
  }, **{
      n: tf.constant([r[n] for r in rows]) for n in toy_model.CATEGORICAL_FEATURES
  })
  return out['class_ids'].numpy()


def labelled_rows(stable_dir: str, n: int, seed: int = 0,
                  noise: float = 0.1) -> List[ReplayRow]:
  raw = random_rows(n, seed)
  pred = predict_classes(stable_dir, raw)
  rng = np.random.default_rng(seed + 1)
  flip = rng.random(n) < noise
  labels = np.where(flip, rng.integers(0, len(toy_model.CLASSES), n), pred)
  out = []
  for r, y in zip(raw, labels):
    values = dict(r, outcome=toy_model.CLASSES[int(y)])
    out.append(ReplayRow(r[ID], values, int(y)))
  return out


def majority_class(rows: Sequence[ReplayRow]) -> int:
  return int(np.bincount([r.label for r in rows]).argmax())


def write_bank(root: str, rows_per_bank: int = 600) -> Tuple[Dict[str, str], List[ReplayRow]]:
  """The stable toy, a good candidate and the three bad ones (name -> version
  dir), and held-out rows labelled from stable."""
  stable = toy_model.write_toy_model(os.path.join(root, 'stable'), 1)
  rows = labelled_rows(stable, rows_per_bank)
  # A retrained-looking candidate: nearly the same model, a slightly moved bias.
  good = toy_model.write_toy_model(os.path.join(root, 'good'), 1, bias=0.05)
  bank = {'stable': stable, 'good': good}
  for fault in faulty_model.FAULTS:
    bank[fault] = faulty_model.write_faulty_model(
        stable, os.path.join(root, fault, '1'), fault, classes=toy_model.CLASSES,
        majority_class=majority_class(rows), delay_ms=50.0, error_fraction=0.15)
  bank['corrupt'] = toy_model.write_toy_model(os.path.join(root, 'corrupt'), 1,
                                              broken='corrupt')
  return bank, rows


_SHARED: Dict[str, object] = {}


def shared_bank() -> Tuple[Dict[str, str], List[ReplayRow]]:
  """write_bank() once per test process (the serving and component tests share it)."""
  if not _SHARED:
    root = tempfile.mkdtemp(prefix='rollout_bank_')
    atexit.register(shutil.rmtree, root, True)
    _SHARED['bank'], _SHARED['rows'] = write_bank(root)
  return _SHARED['bank'], _SHARED['rows']


def serving_root_with(root: str, bank: Dict[str, str], versions: Dict[int, str]) -> str:
  for version, name in versions.items():
    shutil.copytree(bank[name], os.path.join(root, MODEL, str(version)))
  return root
