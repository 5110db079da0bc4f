"""Concept drift: P(label | feature bin), with effect-size and significance guards."""

import numpy as np
import pytest

from data import generator
from data import sampling
from validation import label_drift

NUMERIC = ['annual_income', 'employment_years', 'loan_amount', 'interest_rate',
           'debt_to_income', 'credit_score', 'num_open_accounts',
           'num_late_payments_12m']
CATEGORICAL = ['employment_type', 'home_ownership', 'loan_term_months', 'loan_purpose']


def _span(seed, span, scenario, rows):
  """One span's columns exactly as data.generator writes them (chunk 0)."""
  params = generator.span_process(generator.BASE_PARAMS, scenario, span, 3)
  rng = sampling.rng_for(seed, span, sampling.STREAM_FEATURES, 0)
  frame = generator.generate_rows(params, rng, rows, span, 0)['frame']
  return {c: (frame[c].astype('float64').to_numpy() if c in NUMERIC
              else frame[c].astype(str).to_numpy())
          for c in NUMERIC + CATEGORICAL + ['outcome']}


def _worst(previous, current):
  results = label_drift.label_drift(previous, current, 'outcome', generator.CLASSES,
                                    NUMERIC, CATEGORICAL)
  return max(results, key=lambda r: r.distance)


@pytest.mark.parametrize('seed', [3, 42])
def test_generator_concept_drift_is_caught_and_clean_spans_are_not(seed):
  previous = _span(seed, 2, 'clean', 5000)
  clean = _worst(previous, _span(seed, 3, 'clean', 5000))
  concept = _worst(previous, _span(seed, 3, 'concept_drift', 5000))
  assert clean.distance == 0.0  # No bin moves significantly.
  # The planted change: debt_to_income's weight doubled.
  assert concept.feature == 'debt_to_income'
  assert concept.distance > 0.1
  assert abs(concept.worst.z) >= 4


def test_a_shift_below_significance_does_not_count():
  rng = np.random.default_rng(0)
  x = rng.normal(size=200)
  before = np.where(rng.random(200) < 0.30, 'bad', 'good')
  after = np.where(rng.random(200) < 0.36, 'bad', 'good')  # +6 points, n=40/bin
  result = label_drift.feature_label_drift(
      'x', x, before, x, after, ['good', 'bad'], numeric=True, min_bin_rows=20)
  assert result.distance == 0.0 and result.worst is None


def test_a_large_shift_in_one_bin_is_found_with_its_bin():
  rng = np.random.default_rng(1)
  x = rng.uniform(0, 1, 20000)
  before = np.where(rng.random(20000) < 0.2, 'bad', 'good')
  after = np.where(rng.random(20000) < np.where(x > 0.8, 0.5, 0.2), 'bad', 'good')
  result = label_drift.feature_label_drift(
      'x', x, before, x, after, ['good', 'bad'], numeric=True)
  assert result.worst.bin.startswith('[0.8')
  assert result.distance == pytest.approx(0.3, abs=0.05)
  assert len(result.bins) == 5  # The chart gets every bin of the worst class.


def test_missing_values_and_categories_get_their_own_bins():
  values = np.array(['a'] * 500 + [''] * 500, dtype=object)
  before = np.array(['good'] * 1000, dtype=object)
  after = np.array(['good'] * 500 + ['bad'] * 500, dtype=object)
  result = label_drift.feature_label_drift(
      'c', values, before, values, after, ['good', 'bad'], numeric=False)
  assert result.worst.bin == label_drift.MISSING_BIN
  assert result.distance == pytest.approx(1.0)
