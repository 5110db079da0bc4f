"""The rows of one chunk: people, employment, income, loan, credit, outcome.

Each step draws from the chunk's random stream in a fixed order (the order
is part of the output: the same seed gives byte-identical files), reads the
values drawn so far from `v` and adds its own.
"""

import copy
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from data import process
from data.sampling import application_ids
from data.sampling import categorical
from data.sampling import keys_probs
from data.sampling import rng_for
from data.sampling import span_month

Values = Dict[str, Any]


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



def _people(p, rng, n: int, v: Values) -> None:
  """Age band and age, gender, ethnicity, channel, branch, underwriter."""
  bands = list(p['age_bands'].keys())
  band_tab = np.array(list(p['age_bands'].values()), dtype=np.float64)
  band_idx = categorical(rng, band_tab[:, 2], n)
  lo, hi = band_tab[band_idx, 0], band_tab[band_idx, 1]
  v['bands'], v['band_idx'] = bands, band_idx
  v['age'] = (lo + np.floor(rng.random(n) * (hi - lo + 1))).astype(np.int64)
  v['weak'] = band_idx == bands.index(process.WEAK_SLICE['value'])
  v['g_keys'], g_p = keys_probs(p['gender'])
  v['gender_idx'] = categorical(rng, g_p, n)
  v['e_keys'], e_p = keys_probs(p['ethnicity'])
  v['eth_idx'] = categorical(rng, e_p, n)
  v['ch_keys'], ch_p = keys_probs(p['channel'])
  v['ch_idx'] = categorical(rng, ch_p, n)
  v['broker'] = v['ch_idx'] == v['ch_keys'].index('broker')
  v['bw'] = np.array(p['branch_weights'], dtype=np.float64)
  v['branch_idx'] = categorical(rng, v['bw'], n)
  v['uw_idx'] = rng.integers(0, p['num_underwriters'], n)


def _employment(p, rng, n: int, v: Values) -> None:
  """Employment type and home ownership by age band; years employed."""
  bands, band_idx = v['bands'], v['band_idx']
  et = p['employment_type']
  et_keys = list(et['default'].keys())
  band_et = np.array([[et.get(b, et['default'])[k] for k in et_keys]
                      for b in bands])
  et_idx = categorical(rng, band_et[band_idx])
  unemployed = et_idx == et_keys.index('unemployed')
  a, b = p['employment_years_beta']
  emp_years = np.round((v['age'] - 18) * rng.beta(a, b, n), 1)
  emp_years[unemployed] = 0.0
  v['et_keys'], v['et_idx'], v['emp_years'] = et_keys, et_idx, emp_years

  ho = p['home_ownership']
  v['ho_keys'] = list(ho[bands[0]].keys())
  band_ho = np.array([[ho[bnd][k] for k in v['ho_keys']] for bnd in bands])
  v['ho_idx'] = categorical(rng, band_ho[band_idx])


def _income(p, rng, n: int, v: Values) -> None:
  """True income, and the reported one (noisier and inflated via brokers)."""
  inc = p['income']
  type_eff = np.array([inc['employment_type_log_effect'][k] for k in v['et_keys']])
  log_inc = (np.log(inc['median']) + type_eff[v['et_idx']] +
             inc['per_employment_year'] *
             np.minimum(v['emp_years'], inc['employment_year_cap']) -
             inc['young_penalty_per_year'] * np.maximum(0, 30 - v['age']) +
             rng.normal(0.0, inc['log_sd'], n))
  income = np.clip(np.exp(log_inc), inc['min'], inc['max'])
  broker = v['broker']
  rep_sd = np.where(broker, inc['broker_report_log_sd'], inc['report_log_sd'])
  rep_bias = np.where(broker, inc['broker_report_log_bias'],
                      inc['report_log_bias'])
  reported = income * np.exp(rep_bias + rep_sd * rng.standard_normal(n))
  v['income'] = income
  v['reported'] = np.round(reported / inc['round_to']) * inc['round_to']


