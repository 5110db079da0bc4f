"""Tests of the synthetic credit-risk generator (data/generator.py).

Small sizes (3,000-20,000 rows per span) keep the whole file fast; the
planted effects are large enough to be recovered at these sizes.
"""

import filecmp
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

from data import generator
from data import process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YAML_PATH = os.path.join(ROOT, 'data', 'descriptions', 'credit_risk.yaml')
ROWS = 20000
SPANS = 3
SEED = 42
LABELER_FRACTION = 0.5  # more labeled rows than the default 5%: tighter checks


@pytest.fixture(scope='module')
def description():
  with open(YAML_PATH) as f:
    return yaml.safe_load(f)


def _generate(tmp_path_factory, scenario, **kwargs):
  out = str(tmp_path_factory.mktemp(scenario) / 'ds')
  args = dict(spans=SPANS, rows_per_span=ROWS, scenario=scenario, seed=SEED,
              labeler_fraction=LABELER_FRACTION, verbose=False)
  args.update(kwargs)
  summary = generator.generate(out, **args)
  return out, summary


def _read(out, span):
  return pd.read_csv(os.path.join(out, f'span-{span}', 'data.csv'),
                     keep_default_na=False, na_values=[''])


def _read_labelers(out, span):
  return pd.read_csv(os.path.join(out, 'labelers', f'span-{span}.csv'),
                     keep_default_na=False)


def _meta(out):
  with open(os.path.join(out, 'generation.json')) as f:
    return json.load(f)


class _Dataset:

  def __init__(self, out, summary):
    self.out = out
    self.summary = summary
    self.meta = _meta(out)
    self.frames = {s: _read(out, s) for s in range(1, SPANS + 1)}
    self.labelers = {s: _read_labelers(out, s) for s in range(1, SPANS + 1)}


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
  return _Dataset(*_generate(tmp_path_factory, 'clean'))


@pytest.fixture(scope='module')
def data_drift(tmp_path_factory):
  return _Dataset(*_generate(tmp_path_factory, 'data_drift'))


@pytest.fixture(scope='module')
def concept_drift(tmp_path_factory):
  return _Dataset(*_generate(tmp_path_factory, 'concept_drift'))


# --- a plain model of the non-excluded features, as the pipeline sees them ---
NUMERIC = ['annual_income', 'employment_years', 'loan_amount', 'interest_rate',
           'debt_to_income', 'credit_score', 'num_open_accounts',
           'num_late_payments_12m']
CATEGORICAL = ['employment_type', 'home_ownership', 'loan_term_months',
               'loan_purpose']


class _Features:
  """Mean-imputed numerics + missing indicators + one-hot categoricals."""

  def fit(self, df):
    self.means = {c: float(df[c].mean()) for c in NUMERIC}
    self.levels = {c: sorted(df[c].astype(str).unique()) for c in CATEGORICAL}
    self.scaler = StandardScaler().fit(self._raw(df))
    return self

  def _raw(self, df):
    cols = []
    for c in NUMERIC:
      v = df[c].astype(float).to_numpy()
      missing = np.isnan(v)
      cols += [np.where(missing, self.means[c], v), missing.astype(float)]
    for c in CATEGORICAL:
      v = df[c].astype(str).to_numpy()
      cols += [(v == level).astype(float) for level in self.levels[c]]
    return np.column_stack(cols)

  def __call__(self, df):
    return self.scaler.transform(self._raw(df))


@pytest.fixture(scope='module')
def clean_model(clean):
  """Multinomial LR trained on clean spans 1-2 (the 'previous model')."""
  train = pd.concat([clean.frames[1], clean.frames[2]], ignore_index=True)
  feats = _Features().fit(train)
  x = feats(train)
  y = train['outcome'].to_numpy()
  model = LogisticRegression(max_iter=1000).fit(x, y)
  balanced = LogisticRegression(max_iter=1000,
                                class_weight='balanced').fit(x, y)
  return feats, model, balanced


def _accuracy(model, feats, df):
  return float((model.predict(feats(df)) == df['outcome'].to_numpy()).mean())


