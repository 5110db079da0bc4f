"""The statistics behind the guardrails: exact one-sided tests on counts,
distances between class distributions, percentiles. Pure functions of numbers.
"""

import math
from typing import Sequence

import numpy as np
from scipy import stats
from scipy.spatial import distance


def fisher_greater(a_hits: int, a_n: int, b_hits: int, b_n: int) -> float:
  """One-sided p-value that A's rate is greater than B's (Fisher's exact test)."""
  if a_n == 0 or b_n == 0:
    return 1.0
  table = [[a_hits, a_n - a_hits], [b_hits, b_n - b_hits]]
  return float(stats.fisher_exact(table, alternative='greater')[1])


def binomial_greater(hits: int, n: int, p0: float) -> float:
  """One-sided p-value that the true rate exceeds p0."""
  if n == 0:
    return 1.0
  return float(stats.binomtest(hits, n, p0, alternative='greater').pvalue)


def binomial_less(hits: int, n: int, p0: float) -> float:
  """One-sided p-value that the true rate is below p0."""
  if n == 0:
    return 1.0
  return float(stats.binomtest(hits, n, p0, alternative='less').pvalue)


def two_proportion_drop_p(base_hits: int, base_n: int, new_hits: int, new_n: int,
                          margin: float) -> float:
  """One-sided z-test p-value that p_base - p_new > margin (unpooled variance).

  The variance gets a half-count continuity floor so a rate of exactly 0 or 1
  on few rows does not claim infinite certainty.
  """
  if base_n == 0 or new_n == 0:
    return 1.0
  pb, pn = base_hits / base_n, new_hits / new_n
  vb = max(pb * (1 - pb), 0.5 / base_n) / base_n
  vn = max(pn * (1 - pn), 0.5 / new_n) / new_n
  z = ((pb - pn) - margin) / math.sqrt(vb + vn)
  return float(stats.norm.sf(z))


def js_distance(p_counts: Sequence[float], q_counts: Sequence[float]) -> float:
  """Jensen-Shannon distance (base 2, in [0, 1]) of two count vectors."""
  p = np.asarray(p_counts, dtype=np.float64)
  q = np.asarray(q_counts, dtype=np.float64)
  if p.sum() == 0 or q.sum() == 0:
    return float('nan')
  return float(distance.jensenshannon(p / p.sum(), q / q.sum(), base=2))


# Cochran's rule: the chi-square distribution approximates the statistic only
# when every expected count is at least 5. Below that (the few requests of a
# first canary step, a class the models rarely predict) the p-value comes from
# the statistic's exact null distribution, sampled with a fixed seed: the
# approximation scored a canary's [3, 3, 2] against stable's [195, 91, 6]
# p = 0.00026 and rolled a clean retrain back; sampled, p = 0.0075.
MIN_EXPECTED_COUNT = 5.0
NULL_DRAWS = 20000  # resolution 5e-5, well under the guardrails' alpha


def _chi2_statistics(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
  """Pearson's statistic of each row of `observed` (..., cells) against `expected`."""
  return ((observed - expected) ** 2 / expected).sum(axis=-1)


def _sampled_p(null_statistics: np.ndarray, observed: float) -> float:
  # The observed table counts as one draw, so p is never 0.
  hits = np.count_nonzero(null_statistics >= observed * (1 - 1e-9))
  return float((1 + hits) / (1 + null_statistics.size))


def chi2_homogeneity_p(p_counts: Sequence[float], q_counts: Sequence[float]) -> float:
  """p-value that two count vectors come from one categorical distribution."""
  table = np.array([p_counts, q_counts], dtype=np.float64)
  table = table[:, table.sum(axis=0) > 0]
  if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
    return 1.0
  expected = stats.contingency.expected_freq(table)
  if expected.min() >= MIN_EXPECTED_COUNT:
    return float(stats.chi2_contingency(table, correction=False)[1])
  # Both margins fixed: the first vector's counts drawn from the pooled ones
  # without replacement, the second's are the rest.
  pooled = table.sum(axis=0).astype(np.int64)
  first = np.random.default_rng(0).multivariate_hypergeometric(
      pooled, int(table[0].sum()), size=NULL_DRAWS)
  null = (_chi2_statistics(first, expected[0]) +
          _chi2_statistics(pooled - first, expected[1]))
  return _sampled_p(null, float(_chi2_statistics(table, expected).sum()))


def chi2_goodness_p(observed: Sequence[float], expected_freq: Sequence[float]) -> float:
  """p-value that counts follow the expected frequencies (classes with zero
  expected frequency are smoothed so any prediction of them still counts)."""
  obs = np.asarray(observed, dtype=np.float64)
  freq = np.asarray(expected_freq, dtype=np.float64) + 1e-3
  freq = freq / freq.sum()
  if obs.sum() == 0:
    return 1.0
  exp = freq * obs.sum()
  if exp.min() >= MIN_EXPECTED_COUNT:
    return float(stats.chisquare(obs, exp)[1])
  null = _chi2_statistics(np.random.default_rng(0).multinomial(
      int(obs.sum()), freq, size=NULL_DRAWS).astype(np.float64), exp)
  return _sampled_p(null, float(_chi2_statistics(obs, exp)))


def class_counts(predicted: Sequence[int], k: int) -> np.ndarray:
  ids = np.asarray(predicted, dtype=np.int64)
  ids = ids[(ids >= 0) & (ids < k)]
  return np.bincount(ids, minlength=k)


def percentile(values: Sequence[float], q: float) -> float:
  v = np.asarray(values, dtype=np.float64)
  return float(np.percentile(v, q)) if v.size else float('nan')
