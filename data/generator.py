"""Synthetic credit-risk dataset generator (the pipeline's default dataset).

Deterministic, seeded and vectorised: the same seed and arguments give
byte-identical files. Every effect a production-ML practice should find is
planted on purpose and recorded in ``generation.json`` (see DATA_CARD.md):

* the label ``outcome`` (repaid / late / default, default <= 3%) comes from a
  latent risk score of the features plus noise, cut at ordinal thresholds;
* a genuinely weaker-signal slice: age_band "18-24" (thin credit files: the
  credit score is often missing and an unobserved factor adds label noise);
* a tag effect: channel "broker" reports income with extra noise;
* three labelers with known accuracies, errors on the late/default borderline;
* drift scenarios applied to the last span only (data drift, concept drift).

Layout written under ``out_dir``::

    span-<N>/data.csv          N = 1..spans (monthly spans, nothing else inside)
    labelers/span-<N>.csv      application_id,labeler_1,labeler_2,labeler_3
    generation.json            parameters and planted truths

CLI::

    python -m data.generator --out DIR --spans 3 --rows 20000 \
        --scenario clean|data_drift|concept_drift --seed 42 [--overwrite]
"""

import argparse
import copy
import json
import os
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

DATASET_NAME = 'credit_risk'
GENERATOR_VERSION = 1
DEFAULT_OUT = os.path.join('data', 'generated', 'credit_risk')
SCENARIOS = ('clean', 'data_drift', 'concept_drift')
CLASSES = ('repaid', 'late', 'default')
LABELER_COLUMNS = ('labeler_1', 'labeler_2', 'labeler_3')
# Rows generated and written at a time; part of the random stream layout, so
# changing it changes the output (it is recorded in generation.json).
CHUNK_ROWS = 200_000
FIRST_MONTH = (2026, 1)  # application_month of span 1

# The CSV columns, in order; must equal the `columns:` keys of
# data/descriptions/credit_risk.yaml (generator_test checks it).
COLUMNS = (
    'application_id', 'application_month', 'age', 'gender', 'age_band',
    'ethnicity', 'annual_income', 'employment_type', 'employment_years',
    'home_ownership', 'loan_amount', 'loan_term_months', 'loan_purpose',
    'interest_rate', 'debt_to_income', 'credit_score', 'num_open_accounts',
    'num_late_payments_12m', 'channel', 'branch', 'underwriter', 'outcome',
)
INT_COLUMNS = ('age', 'loan_term_months', 'credit_score', 'num_open_accounts',
               'num_late_payments_12m')
FLOAT_COLUMNS = ('annual_income', 'employment_years', 'loan_amount',
                 'interest_rate', 'debt_to_income')

WEAK_SLICE = {'column': 'age_band', 'value': '18-24'}