# --- schema and layout --------------------------------------------------------
def test_columns_match_description(clean, description):
  yaml_columns = list(description['columns'].keys())
  assert list(generator.COLUMNS) == yaml_columns
  for span in range(1, SPANS + 1):
    with open(os.path.join(clean.out, f'span-{span}', 'data.csv')) as f:
      header = f.readline().rstrip('\n').split(',')
    assert header == yaml_columns
  assert clean.meta['columns'] == yaml_columns
  types = {n: c['type'] for n, c in description['columns'].items()}
  assert sorted(generator.INT_COLUMNS) == sorted(
      n for n, t in types.items() if t == 'int')
  assert sorted(generator.FLOAT_COLUMNS) == sorted(
      n for n, t in types.items() if t == 'float')
  assert description['label']['column'] == 'outcome'
  assert description['id_column'] == 'application_id'
  assert list(generator.CLASSES) == description['label']['classes']
  assert list(generator.LABELER_COLUMNS) == description['labelers']['columns']


def test_values_parse_as_declared_types(clean, description):
  raw = pd.read_csv(os.path.join(clean.out, 'span-1', 'data.csv'), dtype=str,
                    keep_default_na=False)
  for name, col in description['columns'].items():
    values = raw[name][raw[name] != '']
    assert len(values) > 0.5 * ROWS, name
    if col['type'] == 'int':
      assert values.str.fullmatch(r'-?\d+').all(), name
    elif col['type'] == 'float':
      # Always with a decimal point, so CSV type inference says float.
      assert values.str.fullmatch(r'-?\d+\.\d+').all(), name
    else:
      assert pd.to_numeric(values, errors='coerce').isna().all(), name
  df = clean.frames[1]
  assert set(df['outcome']) == set(generator.CLASSES)
  assert df['age'].between(18, 80).all()
  assert set(df['gender']) == {'female', 'male', 'nonbinary'}
  assert set(df['ethnicity']) == {'group_a', 'group_b', 'group_c', 'group_d'}
  assert set(df['channel']) == {'online', 'branch', 'broker', 'mobile'}
  assert set(df['branch']) == {f'BR{i:02d}' for i in range(1, 13)}
  assert set(df['underwriter']) == {f'UW{i:02d}' for i in range(1, 21)}
  bands = generator.BASE_PARAMS['age_bands']
  for band, (lo, hi, _) in bands.items():
    ages = df.loc[df['age_band'] == band, 'age']
    assert len(ages) and ages.between(lo, hi).all(), band
  assert 0.01 < (df['gender'] == 'nonbinary').mean() < 0.03
  assert set(df['application_month']) == {'2026-01'}
  assert set(clean.frames[3]['application_month']) == {'2026-03'}


def test_layout_and_labelers_join(clean):
  assert sorted(os.listdir(clean.out)) == ['generation.json', 'labelers',
                                           'span-1', 'span-2', 'span-3']
  assert sorted(os.listdir(os.path.join(clean.out, 'labelers'))) == [
      'span-1.csv', 'span-2.csv', 'span-3.csv']
  # Nothing but the data CSV inside a span folder (CsvExampleGen reads *.csv).
  for span in range(1, SPANS + 1):
    assert os.listdir(os.path.join(clean.out, f'span-{span}')) == ['data.csv']
  # No staging leftovers next to the output.
  assert os.listdir(os.path.dirname(clean.out)) == ['ds']
  for span in range(1, SPANS + 1):
    lab, df = clean.labelers[span], clean.frames[span]
    assert list(lab.columns) == ['application_id', 'labeler_1', 'labeler_2',
                                 'labeler_3']
    assert len(lab) == round(LABELER_FRACTION * ROWS)
    assert lab['application_id'].is_unique
    assert lab['application_id'].isin(df['application_id']).all()
    for col in generator.LABELER_COLUMNS:
      assert set(lab[col]) == set(generator.CLASSES)
    record = clean.meta['spans'][span - 1]
    assert record['labelers']['rows'] == len(lab)
    assert os.path.join(clean.out, record['labelers']['path']) == \
        clean.summary['spans'][span - 1]['labelers_csv']


