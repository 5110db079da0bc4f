"""The generating process of the credit-risk data: every planted parameter.

Every constant lives here and is dumped verbatim to generation.json, so that
file is the single source of planted truth (see DATA_CARD.md); span_process
applies a drift scenario to the last span.
"""

import copy
import os
from typing import Any, Dict, Optional, Tuple

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
    'application_id', 'applicant_name', 'email', 'application_month', 'age', 'gender', 'age_band',
    'ethnicity', 'annual_income', 'employment_type', 'employment_years',
    'home_ownership', 'loan_amount', 'loan_term_months', 'loan_purpose',
    'interest_rate', 'debt_to_income', 'credit_score', 'num_open_accounts',
    'num_late_payments_12m', 'channel', 'branch', 'underwriter', 'outcome',
)
# Personal data (data/personal.py): marked in the description's `pii`
# section, so never a model input and never written out raw downstream.
PII_COLUMNS = ('applicant_name', 'email')
INT_COLUMNS = ('age', 'loan_term_months', 'credit_score', 'num_open_accounts',
               'num_late_payments_12m')
FLOAT_COLUMNS = ('annual_income', 'employment_years', 'loan_amount',
                 'interest_rate', 'debt_to_income')

WEAK_SLICE = {'column': 'age_band', 'value': '18-24'}

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


def parse_schedule(text: str) -> Dict[int, str]:
  """'3=data_drift,5-7=concept_drift' -> {3: 'data_drift', 5: ..., 6: ..., 7: ...}."""
  out: Dict[int, str] = {}
  for part in filter(None, (p.strip() for p in (text or '').split(','))):
    spans_text, sep, value = part.partition('=')
    if not sep:
      raise ValueError(f'expected SPAN=VALUE or FIRST-LAST=VALUE, got {part!r}')
    first, _, last = spans_text.partition('-')
    try:
      numbers = range(int(first), int(last or first) + 1)
    except ValueError:
      raise ValueError(f'span numbers must be integers, got {spans_text!r}') from None
    for span in numbers:
      out[span] = value.strip()
  return out


def scenario_of(scenario: str, span: int, spans: int,
                schedule: Optional[Dict[int, str]] = None) -> str:
  """The scenario in force for one span: the schedule's when given (spans it
  does not name are clean), else `scenario` on the last span only."""
  if schedule is not None:
    return schedule.get(span, 'clean')
  return scenario if span == spans else 'clean'


def span_process(params: Dict[str, Any], scenario: str, span: int,
                 spans: int, schedule: Optional[Dict[int, str]] = None,
                 age_band_share: Optional[Dict[int, Tuple[str, float]]] = None,
                 concept_strength: float = 1.0) -> Dict[str, Any]:
  """The parameters in force for one span.

  Without a schedule, drift applies to the last span only. `schedule`
  (span -> scenario) drifts any spans, e.g. concept drift from span 5 on.
  `age_band_share` (span -> (band, share)) collects more (or fewer)
  applications of one age band in that span: it gets this probability, the
  other bands keep their proportions. Neither changes how an outcome
  follows from the features, so a boosted slice is more data, not new truth.
  `concept_strength` raises concept drift's weight multipliers to that power
  (1: as DRIFT says; 2: debt-to-income x4, credit score x0.25).
  """
  p = copy.deepcopy(params)
  if span in (age_band_share or {}):
    band, share = age_band_share[span]
    bands = p['age_bands']
    if band not in bands or not 0.0 < share < 1.0:
      raise ValueError(f'span {span}: age band share needs one of {sorted(bands)} and a '
                       f'share in (0, 1), got {band!r}: {share}')
    others = sum(v[2] for k, v in bands.items() if k != band)
    for k, v in bands.items():
      v[2] = share if k == band else v[2] * (1.0 - share) / others
  active = scenario_of(scenario, span, spans, schedule)
  if active not in SCENARIOS:
    raise ValueError(f'span {span}: scenario must be one of {SCENARIOS}, got {active!r}')
  drift = DRIFT[active]
  if active == 'data_drift':
    p['income']['median'] *= drift['annual_income_median_multiplier']
    p['channel'] = dict(drift['channel'])
  elif active == 'concept_drift':
    if concept_strength <= 0:
      raise ValueError(f'concept_strength must be positive, got {concept_strength}')
    for k, m in drift['risk_weight_multipliers'].items():
      p['risk']['weights'][k] *= m ** concept_strength
  return p