# ---------------------------------------------------------------------------
# The generating process. Every constant lives here and is dumped verbatim to
# generation.json, so the file is the single source of planted truth.
# ---------------------------------------------------------------------------
BASE_PARAMS: Dict[str, Any] = {
    'age_bands': {  # band: [min_age, max_age, probability]; age uniform inside
        '18-24': [18, 24, 0.15],
        '25-34': [25, 34, 0.25],
        '35-49': [35, 49, 0.30],
        '50-64': [50, 64, 0.20],
        '65+': [65, 80, 0.10],
    },
    'gender': {'female': 0.49, 'male': 0.49, 'nonbinary': 0.02},
    'ethnicity': {'group_a': 0.55, 'group_b': 0.20, 'group_c': 0.15,
                  'group_d': 0.10},
    'channel': {'online': 0.40, 'branch': 0.30, 'broker': 0.15,
                'mobile': 0.15},
    # BR01..BR12 and UW01..UW20; branch weights are uneven, underwriters even.
    'branch_weights': [12, 11, 10, 9, 9, 8, 8, 7, 7, 7, 6, 6],
    'num_underwriters': 20,
    'employment_type': {  # by age band: type -> probability
        'default': {'salaried': 0.64, 'self_employed': 0.14,
                    'contract': 0.15, 'unemployed': 0.06, 'retired': 0.01},
        '18-24': {'salaried': 0.52, 'self_employed': 0.04, 'contract': 0.32,
                  'unemployed': 0.12, 'retired': 0.0},
        '65+': {'salaried': 0.20, 'self_employed': 0.12, 'contract': 0.04,
                'unemployed': 0.04, 'retired': 0.60},
    },
    # employment_years = (age - 18) * Beta(a, b); 0 for the unemployed.
    'employment_years_beta': [2.0, 3.0],
    'home_ownership': {
        '18-24': {'rent': 0.72, 'mortgage': 0.06, 'own': 0.02, 'other': 0.20},
        '25-34': {'rent': 0.55, 'mortgage': 0.34, 'own': 0.05, 'other': 0.06},
        '35-49': {'rent': 0.30, 'mortgage': 0.55, 'own': 0.12, 'other': 0.03},
        '50-64': {'rent': 0.22, 'mortgage': 0.48, 'own': 0.27, 'other': 0.03},
        '65+': {'rent': 0.18, 'mortgage': 0.20, 'own': 0.60, 'other': 0.02},
    },
    'income': {
        # log(true income) = log(median) + type effect + per-year effect
        #   - young penalty * max(0, 30 - age) + N(0, sd)
        'median': 48000.0,
        'employment_type_log_effect': {
            'salaried': 0.0, 'self_employed': 0.10, 'contract': -0.10,
            'unemployed': -0.90, 'retired': -0.35},
        'per_employment_year': 0.018,
        'employment_year_cap': 25.0,
        'young_penalty_per_year': 0.015,
        'log_sd': 0.45,
        'min': 8000.0,
        'max': 1_500_000.0,
        # Reported annual_income = true income * exp(N(bias, sd)); brokers
        # pass on self-reported income: biased upward and much noisier.
        'report_log_sd': 0.05,
        'report_log_bias': 0.0,
        'broker_report_log_sd': 0.60,
        'broker_report_log_bias': 0.10,
        'round_to': 10.0,
    },
    'loan_purpose': {'debt_consolidation': 0.35, 'credit_card': 0.18,
                     'home_improvement': 0.12, 'car': 0.12, 'medical': 0.06,
                     'small_business': 0.06, 'education': 0.05, 'other': 0.06},
    # loan_amount = true income * median ratio(purpose) * exp(N(0, sd))
    'loan_to_income_median': {
        'debt_consolidation': 0.25, 'credit_card': 0.15,
        'home_improvement': 0.30, 'car': 0.35, 'medical': 0.10,
        'small_business': 0.50, 'education': 0.30, 'other': 0.15},
    'loan_to_income_log_sd': 0.5,
    'loan_amount_min': 1000.0,
    'loan_amount_max': 150000.0,
    'loan_amount_round_to': 50.0,
    'loan_terms': [12, 24, 36, 48, 60],
    # term index = clip(round(offset + slope * log(amount / 5000) + N(0, sd)))
    'loan_term_model': {'offset': 1.6, 'slope': 1.0, 'sd': 0.9},
    # Latent creditworthiness z ~ N(0, 1) drives the score and late payments.
    'credit_score': {'mean': 700.0, 'per_z': 60.0, 'noise_sd': 20.0,
                     'young_penalty_per_year': 1.5, 'young_penalty_from': 28,
                     'min': 300, 'max': 850},
    'late_payments': {'log_rate': -1.3, 'per_z': -0.9, 'max': 15},
    # num_open_accounts: a planted distractor, zero weight in the risk score.
    'open_accounts': {'base': 1.0, 'per_year_of_age': 0.1, 'age_cap': 30},
    'debt_to_income': {'gamma_shape': 4.0, 'gamma_scale': 0.065,
                       'per_z': -0.04, 'min': 0.0, 'max': 0.95},
    # The lender prices the loan from the score it saw (thin files: none,
    # it uses `no_score_value` instead) and the term.
    'interest_rate': {'base': 7.0, 'per_score_point_below_760': 0.035,
                      'per_term_month_above_36': 0.04, 'noise_sd': 1.0,
                      'no_score_value': 640.0, 'min': 3.5, 'max': 30.0},
    # Latent risk score r: sum of standardised terms times weights plus
    # N(0, noise_sd) (and the unobserved factor in the weak slice); the
    # outcome is repaid if r < t1, late if t1 <= r < t2, default if r >= t2.
    'risk': {
        'weights': {
            'credit_score': 1.00,       # * -(credit_score - 688) / 60
            'num_late_payments_12m': 0.55,  # * min(late, 6)
            'debt_to_income': 0.55,     # * (dti - 0.26) / 0.13
            'annual_income': 0.70,      # * -(log(true inc) - log(48000)) / 0.55
            'loan_to_income': 0.35,     # * (log(amount / true inc) - log(.25)) / .6
            'employment_years': 0.25,   # * -(min(years, 15) - 5) / 4
            'interest_rate': 0.20,      # * (interest_rate - 13) / 4
            'num_open_accounts': 0.0,   # planted distractor
        },
        'centers': {'credit_score': [688.0, 60.0], 'late_cap': 6,
                    'debt_to_income': [0.26, 0.13],
                    'annual_income': [48000.0, 0.55],
                    'loan_to_income': [0.25, 0.6],
                    'employment_years': [5.0, 4.0, 15.0],
                    'interest_rate': [13.0, 4.0]},
        'loan_purpose': {'debt_consolidation': 0.15, 'credit_card': 0.10,
                         'home_improvement': -0.15, 'car': -0.20,
                         'medical': 0.25, 'small_business': 0.45,
                         'education': 0.05, 'other': 0.0},
        'home_ownership': {'rent': 0.15, 'mortgage': -0.10, 'own': -0.25,
                           'other': 0.10},
        'employment_type': {'salaried': 0.0, 'self_employed': 0.20,
                            'contract': 0.25, 'unemployed': 0.60,
                            'retired': 0.0},
        'noise_sd': 1.0,
        # Weak slice (thin files): the features carry only this fraction of
        # their usual effect (deviation from `score_center`), and an
        # unobserved factor u ~ N(0, 1) * score_sd * sqrt(1 - fraction^2)
        # restores the variance: the slice's outcome is genuinely less
        # predictable from any feature set, not just differently distributed.
        'weak_slice_signal_fraction': 0.65,
        # Calibrated by `calibrate()` on the clean process (1,000,000 rows,
        # seed CALIBRATION_SEED) and frozen here: the mean and sd of the
        # feature-driven score, and the 70% / 97.6% quantiles of the latent
        # score (TARGET_CLASS_RATES: 70% repaid, 27.6% late, 2.4% default).
        'score_center': -0.1881,
        'score_sd': 1.9894,
        'thresholds': [0.8431, 4.3618],
    },
    # Missing-value probabilities (MCAR unless noted).
    'missing': {
        'annual_income': 0.04,
        'employment_years': 0.06,
        'debt_to_income': 0.03,
        'credit_score': 0.03,            # outside the weak slice
        'credit_score_weak_slice': 0.40,  # 18-24: thin files, no score at all
        'home_ownership': 0.02,
    },
    'float_decimals': {'employment_years': 1, 'interest_rate': 2,
                       'debt_to_income': 3},
}