def test_ids_unique_across_spans(clean):
  ids = pd.concat([clean.frames[s]['application_id'] for s in clean.frames])
  assert ids.is_unique
  assert len(ids) == SPANS * ROWS
  assert ids.str.fullmatch(r'S0[1-3]-\d{7}').all()
  assert clean.frames[1]['application_id'].iloc[0] == 'S01-0000001'
  assert clean.frames[3]['application_id'].iloc[-1] == f'S03-{ROWS:07d}'


def test_chunked_writing_is_seamless(tmp_path, monkeypatch):
  monkeypatch.setattr(process, 'CHUNK_ROWS', 1000)
  out = str(tmp_path / 'chunked')
  generator.generate(out, spans=1, rows_per_span=2500, seed=3,
                     verbose=False)
  with open(os.path.join(out, 'span-1', 'data.csv')) as f:
    lines = f.read().splitlines()
  assert len(lines) == 2501
  assert sum(line.startswith('application_id,') for line in lines) == 1
  df = _read(out, 1)
  assert list(df['application_id']) == [f'S01-{i:07d}'
                                        for i in range(1, 2501)]
  lab = _read_labelers(out, 1)
  assert len(lab) == 125  # default 5%
  assert lab['application_id'].isin(df['application_id']).all()
  # The sample spans all chunks.
  assert lab['application_id'].str[-7:].astype(int).max() > 2000
  assert lab['application_id'].str[-7:].astype(int).min() <= 1000


# --- determinism ------------------------------------------------------------
def _all_files(root):
  found = []
  for dirpath, _, files in os.walk(root):
    found += [os.path.relpath(os.path.join(dirpath, f), root) for f in files]
  return sorted(found)


def test_deterministic_byte_identical(tmp_path):
  kwargs = dict(spans=2, rows_per_span=3000, scenario='concept_drift',
                seed=11, verbose=False)
  a, b, c = (str(tmp_path / n) for n in 'abc')
  generator.generate(a, **kwargs)
  generator.generate(b, **kwargs)
  generator.generate(c, **dict(kwargs, seed=12))
  files = _all_files(a)
  assert files == _all_files(b) == _all_files(c)
  assert len(files) == 5
  for f in files:
    assert filecmp.cmp(os.path.join(a, f), os.path.join(b, f),
                       shallow=False), f
  # Another seed gives other data.
  assert not filecmp.cmp(os.path.join(a, 'span-1', 'data.csv'),
                         os.path.join(c, 'span-1', 'data.csv'), shallow=False)


def test_spans_differ(clean):
  cols = [c for c in generator.COLUMNS
          if c not in ('application_id', 'application_month')]
  s1, s2 = clean.frames[1][cols], clean.frames[2][cols]
  # Same process, different draws: row-wise almost nothing coincides.
  assert (s1['annual_income'].to_numpy() ==
          s2['annual_income'].to_numpy()).mean() < 0.01
  assert (s1['age'].to_numpy() == s2['age'].to_numpy()).mean() < 0.2


# --- labels -----------------------------------------------------------------
def _rates(df):
  return df['outcome'].value_counts(normalize=True).reindex(
      generator.CLASSES, fill_value=0.0)


def test_class_rates_clean(clean):
  target = generator.TARGET_CLASS_RATES
  for span, df in clean.frames.items():
    rates = _rates(df)
    assert abs(rates['repaid'] - target['repaid']) < 0.02, (span, rates)
    assert abs(rates['late'] - target['late']) < 0.02, (span, rates)
    assert 0.018 < rates['default'] <= 0.03, (span, rates)
    recorded = clean.meta['spans'][span - 1]['class_rates']
    for c in generator.CLASSES:
      assert recorded[c] == pytest.approx(rates[c], abs=1e-6)
    assert clean.meta['spans'][span - 1]['drifted'] is False