def _loan(p, rng, n: int, v: Values) -> None:
  """Purpose, amount (a ratio of true income) and term."""
  v['lp_keys'], lp_p = keys_probs(p['loan_purpose'])
  lp_idx = categorical(rng, lp_p, n)
  ratio = np.array([p['loan_to_income_median'][k] for k in v['lp_keys']])
  amount = v['income'] * ratio[lp_idx] * np.exp(
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
  v['lp_idx'], v['amount'], v['term'] = lp_idx, amount, terms[term_idx]


def _credit(p, rng, n: int, v: Values) -> None:
  """Credit score, late payments, open accounts, debt-to-income from a latent
  creditworthiness; which scores are missing; the rate the lender priced."""
  age, weak = v['age'], v['weak']
  z = rng.standard_normal(n)
  cs = p['credit_score']
  score = (cs['mean'] + cs['per_z'] * z +
           cs['noise_sd'] * rng.standard_normal(n) -
           cs['young_penalty_per_year'] *
           np.maximum(0, cs['young_penalty_from'] - age))
  score = np.clip(np.round(score), cs['min'], cs['max']).astype(np.int64)
  lpm = p['late_payments']
  v['late'] = np.minimum(rng.poisson(np.exp(lpm['log_rate'] + lpm['per_z'] * z)),
                         lpm['max']).astype(np.int64)
  oa = p['open_accounts']
  v['open_acc'] = rng.poisson(oa['base'] + oa['per_year_of_age'] *
                              np.minimum(age - 18, oa['age_cap'])).astype(np.int64)
  d = p['debt_to_income']
  dti = np.clip(rng.gamma(d['gamma_shape'], d['gamma_scale'], n) +
                d['per_z'] * z, d['min'], d['max'])
  v['dti'] = np.round(dti, p['float_decimals']['debt_to_income'])

  miss = p['missing']
  thin = weak & (rng.random(n) < miss['credit_score_weak_slice'])
  v['score_missing'] = thin | (~weak & (rng.random(n) < miss['credit_score']))
  ir = p['interest_rate']
  seen = np.where(thin, ir['no_score_value'], score)
  rate = (ir['base'] + ir['per_score_point_below_760'] * (760.0 - seen) +
          ir['per_term_month_above_36'] * (v['term'] - 36) +
          rng.normal(0.0, ir['noise_sd'], n))
  v['rate'] = np.round(np.clip(rate, ir['min'], ir['max']),
                       p['float_decimals']['interest_rate'])
  v['score'] = score


def _outcome(p, rng, n: int, v: Values) -> None:
  """The latent risk score (weaker signal in the weak slice) cut into classes."""
  truth = {'credit_score': v['score'].astype(np.float64),
           'num_late_payments_12m': v['late'], 'debt_to_income': v['dti'],
           'income': v['income'], 'loan_amount': v['amount'],
           'employment_years': v['emp_years'], 'interest_rate': v['rate'],
           'num_open_accounts': v['open_acc'], 'loan_purpose_idx': v['lp_idx'],
           'home_ownership_idx': v['ho_idx'], 'employment_type_idx': v['et_idx']}
  r = p['risk']
  signal = risk_score(p, truth)
  a = r['weak_slice_signal_fraction']
  u = rng.standard_normal(n)
  weak_signal = (r['score_center'] + a * (signal - r['score_center']) +
                 np.sqrt(1.0 - a * a) * r['score_sd'] * u)
  latent = np.where(v['weak'], weak_signal, signal) + rng.normal(
      0.0, r['noise_sd'], n)
  t1, t2 = r['thresholds']
  v['signal'], v['latent'] = signal, latent
  v['outcome_idx'] = (latent >= t1).astype(np.int64) + (latent >= t2)


def _frame(p, rng, n: int, span: int, start: int, v: Values) -> pd.DataFrame:
  """What the CSV shows: missing values drawn here (the truths stay complete)."""
  miss = p['missing']
  income_col = np.where(rng.random(n) < miss['annual_income'], np.nan,
                        v['reported'])
  emp_col = np.where(rng.random(n) < miss['employment_years'], np.nan,
                     v['emp_years'])
  dti_col = np.where(rng.random(n) < miss['debt_to_income'], np.nan, v['dti'])
  ho_arr = np.array(v['ho_keys'], dtype=object)[v['ho_idx']]
  ho_arr[rng.random(n) < miss['home_ownership']] = ''
  score_col = pd.array(v['score'], dtype='Int64')
  score_col[v['score_missing']] = pd.NA
  names = lambda keys: np.array(keys, dtype=object)
  return pd.DataFrame({
      'application_id': application_ids(span, start, n),
      'application_month': span_month(span),
      'age': v['age'],
      'gender': names(v['g_keys'])[v['gender_idx']],
      'age_band': names(v['bands'])[v['band_idx']],
      'ethnicity': names(v['e_keys'])[v['eth_idx']],
      'annual_income': income_col,
      'employment_type': names(v['et_keys'])[v['et_idx']],
      'employment_years': emp_col,
      'home_ownership': ho_arr,
      'loan_amount': v['amount'],
      'loan_term_months': v['term'],
      'loan_purpose': names(v['lp_keys'])[v['lp_idx']],
      'interest_rate': v['rate'],
      'debt_to_income': dti_col,
      'credit_score': score_col,
      'num_open_accounts': v['open_acc'],
      'num_late_payments_12m': v['late'],
      'channel': names(v['ch_keys'])[v['ch_idx']],
      'branch': names([f'BR{i + 1:02d}' for i in range(len(v['bw']))])[v['branch_idx']],
      'underwriter': names([f'UW{i + 1:02d}'
                            for i in range(p['num_underwriters'])])[v['uw_idx']],
      'outcome': names(process.CLASSES)[v['outcome_idx']],
  }, columns=[c for c in process.COLUMNS if c not in process.PII_COLUMNS])


def generate_rows(p: Dict[str, Any], rng: np.random.Generator, n: int,
                  span: int, start: int) -> Dict[str, Any]:
  """One chunk of rows: returns the CSV frame plus hidden truths."""
  v: Values = {}
  for step in (_people, _employment, _income, _loan, _credit, _outcome):
    step(p, rng, n, v)
  frame = _frame(p, rng, n, span, start, v)
  return {'frame': frame, 'outcome_idx': v['outcome_idx'], 'weak': v['weak'],
          'latent': v['latent'], 'signal': v['signal']}


def calibrate(rows: int = 1_000_000, seed: int = process.CALIBRATION_SEED,
              params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """Recomputes the frozen constants of BASE_PARAMS['risk'] (development aid).

  Returns score_center, score_sd and the thresholds giving the target class
  rates on the clean process. Run it after changing the process and paste the
  rounded values into BASE_PARAMS.
  """
  p = copy.deepcopy(params or process.BASE_PARAMS)
  signals = []
  for c, start in enumerate(range(0, rows, process.CHUNK_ROWS)):
    n = min(process.CHUNK_ROWS, rows - start)
    signals.append(generate_rows(p, rng_for(seed, 0, 0, c), n, 1, start)['signal'])
  sig = np.concatenate(signals)
  p['risk']['score_center'] = float(sig.mean())
  p['risk']['score_sd'] = float(sig.std())
  latents = []
  for c, start in enumerate(range(0, rows, process.CHUNK_ROWS)):
    n = min(process.CHUNK_ROWS, rows - start)
    latents.append(generate_rows(p, rng_for(seed, 0, 0, c), n, 1, start)['latent'])
  lat = np.concatenate(latents)
  q1 = process.TARGET_CLASS_RATES['repaid']
  q2 = 1.0 - process.TARGET_CLASS_RATES['default']
  return {'score_center': p['risk']['score_center'],
          'score_sd': p['risk']['score_sd'],
          'thresholds': [float(v) for v in np.quantile(lat, [q1, q2])]}