CALIBRATION_SEED = 20260101
TARGET_CLASS_RATES = {'repaid': 0.70, 'late': 0.276, 'default': 0.024}

LABELERS: Dict[str, Any] = {
    # P(labeler's label == true outcome), independent across labelers given
    # the row; the weak slice lowers each by `weak_slice_drop`.
    'accuracy': {'labeler_1': 0.95, 'labeler_2': 0.90, 'labeler_3': 0.85},
    'weak_slice_drop': 0.12,
    # Given an error on a row of true class (key), the wrong label's
    # distribution over the other classes: errors concentrate on the
    # late <-> default borderline, errors on repaid mostly go to late.
    'error_distribution': {
        'repaid': {'late': 0.85, 'default': 0.15},
        'late': {'repaid': 0.20, 'default': 0.80},
        'default': {'repaid': 0.15, 'late': 0.85},
    },
}

DRIFT: Dict[str, Dict[str, Any]] = {
    'clean': {},
    # Covariate shift: inputs move, P(outcome | true features) is unchanged
    # (the same risk function and thresholds are used).
    'data_drift': {
        'annual_income_median_multiplier': 1.35,
        'channel': {'online': 0.20, 'branch': 0.15, 'broker': 0.15,
                    'mobile': 0.50},
    },
    # Concept shift: inputs unchanged, the risk function changes.
    'concept_drift': {
        'risk_weight_multipliers': {'debt_to_income': 2.0,
                                    'credit_score': 0.5},
    },
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _categorical(rng: np.random.Generator, probs: np.ndarray,
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


def _keys_probs(d: Dict[str, float]):
  return list(d.keys()), np.array(list(d.values()), dtype=np.float64)


def span_month(span: int) -> str:
  year, month = FIRST_MONTH
  m = (month - 1) + (span - 1)
  return f'{year + m // 12:04d}-{m % 12 + 1:02d}'


def application_ids(span: int, start: int, n: int) -> np.ndarray:
  return np.array([f'S{span:02d}-{i:07d}' for i in range(start + 1,
                                                          start + n + 1)],
                  dtype=object)


def _rng(seed: int, span: int, stream: int, chunk: int = 0):
  # Independent streams per (seed, span, purpose, chunk).
  return np.random.default_rng(np.random.SeedSequence([seed, span, stream,
                                                       chunk]))


_STREAM_FEATURES, _STREAM_LABELER_SAMPLE, _STREAM_LABELS = 1, 2, 3


def span_process(params: Dict[str, Any], scenario: str, span: int,
                 spans: int) -> Dict[str, Any]:
  """The parameters in force for one span (drift applies to the last span)."""
  p = copy.deepcopy(params)
  if span != spans or scenario == 'clean':
    return p
  drift = DRIFT[scenario]
  if scenario == 'data_drift':
    p['income']['median'] *= drift['annual_income_median_multiplier']
    p['channel'] = dict(drift['channel'])
  elif scenario == 'concept_drift':
    for k, m in drift['risk_weight_multipliers'].items():
      p['risk']['weights'][k] *= m
  return p


# ---------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------
def risk_score(p: Dict[str, Any], f: Dict[str, np.ndarray]) -> np.ndarray:
  """Deterministic part of the latent risk score from the true features."""
  r = p['risk']
  w, c = r['weights'], r['centers']
  s = w['credit_score'] * -(f['credit_score'] - c['credit_score'][0]) / c[
      'credit_score'][1]
  s += w['num_late_payments_12m'] * np.minimum(f['num_late_payments_12m'],
                                               c['late_cap'])
  s += w['debt_to_income'] * (f['debt_to_income'] - c['debt_to_income'][0]
                             ) / c['debt_to_income'][1]
  s += w['annual_income'] * -(np.log(f['income']) - np.log(
      c['annual_income'][0])) / c['annual_income'][1]
  s += w['loan_to_income'] * (np.log(f['loan_amount'] / f['income']) -
                              np.log(c['loan_to_income'][0])
                              ) / c['loan_to_income'][1]
  ey = c['employment_years']
  s += w['employment_years'] * -(np.minimum(f['employment_years'], ey[2]) -
                                 ey[0]) / ey[1]
  s += w['interest_rate'] * (f['interest_rate'] - c['interest_rate'][0]
                            ) / c['interest_rate'][1]
  s += w['num_open_accounts'] * f['num_open_accounts']
  for col in ('loan_purpose', 'home_ownership', 'employment_type'):
    keys = list(r[col].keys())
    eff = np.array([r[col][k] for k in keys])
    s += eff[f[col + '_idx']]
  return s


def generate_rows(p: Dict[str, Any], rng: np.random.Generator, n: int,
                  span: int, start: int) -> Dict[str, Any]:
  """One chunk of rows: returns the CSV frame plus hidden truths."""
  bands = list(p['age_bands'].keys())
  band_tab = np.array(list(p['age_bands'].values()), dtype=np.float64)
  band_idx = _categorical(rng, band_tab[:, 2], n)
  lo, hi = band_tab[band_idx, 0], band_tab[band_idx, 1]
  age = (lo + np.floor(rng.random(n) * (hi - lo + 1))).astype(np.int64)
  weak = band_idx == bands.index(WEAK_SLICE['value'])

  g_keys, g_p = _keys_probs(p['gender'])
  gender_idx = _categorical(rng, g_p, n)
  e_keys, e_p = _keys_probs(p['ethnicity'])
  eth_idx = _categorical(rng, e_p, n)
  ch_keys, ch_p = _keys_probs(p['channel'])
  ch_idx = _categorical(rng, ch_p, n)
  broker = ch_idx == ch_keys.index('broker')
  bw = np.array(p['branch_weights'], dtype=np.float64)
  branch_idx = _categorical(rng, bw, n)
  uw_idx = rng.integers(0, p['num_underwriters'], n)

  # Employment type by age band.
  et = p['employment_type']
  et_keys = list(et['default'].keys())
  band_et = np.array([[et.get(b, et['default'])[k] for k in et_keys]
                      for b in bands])
  et_idx = _categorical(rng, band_et[band_idx])
  unemployed = et_idx == et_keys.index('unemployed')
  a, b = p['employment_years_beta']
  emp_years = np.round((age - 18) * rng.beta(a, b, n), 1)
  emp_years[unemployed] = 0.0

  ho = p['home_ownership']
  ho_keys = list(ho[bands[0]].keys())
  band_ho = np.array([[ho[bnd][k] for k in ho_keys] for bnd in bands])
  ho_idx = _categorical(rng, band_ho[band_idx])

  inc = p['income']
  type_eff = np.array([inc['employment_type_log_effect'][k] for k in et_keys])
  log_inc = (np.log(inc['median']) + type_eff[et_idx] +
             inc['per_employment_year'] *
             np.minimum(emp_years, inc['employment_year_cap']) -
             inc['young_penalty_per_year'] * np.maximum(0, 30 - age) +
             rng.normal(0.0, inc['log_sd'], n))
  income = np.clip(np.exp(log_inc), inc['min'], inc['max'])
  rep_sd = np.where(broker, inc['broker_report_log_sd'], inc['report_log_sd'])
  rep_bias = np.where(broker, inc['broker_report_log_bias'],
                      inc['report_log_bias'])
  reported = income * np.exp(rep_bias + rep_sd * rng.standard_normal(n))
  reported = np.round(reported / inc['round_to']) * inc['round_to']

  lp_keys, lp_p = _keys_probs(p['loan_purpose'])
  lp_idx = _categorical(rng, lp_p, n)
  ratio = np.array([p['loan_to_income_median'][k] for k in lp_keys])
  amount = income * ratio[lp_idx] * np.exp(
      rng.normal(0.0, p['loan_to_income_log_sd'], n))
  step = p['loan_amount_round_to']
  amount = np.round(np.clip(amount, p['loan_amount_min'],
                            p['loan_amount_max']) / step) * step
  terms = np.array(p['loan_terms'], dtype=np.int64)
  tm = p['loan_term_model']
  term_idx = np.clip(np.round(tm['offset'] + tm['slope'] *
                              np.log(amount / 5000.0) +
                              rng.normal(0.0, tm['sd'], n)),
                     0, len(terms) - 1).astype(np.int64)
  term = terms[term_idx]

  z = rng.standard_normal(n)
  cs = p['credit_score']
  score = (cs['mean'] + cs['per_z'] * z +
           cs['noise_sd'] * rng.standard_normal(n) -
           cs['young_penalty_per_year'] *
           np.maximum(0, cs['young_penalty_from'] - age))
  score = np.clip(np.round(score), cs['min'], cs['max']).astype(np.int64)
  lpm = p['late_payments']
  late = np.minimum(rng.poisson(np.exp(lpm['log_rate'] + lpm['per_z'] * z)),
                    lpm['max']).astype(np.int64)
  oa = p['open_accounts']
  open_acc = rng.poisson(oa['base'] + oa['per_year_of_age'] *
                         np.minimum(age - 18, oa['age_cap'])).astype(np.int64)
  d = p['debt_to_income']
  dti = np.clip(rng.gamma(d['gamma_shape'], d['gamma_scale'], n) +
                d['per_z'] * z, d['min'], d['max'])
  dti = np.round(dti, p['float_decimals']['debt_to_income'])

  miss = p['missing']
  thin = weak & (rng.random(n) < miss['credit_score_weak_slice'])
  score_missing = thin | (~weak & (rng.random(n) < miss['credit_score']))
  ir = p['interest_rate']
  seen = np.where(thin, ir['no_score_value'], score)
  rate = (ir['base'] + ir['per_score_point_below_760'] * (760.0 - seen) +
          ir['per_term_month_above_36'] * (term - 36) +
          rng.normal(0.0, ir['noise_sd'], n))
  rate = np.round(np.clip(rate, ir['min'], ir['max']),
                  p['float_decimals']['interest_rate'])

  truth = {'credit_score': score.astype(np.float64),
           'num_late_payments_12m': late, 'debt_to_income': dti,
           'income': income, 'loan_amount': amount,
           'employment_years': emp_years, 'interest_rate': rate,
           'num_open_accounts': open_acc, 'loan_purpose_idx': lp_idx,
           'home_ownership_idx': ho_idx, 'employment_type_idx': et_idx}
  r = p['risk']
  signal = risk_score(p, truth)
  a = r['weak_slice_signal_fraction']
  u = rng.standard_normal(n)
  weak_signal = (r['score_center'] + a * (signal - r['score_center']) +
                 np.sqrt(1.0 - a * a) * r['score_sd'] * u)
  latent = np.where(weak, weak_signal, signal) + rng.normal(
      0.0, r['noise_sd'], n)
  t1, t2 = r['thresholds']
  outcome_idx = (latent >= t1).astype(np.int64) + (latent >= t2)

  # Missing values in what the CSV shows (the truths above stay complete).
  income_col = np.where(rng.random(n) < miss['annual_income'], np.nan,
                        reported)
  emp_col = np.where(rng.random(n) < miss['employment_years'], np.nan,
                     emp_years)
  dti_col = np.where(rng.random(n) < miss['debt_to_income'], np.nan, dti)
  ho_arr = np.array(ho_keys, dtype=object)[ho_idx]
  ho_arr[rng.random(n) < miss['home_ownership']] = ''
  score_col = pd.array(score, dtype='Int64')
  score_col[score_missing] = pd.NA

  frame = pd.DataFrame({
      'application_id': application_ids(span, start, n),
      'application_month': span_month(span),
      'age': age,
      'gender': np.array(g_keys, dtype=object)[gender_idx],
      'age_band': np.array(bands, dtype=object)[band_idx],
      'ethnicity': np.array(e_keys, dtype=object)[eth_idx],
      'annual_income': income_col,
      'employment_type': np.array(et_keys, dtype=object)[et_idx],
      'employment_years': emp_col,
      'home_ownership': ho_arr,
      'loan_amount': amount,
      'loan_term_months': term,
      'loan_purpose': np.array(lp_keys, dtype=object)[lp_idx],
      'interest_rate': rate,
      'debt_to_income': dti_col,
      'credit_score': score_col,
      'num_open_accounts': open_acc,
      'num_late_payments_12m': late,
      'channel': np.array(ch_keys, dtype=object)[ch_idx],
      'branch': np.array([f'BR{i + 1:02d}' for i in range(len(bw))],
                         dtype=object)[branch_idx],
      'underwriter': np.array([f'UW{i + 1:02d}'
                               for i in range(p['num_underwriters'])],
                              dtype=object)[uw_idx],
      'outcome': np.array(CLASSES, dtype=object)[outcome_idx],
  }, columns=list(COLUMNS))
  return {'frame': frame, 'outcome_idx': outcome_idx, 'weak': weak,
          'latent': latent, 'signal': signal}


def calibrate(rows: int = 1_000_000, seed: int = CALIBRATION_SEED,
              params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """Recomputes the frozen constants of BASE_PARAMS['risk'] (development aid).

  Returns score_center, score_sd and the thresholds giving the target class
  rates on the clean process. Run it after changing the process and paste the
  rounded values into BASE_PARAMS.
  """
  p = copy.deepcopy(params or BASE_PARAMS)
  signals = []
  for c, start in enumerate(range(0, rows, CHUNK_ROWS)):
    n = min(CHUNK_ROWS, rows - start)
    signals.append(generate_rows(p, _rng(seed, 0, 0, c), n, 1, start)['signal'])
  sig = np.concatenate(signals)
  p['risk']['score_center'] = float(sig.mean())
  p['risk']['score_sd'] = float(sig.std())
  latents = []
  for c, start in enumerate(range(0, rows, CHUNK_ROWS)):
    n = min(CHUNK_ROWS, rows - start)
    latents.append(generate_rows(p, _rng(seed, 0, 0, c), n, 1, start)['latent'])
  lat = np.concatenate(latents)
  q1 = TARGET_CLASS_RATES['repaid']
  q2 = 1.0 - TARGET_CLASS_RATES['default']
  return {'score_center': p['risk']['score_center'],
          'score_sd': p['risk']['score_sd'],
          'thresholds': [float(v) for v in np.quantile(lat, [q1, q2])]}


# ---------------------------------------------------------------------------
# Labelers
# ---------------------------------------------------------------------------
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
    wrong = _categorical(rng, err[outcome_idx]) if n else outcome_idx
    out[:, j] = np.where(correct, outcome_idx, wrong)
  return out


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def _log(msg: str) -> None:
  print(f'[data.generator] {msg}', file=sys.stderr, flush=True)


def _write_csv(frame: pd.DataFrame, handle, header: bool) -> None:
  frame.to_csv(handle, index=False, header=header, lineterminator='\n',
               na_rep='')


_OWN_ENTRY_PREFIXES = ('span-', 'labelers', 'generation.json')


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
  if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
    raise FileExistsError(f'{out_dir} exists and is not a directory')
  if os.path.isdir(out_dir):
    entries = sorted(os.listdir(out_dir))
    if entries and not overwrite:
      raise FileExistsError(
          f'refusing to write into non-empty directory {out_dir!r} '
          f'(contains {entries[:5]}); pass overwrite=True / --overwrite to '
          'replace a previously generated dataset')
    foreign = [e for e in entries if not e.startswith(_OWN_ENTRY_PREFIXES)]
    if foreign and 'generation.json' not in entries:
      raise FileExistsError(
          f'refusing to overwrite {out_dir!r}: it does not look like a '
          f'generated dataset (no generation.json; contains {foreign[:5]})')


def _rates(counts: np.ndarray) -> Dict[str, float]:
  total = max(int(counts.sum()), 1)
  return {c: round(float(counts[i]) / total, 6) for i, c in enumerate(CLASSES)}


def generate(out_dir: str = DEFAULT_OUT, spans: int = 3,
             rows_per_span: int = 20000, scenario: str = 'clean',
             seed: int = 42, labeler_fraction: float = 0.05,
             overwrite: bool = False, verbose: bool = True) -> Dict[str, Any]:
  """Writes the dataset under `out_dir`; returns a summary dict.

  The whole dataset is written into a sibling staging directory and renamed
  into place at the end, so readers never see a half-written dataset.
  """
  if scenario not in SCENARIOS:
    raise ValueError(f'scenario must be one of {SCENARIOS}, got {scenario!r}')
  if int(spans) < 1 or int(rows_per_span) < 1:
    raise ValueError('spans and rows_per_span must be >= 1')
  if scenario != 'clean' and spans < 2:
    raise ValueError(f'scenario {scenario!r} drifts the last span relative to '
                     'the previous one; it needs spans >= 2')
  if not 0.0 <= labeler_fraction <= 1.0:
    raise ValueError('labeler_fraction must be within [0, 1]')
  spans, rows_per_span, seed = int(spans), int(rows_per_span), int(seed)
  out_dir = os.path.abspath(out_dir)
  _prepare_out_dir(out_dir, overwrite)
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  staging = os.path.join(parent,
                         f'.{os.path.basename(out_dir)}.tmp-{os.getpid()}')
  if os.path.exists(staging):
    shutil.rmtree(staging)
  os.makedirs(os.path.join(staging, 'labelers'))
  t_start = time.time()
  span_records: List[Dict[str, Any]] = []
  try:
    for span in range(1, spans + 1):
      span_records.append(_write_span(staging, span, spans, rows_per_span,
                                      scenario, seed, labeler_fraction,
                                      verbose))
    meta = _generation_record(spans, rows_per_span, scenario, seed,
                              labeler_fraction, span_records)
    with open(os.path.join(staging, 'generation.json'), 'w') as f:
      json.dump(meta, f, indent=2, sort_keys=False)
      f.write('\n')
    _swap_into_place(staging, out_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  seconds = time.time() - t_start
  if verbose:
    _log(f'wrote {spans} span(s) x {rows_per_span} rows to {out_dir} '
         f'in {seconds:.1f}s')
  counts = sum(np.array([r['class_counts'][c] for c in CLASSES])
               for r in span_records)
  return {
      'out_dir': out_dir,
      'generation_json': os.path.join(out_dir, 'generation.json'),
      'scenario': scenario,
      'seed': seed,
      'rows_total': int(sum(r['rows'] for r in span_records)),
      'class_rates': _rates(counts),
      'spans': [{
          'span': r['span'], 'month': r['month'], 'rows': r['rows'],
          'drifted': r['drifted'], 'class_rates': r['class_rates'],
          'data_csv': os.path.join(out_dir, r['data_csv']),
          'labelers_csv': os.path.join(out_dir, r['labelers']['path']),
          'labeled_rows': r['labelers']['rows'],
      } for r in span_records],
      'seconds': round(seconds, 2),
  }


def _swap_into_place(staging: str, out_dir: str) -> None:
  if os.path.isdir(out_dir) and not os.listdir(out_dir):
    os.rmdir(out_dir)
  if os.path.exists(out_dir):
    old = f'{staging}.old'
    if os.path.exists(old):
      shutil.rmtree(old)
    os.rename(out_dir, old)
    try:
      os.rename(staging, out_dir)
    except BaseException:
      os.rename(old, out_dir)  # put the previous dataset back
      raise
    shutil.rmtree(old)
  else:
    os.rename(staging, out_dir)


def _write_span(root: str, span: int, spans: int, rows: int, scenario: str,
                seed: int, labeler_fraction: float,
                verbose: bool) -> Dict[str, Any]:
  p = span_process(BASE_PARAMS, scenario, span, spans)
  drifted = span == spans and scenario != 'clean'
  span_dir = os.path.join(root, f'span-{span}')
  os.makedirs(span_dir)
  data_rel = os.path.join(f'span-{span}', 'data.csv')
  lab_rel = os.path.join('labelers', f'span-{span}.csv')
  n_labeled = int(round(labeler_fraction * rows))
  labeled = np.sort(_rng(seed, span, _STREAM_LABELER_SAMPLE).choice(
      rows, size=n_labeled, replace=False))
  counts = np.zeros(len(CLASSES), dtype=np.int64)
  weak_rows = 0
  lab_weak = 0
  t0 = time.time()
  with open(os.path.join(root, data_rel), 'w', newline='') as data_f, \
      open(os.path.join(root, lab_rel), 'w', newline='') as lab_f:
    lab_f.write(','.join(('application_id',) + LABELER_COLUMNS) + '\n')
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
      n = min(CHUNK_ROWS, rows - start)
      out = generate_rows(p, _rng(seed, span, _STREAM_FEATURES, chunk), n,
                          span, start)
      _write_csv(out['frame'], data_f, header=chunk == 0)
      counts += np.bincount(out['outcome_idx'], minlength=len(CLASSES))
      weak_rows += int(out['weak'].sum())
      lo, hi = np.searchsorted(labeled, [start, start + n])
      local = labeled[lo:hi] - start
      if len(local):
        given = label_rows(_rng(seed, span, _STREAM_LABELS, chunk),
                           out['outcome_idx'][local], out['weak'][local])
        lab_weak += int(out['weak'][local].sum())
        names = np.array(CLASSES, dtype=object)
        lab = pd.DataFrame({'application_id':
                            out['frame']['application_id'].to_numpy()[local]})
        for j, col in enumerate(LABELER_COLUMNS):
          lab[col] = names[given[:, j]]
        _write_csv(lab, lab_f, header=False)
      if verbose:
        _log(f'span {span}/{spans} ({span_month(span)}'
             f'{", drifted: " + scenario if drifted else ""}): '
             f'{start + n}/{rows} rows ({time.time() - t0:.1f}s)')
  probs = labeler_probabilities()['accuracy']
  weak_share = lab_weak / n_labeled if n_labeled else 0.0
  expected = {name: round((1 - weak_share) * a['other'] +
                          weak_share * a[WEAK_SLICE['value']], 6)
              for name, a in probs.items()}
  return {
      'span': span,
      'month': span_month(span),
      'data_csv': data_rel,
      'rows': rows,
      'first_id': f'S{span:02d}-{1:07d}',
      'drifted': drifted,
      'class_counts': {c: int(counts[i]) for i, c in enumerate(CLASSES)},
      'class_rates': _rates(counts),
      'weak_slice_rows': weak_rows,
      'labelers': {'path': lab_rel, 'rows': n_labeled,
                   'weak_slice_rows': lab_weak,
                   'expected_accuracy': expected},
  }


def _generation_record(spans, rows_per_span, scenario, seed, labeler_fraction,
                       span_records) -> Dict[str, Any]:
  drift = DRIFT[scenario]
  return {
      'dataset': DATASET_NAME,
      'generator': 'data/generator.py',
      'generator_version': GENERATOR_VERSION,
      'parameters': {'spans': spans, 'rows_per_span': rows_per_span,
                     'scenario': scenario, 'seed': seed,
                     'labeler_fraction': labeler_fraction,
                     'chunk_rows': CHUNK_ROWS},
      'layout': {'data': 'span-{SPAN}/data.csv',
                 'labelers': 'labelers/span-{SPAN}.csv',
                 'id_format': 'S{span:02d}-{row:07d}'},
      'columns': list(COLUMNS),
      'classes': list(CLASSES),
      'target_class_rates': TARGET_CLASS_RATES,
      'spans': span_records,
      'weak_slice': {
          **WEAK_SLICE,
          'credit_score_missing': BASE_PARAMS['missing'][
              'credit_score_weak_slice'],
          'signal_fraction': BASE_PARAMS['risk']['weak_slice_signal_fraction'],
          'why': 'thin credit files: credit_score often missing (and the '
                 'lender priced those loans without a score); the outcome '
                 'depends more on an unobserved factor',
      },
      'tag_effect': {
          'column': 'channel', 'value': 'broker',
          'annual_income_report_log_sd':
              BASE_PARAMS['income']['broker_report_log_sd'],
          'annual_income_report_log_bias':
              BASE_PARAMS['income']['broker_report_log_bias'],
          'other_channels_report_log_sd':
              BASE_PARAMS['income']['report_log_sd'],
          'why': 'self-reported income passed on by brokers: noisier and '
                 'inflated, so annual_income carries less signal there',
      },
      'distractors': {'num_open_accounts': 'zero weight in the risk score',
                      'protected_attributes': 'gender and ethnicity are '
                                              'independent of everything; '
                                              'age acts only through the '
                                              'features and the weak slice'},
      'labelers': {
          'columns': list(LABELER_COLUMNS),
          'fraction': labeler_fraction,
          **labeler_probabilities(),
          'weak_slice_drop': LABELERS['weak_slice_drop'],
          'independent_given_row': True,
      },
      'drift': {
          'scenario': scenario,
          'drifted_span': spans if scenario != 'clean' else None,
          'changes': drift,
          'detect_with': {
              'clean': 'nothing should fire',
              'data_drift': 'feature distribution distance between the last '
                            'two spans (annual_income, loan_amount; channel '
                            'as a tag)',
              'concept_drift': 'label distribution shift between the last two '
                               'spans and a drop of the previous model\'s '
                               'evaluation on the new span',
          }[scenario],
      },
      'process': BASE_PARAMS,
      'calibration_seed': CALIBRATION_SEED,
  }


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m data.generator',
      description='Generate the synthetic credit-risk dataset '
                  '(see data/DATA_CARD.md).')
  parser.add_argument('--out', default=DEFAULT_OUT,
                      help=f'output directory (default: {DEFAULT_OUT})')
  parser.add_argument('--spans', type=int, default=3)
  parser.add_argument('--rows', type=int, default=20000,
                      help='rows per span (default: 20000)')
  parser.add_argument('--scenario', choices=SCENARIOS, default='clean')
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--labeler-fraction', type=float, default=0.05)
  parser.add_argument('--overwrite', action='store_true',
                      help='replace an existing generated dataset')
  parser.add_argument('--quiet', action='store_true',
                      help='no progress on stderr')
  args = parser.parse_args(argv)
  try:
    summary = generate(args.out, spans=args.spans, rows_per_span=args.rows,
                       scenario=args.scenario, seed=args.seed,
                       labeler_fraction=args.labeler_fraction,
                       overwrite=args.overwrite, verbose=not args.quiet)
  except (FileExistsError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(json.dumps(summary, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