@pytest.mark.parametrize('scenario', ['data_drift', 'concept_drift'])
def test_default_rate_bounded_in_every_scenario(scenario, request):
  ds = request.getfixturevalue(scenario)
  for span, df in ds.frames.items():
    rates = _rates(df)
    assert 0.01 < rates['default'] <= 0.03, (scenario, span, rates)
    assert 0.6 < rates['repaid'] < 0.8, (scenario, span, rates)
  assert [s['drifted'] for s in ds.meta['spans']] == [False, False, True]


def test_missing_rates(clean):
  df = pd.concat(clean.frames.values(), ignore_index=True)
  miss = df.isna().mean()
  assert miss['annual_income'] == pytest.approx(0.04, abs=0.006)
  assert miss['employment_years'] == pytest.approx(0.06, abs=0.007)
  assert miss['debt_to_income'] == pytest.approx(0.03, abs=0.005)
  assert miss['home_ownership'] == pytest.approx(0.02, abs=0.004)
  young = df['age_band'] == '18-24'
  assert df.loc[~young, 'credit_score'].isna().mean() == pytest.approx(
      0.03, abs=0.005)
  assert df.loc[young, 'credit_score'].isna().mean() == pytest.approx(
      0.40, abs=0.03)
  allowed = {'annual_income', 'employment_years', 'debt_to_income',
             'home_ownership', 'credit_score'}
  for col in generator.COLUMNS:
    if col not in allowed:
      assert miss[col] == 0.0, col


def test_signal_is_learnable(clean, clean_model):
  feats, model, balanced = clean_model
  test = clean.frames[3]
  majority = _rates(test).max()
  acc = _accuracy(model, feats, test)
  assert majority == pytest.approx(0.70, abs=0.02)
  assert acc > majority + 0.07, (acc, majority)
  pred = balanced.predict(feats(test))
  default_recall = recall_score(test['outcome'], pred, labels=['default'],
                                average=None)[0]
  assert default_recall > 0.5


def test_weak_slice_is_harder(clean, clean_model):
  feats, model, _ = clean_model
  test = clean.frames[3]
  young = (test['age_band'] == '18-24').to_numpy()
  correct = model.predict(feats(test)) == test['outcome'].to_numpy()
  acc_young, acc_rest = correct[young].mean(), correct[~young].mean()
  assert acc_young < acc_rest - 0.10, (acc_young, acc_rest)
  # Not only a different class mix: ranking quality is much lower too.
  p_repaid = model.predict_proba(feats(test))[
      :, list(model.classes_).index('repaid')]
  is_repaid = (test['outcome'] == 'repaid').to_numpy()
  auc_young = roc_auc_score(is_repaid[young], p_repaid[young])
  auc_rest = roc_auc_score(is_repaid[~young], p_repaid[~young])
  assert auc_young < auc_rest - 0.10, (auc_young, auc_rest)
  assert clean.meta['weak_slice']['value'] == '18-24'


def test_broker_income_is_noisier(clean):
  df = pd.concat(clean.frames.values(), ignore_index=True)
  log_income = np.log(df['annual_income'])
  broker = df['channel'] == 'broker'
  assert log_income[broker].std() > log_income[~broker].std() + 0.15
  ratio = df.loc[broker, 'annual_income'].median() / df.loc[
      ~broker, 'annual_income'].median()
  assert 1.03 < ratio < 1.2  # planted log bias 0.10 -> x1.105
  assert clean.meta['tag_effect']['value'] == 'broker'


def test_calibration_is_current():
  frozen = generator.BASE_PARAMS['risk']
  fresh = generator.calibrate(rows=200_000)
  assert fresh['score_center'] == pytest.approx(frozen['score_center'],
                                                abs=0.03)
  assert fresh['score_sd'] == pytest.approx(frozen['score_sd'], abs=0.03)
  for got, want in zip(fresh['thresholds'], frozen['thresholds']):
    assert got == pytest.approx(want, abs=0.06)


# --- labelers ---------------------------------------------------------------
@pytest.fixture(scope='module')
def labeled(clean):
  parts = []
  for span in clean.frames:
    parts.append(clean.labelers[span].merge(
        clean.frames[span][['application_id', 'outcome', 'age_band']],
        on='application_id', how='left', validate='one_to_one'))
  return pd.concat(parts, ignore_index=True)


