"""Three labelers with known accuracies, errors on the late/default borderline."""

from typing import Any, Dict

import numpy as np

from data import sampling
from data.process import CLASSES
from data.process import LABELER_COLUMNS
from data.process import LABELERS
from data.process import WEAK_SLICE


def labeler_probabilities() -> Dict[str, Any]:
  """Planted P(correct) per labeler and slice, and the error confusion."""
  drop = LABELERS['weak_slice_drop']
  acc = {}
  for name, a in LABELERS['accuracy'].items():
    acc[name] = {'other': round(a, 6), WEAK_SLICE['value']: round(a - drop, 6)}
  return {'accuracy': acc, 'error_distribution': LABELERS['error_distribution']}


def label_rows(rng: np.random.Generator, outcome_idx: np.ndarray,
               weak: np.ndarray) -> np.ndarray:
  """(n, 3) class indices given by the three labelers, independent per row."""
  n = len(outcome_idx)
  err = np.array([[LABELERS['error_distribution'][t].get(c, 0.0)
                   for c in CLASSES] for t in CLASSES])
  out = np.empty((n, len(LABELER_COLUMNS)), dtype=np.int64)
  for j, name in enumerate(LABELER_COLUMNS):
    p_correct = LABELERS['accuracy'][name] - np.where(
        weak, LABELERS['weak_slice_drop'], 0.0)
    correct = rng.random(n) < p_correct
    wrong = sampling.categorical(rng, err[outcome_idx]) if n else outcome_idx
    out[:, j] = np.where(correct, outcome_idx, wrong)
  return out

