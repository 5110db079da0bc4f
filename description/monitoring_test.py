"""The description's `monitoring:` section: defaults, overrides, errors naming the field."""

import pytest

import description
from description import monitoring


def test_no_section_means_every_default():
  policy = monitoring.parse(None, 'd.yaml')
  assert policy == monitoring.MonitoringPolicy()
  assert policy.drift.get('annual_income', 0.06) == 0.06
  assert policy.out_of_range_share.get('annual_income') == 0.01


def test_overrides_per_feature_and_scalar():
  policy = monitoring.parse({
      'window': {'records': 500, 'seconds': 60}, 'alert_for': '30s', 'down_for': '15s',
      'rate_window': '1m',
      'thresholds': {'drift': {'annual_income': 0.1}, 'missing_share': 0.2,
                     'out_of_range_share': {'default': 0.05, 'home_ownership': 0.0},
                     'latency_p99_seconds': 0.25}}, 'd.yaml')
  assert (policy.window_records, policy.window_seconds) == (500, 60.0)
  assert (policy.alert_for, policy.down_for, policy.rate_window) == ('30s', '15s', '1m')
  assert policy.drift.get('annual_income', 0.06) == 0.1
  assert policy.drift.get('loan_amount', 0.025) == 0.025
  assert policy.missing_share.get('credit_score') == 0.2
  assert policy.out_of_range_share.get('home_ownership') == 0.0
  assert policy.out_of_range_share.get('loan_purpose') == 0.05
  assert policy.latency_p99_seconds == 0.25
  # Proposed thresholds apply on top, keeping what they do not name.
  later = policy.with_thresholds({'drift': {'loan_amount': 0.03}}, 'p.yaml')
  assert later.drift.get('annual_income') == 0.1 and later.drift.get('loan_amount') == 0.03


@pytest.mark.parametrize('raw, field', [
    ([1, 2], 'monitoring must be a mapping'),
    ({'windows': {}}, "unknown field(s) monitoring.['windows']"),
    ({'window': {'records': 0}}, 'monitoring.window.records'),
    ({'window': {'rows': 5}}, 'monitoring.window must be a mapping with'),
    ({'alert_for': '2 minutes'}, 'monitoring.alert_for'),
    ({'thresholds': {'drift': {'annual_income': 'high'}}},
     'monitoring.thresholds.drift.annual_income must be a number'),
    ({'thresholds': {'error_rate': -1}}, 'monitoring.thresholds.error_rate must be >= 0'),
    ({'thresholds': {'latency': 1}}, "unknown field(s) monitoring.thresholds.['latency']"),
])
def test_errors_name_file_and_field(raw, field):
  with pytest.raises(description.DatasetSpecError) as e:
    monitoring.parse(raw, 'my_data.yaml')
  assert str(e.value).startswith('my_data.yaml: ') and field in str(e.value)


def test_of_reads_the_section_of_a_loaded_description(tmp_path):
  import yaml  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw['monitoring'] = {'thresholds': {'prediction_shift': 0.3}}
  path = tmp_path / 'd.yaml'
  path.write_text(yaml.safe_dump(raw))
  assert monitoring.of(description.load(str(path))).prediction_shift == 0.3


def test_per_feature_thresholds_must_name_model_inputs(tmp_path):
  import yaml  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw['monitoring'] = {'thresholds': {'drift': {'annual_incom': 0.1}}}
  path = tmp_path / 'd.yaml'
  path.write_text(yaml.safe_dump(raw))
  # Loading the description already fails: no command starts with a typo in it.
  with pytest.raises(description.DatasetSpecError,
                     match=r"d.yaml: monitoring.thresholds.drift names \['annual_incom'\]"):
    description.load(str(path))