def test_labeler_accuracies_recovered(clean, labeled):
  planted = clean.meta['labelers']['accuracy']
  assert planted['labeler_1']['other'] == 0.95
  assert planted['labeler_3']['18-24'] == pytest.approx(0.73)
  young = labeled['age_band'] == '18-24'
  n = {s['span']: s['labelers']['rows'] for s in clean.meta['spans']}
  for name in generator.LABELER_COLUMNS:
    correct = labeled[name] == labeled['outcome']
    # Overall, against the expected accuracy recorded for the drawn sample.
    expected = sum(s['labelers']['expected_accuracy'][name] * n[s['span']]
                   for s in clean.meta['spans']) / sum(n.values())
    assert correct.mean() == pytest.approx(expected, abs=0.01), name
    assert correct[~young].mean() == pytest.approx(planted[name]['other'],
                                                   abs=0.01), name
    assert correct[young].mean() == pytest.approx(planted[name]['18-24'],
                                                  abs=0.025), name


def test_labeler_errors_on_late_default_borderline(labeled):
  given = pd.concat([labeled[c] for c in generator.LABELER_COLUMNS])
  truth = pd.concat([labeled['outcome']] * 3)
  wrong = given != truth
  for true_class, main_error, planted in [('late', 'default', 0.80),
                                          ('default', 'late', 0.85),
                                          ('repaid', 'late', 0.85)]:
    errs = given[wrong & (truth == true_class)]
    assert len(errs) > 100, true_class
    assert (errs == main_error).mean() == pytest.approx(planted, abs=0.06)


def test_labeler_errors_independent(labeled):
  rows = labeled[labeled['age_band'] != '18-24']
  w1 = rows['labeler_1'] != rows['outcome']
  w3 = rows['labeler_3'] != rows['outcome']
  both = (w1 & w3).mean()
  assert both == pytest.approx(w1.mean() * w3.mean(), abs=0.003)
  assert both == pytest.approx(0.05 * 0.15, abs=0.003)


# --- drift ------------------------------------------------------------------
def _tvd(a, b):
  pa, pb = a.value_counts(normalize=True), b.value_counts(normalize=True)
  return 0.5 * pa.subtract(pb, fill_value=0.0).abs().sum()


def test_data_drift_moves_income_and_channel_in_last_span(clean, data_drift,
                                                          clean_model):
  f = data_drift.frames
  med = {s: f[s]['annual_income'].median() for s in f}
  assert med[2] / med[1] == pytest.approx(1.0, abs=0.05)
  assert med[3] / med[2] == pytest.approx(1.35, abs=0.08)
  mobile = {s: (f[s]['channel'] == 'mobile').mean() for s in f}
  assert mobile[1] < 0.2 and mobile[2] < 0.2 and mobile[3] > 0.45
  assert _tvd(f[3]['channel'], f[2]['channel']) > 0.3
  assert _tvd(f[2]['channel'], f[1]['channel']) < 0.02
  # Features the scenario does not touch stay put.
  for col in ('credit_score', 'debt_to_income', 'num_late_payments_12m'):
    assert f[3][col].mean() == pytest.approx(f[2][col].mean(), rel=0.03), col
  # Earlier spans are exactly the clean process.
  for span in (1, 2):
    for rel in (f'span-{span}/data.csv', f'labelers/span-{span}.csv'):
      assert filecmp.cmp(os.path.join(clean.out, rel),
                         os.path.join(data_drift.out, rel), shallow=False)
  # P(outcome | features) unchanged: the previous model stays as good.
  feats, model, _ = clean_model
  acc_clean = _accuracy(model, feats, clean.frames[3])
  acc_drift = _accuracy(model, feats, f[3])
  assert acc_drift > acc_clean - 0.015, (acc_drift, acc_clean)
  assert data_drift.meta['drift']['changes'][
      'annual_income_median_multiplier'] == 1.35


