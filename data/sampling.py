"""Random draws of the generator: seeded streams, categorical sampling, ids."""

from typing import Dict, Optional

import numpy as np

from data import process


def categorical(rng: np.random.Generator, probs: np.ndarray,
                n: Optional[int] = None) -> np.ndarray:
  """Category indices. `probs` is (k,) for all rows or (n, k) per row."""
  probs = np.asarray(probs, dtype=np.float64)
  if probs.ndim == 1:
    cdf = np.cumsum(probs / probs.sum())
    u = rng.random(n)
    return np.minimum(np.searchsorted(cdf, u, side='right'), len(cdf) - 1)
  cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
  u = rng.random(probs.shape[0])
  return np.minimum((u[:, None] >= cdf).sum(axis=1), probs.shape[1] - 1)


def keys_probs(d: Dict[str, float]):
  return list(d.keys()), np.array(list(d.values()), dtype=np.float64)


def span_month(span: int) -> str:
  year, month = process.FIRST_MONTH
  m = (month - 1) + (span - 1)
  return f'{year + m // 12:04d}-{m % 12 + 1:02d}'


def application_ids(span: int, start: int, n: int) -> np.ndarray:
  return np.array([f'S{span:02d}-{i:07d}' for i in range(start + 1,
                                                          start + n + 1)],
                  dtype=object)


def rng_for(seed: int, span: int, stream: int, chunk: int = 0):
  # Independent streams per (seed, span, purpose, chunk).
  return np.random.default_rng(np.random.SeedSequence([seed, span, stream,
                                                       chunk]))


STREAM_FEATURES, STREAM_LABELER_SAMPLE, STREAM_LABELS, STREAM_PII = 1, 2, 3, 4

