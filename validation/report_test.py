"""The report people read: terminal text, HTML, and the comparison charts."""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from validation import report as vr



def _stats(frame):
  schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frame))
  return tfdv.generate_statistics_from_dataframe(frame, tfdv.StatsOptions(schema=schema))


@pytest.fixture(scope='module')
def two_spans():
  rng = np.random.default_rng(0)
  before = pd.DataFrame({'income': rng.lognormal(10, 0.5, 4000),
                         'channel': rng.choice(['online', 'mobile'], 4000, p=[.8, .2])})
  after = pd.DataFrame({'income': rng.lognormal(10.5, 0.5, 4000),
                        'channel': rng.choice(['online', 'mobile'], 4000, p=[.4, .6])})
  return _stats(before), _stats(after)


def test_categorical_chart_compares_each_values_share(two_spans):
  chart = vr.chart_for('channel', *two_spans)
  shares = dict(zip(chart.labels, zip(chart.previous, chart.current)))
  assert shares['online'][0] == pytest.approx(0.8, abs=0.03)
  assert shares['mobile'][1] == pytest.approx(0.6, abs=0.03)


def test_numeric_chart_reads_the_current_span_in_the_previous_deciles(two_spans):
  previous, current = two_spans
  chart = vr.chart_for('income', previous, current)
  assert len(chart.labels) == 10
  assert sum(chart.previous) == pytest.approx(1.0, abs=1e-6)
  assert sum(chart.current) == pytest.approx(1.0, abs=1e-6)
  assert max(abs(p - 0.1) for p in chart.previous) < 0.02  # Flat when unchanged.
  assert chart.current[-1] > 0.25  # Incomes rose: the top decile fills up.
  same = vr.chart_for('income', previous, previous)
  assert max(abs(p - c) for p, c in zip(same.previous, same.current)) < 1e-9


def test_text_and_html_name_feature_kind_distance_and_threshold(two_spans, tmp_path):
  chart = vr.chart_for('income', *two_spans)
  report = vr.Report(
      dataset='credit_risk', span=3, files=['/data/span-3/data.csv'], baseline_span=2,
      findings=[
          vr.Finding(vr.DRIFT, 'income', vr.BLOCK, 'distribution moved',
                     'Jensen-Shannon divergence', 0.1283, 0.06, chart=chart),
          vr.Finding(vr.DRIFT, 'channel<script>', vr.WARN, 'tag moved',
                     'L-infinity distance', 0.34, 0.05),
          vr.Finding(vr.SCHEMA, 'loan_purpose', vr.BLOCK, 'new value crypto',
                     splits=['train', 'eval'])],
      comparisons=[vr.Comparison('income', 'Jensen-Shannon divergence', 0.1283, 0.06,
                                 vr.BLOCK)],
      notes=[])
  vr.write(report, str(tmp_path))
  text = open(tmp_path / 'report.txt').read()
  assert text.startswith('Data validation of credit_risk span 3 against span 2: '
                         'BLOCKED (2 blocking, 1 warning(s))')
  assert 'Jensen-Shannon divergence 0.1283 > 0.0600' in text
  assert '[train, eval]' in text
  assert text.index('BLOCK') < text.index('WARN')
  assert f'report: {tmp_path / "report.html"}' in text
  page = open(tmp_path / 'report.html').read()
  assert page.count('<svg') == 1 and 'share in each tenth' in page
  assert '<script>' not in page and 'channel&lt;script&gt;' in page
  saved = json.load(open(tmp_path / 'report.json'))
  assert not saved['passed'] and saved['comparisons'][0]['drifted']