def test_concept_drift_changes_label_relation_only(clean, concept_drift,
                                                   clean_model):
  f = concept_drift.frames
  features = [c for c in generator.COLUMNS if c != 'outcome']
  # Inputs: the last span draws exactly the clean span's features...
  pd.testing.assert_frame_equal(f[3][features], clean.frames[3][features])
  for col in ('annual_income', 'credit_score', 'debt_to_income'):
    assert f[3][col].median() == pytest.approx(f[2][col].median(), rel=0.03)
  assert _tvd(f[3]['channel'], f[2]['channel']) < 0.02
  # ...but the outcome changed for a share of rows, moving the label mix.
  changed = (f[3]['outcome'] != clean.frames[3]['outcome']).mean()
  assert 0.03 < changed < 0.3, changed
  assert _rates(f[3])['repaid'] < _rates(clean.frames[3])['repaid'] - 0.005
  # The previous model gets clearly worse on the drifted span.
  feats, model, _ = clean_model
  acc_clean = _accuracy(model, feats, clean.frames[3])
  acc_drift = _accuracy(model, feats, f[3])
  assert acc_drift < acc_clean - 0.015, (acc_drift, acc_clean)
  # The relation moved as planted: debt_to_income matters more, the credit
  # score less (same inputs, refit on each label column).
  x = feats(f[3])
  coef = {}
  for name, df in (('clean', clean.frames[3]), ('drift', f[3])):
    lr = LogisticRegression(max_iter=1000).fit(
        x, (df['outcome'] != 'repaid').to_numpy())
    coef[name] = lr.coef_[0]
  dti = 2 * NUMERIC.index('debt_to_income')
  score = 2 * NUMERIC.index('credit_score')
  assert coef['drift'][dti] / coef['clean'][dti] > 1.4
  assert coef['drift'][score] / coef['clean'][score] < 0.8
  assert coef['clean'][score] < 0  # higher score, less risk
  # Earlier spans are exactly the clean process.
  for span in (1, 2):
    assert filecmp.cmp(
        os.path.join(clean.out, f'span-{span}', 'data.csv'),
        os.path.join(concept_drift.out, f'span-{span}', 'data.csv'),
        shallow=False)


# --- writing safety and CLI -------------------------------------------------
def test_refuses_non_empty_out_dir(tmp_path):
  out = tmp_path / 'ds'
  generator.generate(str(out), spans=1, rows_per_span=3000, verbose=False)
  before = (out / 'span-1' / 'data.csv').read_bytes()
  with pytest.raises(FileExistsError, match='overwrite'):
    generator.generate(str(out), spans=1, rows_per_span=3000, seed=1,
                       verbose=False)
  assert (out / 'span-1' / 'data.csv').read_bytes() == before
  # With overwrite the old dataset is replaced entirely (span-2 disappears).
  generator.generate(str(out), spans=2, rows_per_span=3000, seed=1,
                     overwrite=True, verbose=False)
  assert (out / 'span-2' / 'data.csv').exists()
  generator.generate(str(out), spans=1, rows_per_span=3000, seed=1,
                     overwrite=True, verbose=False)
  assert sorted(os.listdir(out)) == ['generation.json', 'labelers', 'span-1']
  assert (out / 'span-1' / 'data.csv').read_bytes() != before
  # A directory that is not a generated dataset is never wiped.
  other = tmp_path / 'other'
  other.mkdir()
  (other / 'notes.txt').write_text('keep me')
  with pytest.raises(FileExistsError, match='does not look like'):
    generator.generate(str(other), spans=1, rows_per_span=3000,
                       overwrite=True, verbose=False)
  assert (other / 'notes.txt').read_text() == 'keep me'
  # An existing empty directory is fine.
  empty = tmp_path / 'empty'
  empty.mkdir()
  generator.generate(str(empty), spans=1, rows_per_span=3000, verbose=False)
  assert (empty / 'generation.json').exists()


def test_rejects_bad_arguments(tmp_path):
  with pytest.raises(ValueError, match='scenario'):
    generator.generate(str(tmp_path / 'a'), scenario='nope', verbose=False)
  with pytest.raises(ValueError, match='spans >= 2'):
    generator.generate(str(tmp_path / 'b'), spans=1, rows_per_span=100,
                       scenario='data_drift', verbose=False)
  assert not os.path.exists(tmp_path / 'a')


def test_cli_runs(tmp_path):
  out = str(tmp_path / 'cli')
  cmd = [sys.executable, '-m', 'data.generator', '--out', out, '--spans', '2',
         '--rows', '3000', '--scenario', 'data_drift', '--seed', '5']
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr
  summary = json.loads(proc.stdout)
  assert summary['rows_total'] == 6000
  assert [s['span'] for s in summary['spans']] == [1, 2]
  assert summary['spans'][1]['drifted'] is True
  assert re.search(r'span 2/2 .*3000/3000 rows', proc.stderr)
  assert len(_read_labelers(out, 1)) == 150  # default 5%
  meta = _meta(out)
  assert meta['parameters'] == {'spans': 2, 'rows_per_span': 3000,
                                'scenario': 'data_drift', 'seed': 5,
                                'labeler_fraction': 0.05,
                                'chunk_rows': process.CHUNK_ROWS}
  again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
  assert again.returncode == 2
  assert 'refusing' in again.stderr
  forced = subprocess.run(cmd + ['--overwrite', '--quiet'], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert forced.returncode == 0, forced.stderr
  assert forced.stderr == ''


def test_a_schedule_drifts_any_spans_and_a_slice_can_be_collected(tmp_path):
  """--schedule 2=data_drift,3-4=concept_drift; --age-band-share 4=18-24:0.45."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from data import process  # pylint: disable=g-import-not-at-top
  assert process.parse_schedule('2=data_drift,3-4=concept_drift') == {
      2: 'data_drift', 3: 'concept_drift', 4: 'concept_drift'}
  with pytest.raises(ValueError, match='SPAN=VALUE'):
    process.parse_schedule('3')
  out = str(tmp_path / 'ds')
  summary = generator.generate(out, spans=4, rows_per_span=4000, seed=3, verbose=False,
                               schedule={2: 'data_drift', 3: 'concept_drift',
                                         4: 'concept_drift'},
                               age_band_share={4: ('18-24', 0.45)})
  assert [s['drifted'] for s in summary['spans']] == [False, True, True, True]
  spans = [pd.read_csv(s['data_csv']) for s in summary['spans']]
  weak = [float((f['age_band'] == '18-24').mean()) for f in spans]
  assert weak[0] < 0.2 and weak[3] > 0.4, weak
  income = [float(f['annual_income'].median()) for f in spans]
  assert income[1] > 1.2 * income[0] and income[2] < 1.1 * income[0], income
  # A span is the same whatever comes after it: period 1 of a longer world.
  shorter = generator.generate(str(tmp_path / 'short'), spans=1, rows_per_span=4000, seed=3,
                               verbose=False, schedule={})
  with open(shorter['spans'][0]['data_csv']) as a, open(summary['spans'][0]['data_csv']) as b:
    assert a.read() == b.read()


def test_concept_strength_moves_the_risk_weights_further_and_nothing_else():
  base = process.BASE_PARAMS['risk']['weights']
  multipliers = process.DRIFT['concept_drift']['risk_weight_multipliers']
  default = process.span_process(process.BASE_PARAMS, 'concept_drift', 2, 2)
  twice = process.span_process(process.BASE_PARAMS, 'concept_drift', 2, 2, concept_strength=2)
  for name, weight in base.items():
    m = multipliers.get(name, 1.0)
    assert default['risk']['weights'][name] == pytest.approx(weight * m)
    assert twice['risk']['weights'][name] == pytest.approx(weight * m * m)
  assert {k: v for k, v in twice.items() if k != 'risk'} == {
      k: v for k, v in default.items() if k != 'risk'}
  clean = process.span_process(process.BASE_PARAMS, 'clean', 1, 2, concept_strength=2)
  assert clean['risk']['weights'] == base  # only concept drift has a strength
  with pytest.raises(ValueError, match='concept_strength'):
    process.span_process(process.BASE_PARAMS, 'concept_drift', 2, 2, concept_strength=0)
