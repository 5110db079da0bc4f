"""Thresholds proposed from quiet windows: diff printed, written only when asked."""

import pytest
import yaml

from description import monitoring as policy_lib
from monitoring import history
from monitoring import rules as rules_lib
from monitoring import thresholds
from monitoring.rules_test import _schema


def _current(spec, schema_path):
  return rules_lib.thresholds(spec, _schema(schema_path), policy_lib.MonitoringPolicy())


def test_proposes_a_high_quantile_of_quiet_windows_only(spec, schema_path):
  current = _current(spec, schema_path)

  def window(ts, income_drift, missing):
    return {'last_ts': ts, 'drift': [{'feature': 'annual_income', 'value': income_drift,
                                      'threshold': 0.06, 'measure': 'jensen_shannon'}],
            'inputs': {'annual_income': {'missing_share': missing, 'out_of_range_share': 0.0}},
            'prediction_shift': 0.01, 'outputs': {'invalid_output_share': 0.0}}

  quiet = [window(i, 0.01 * (i + 1), 0.04) for i in range(4)]
  loud = window(10, 0.5, 0.04)  # above the current 0.06: not learnt from
  proposal = thresholds.propose('unused', 'credit_risk', current, last=3, quantile=1.0,
                                margin=1.5, windows=quiet + [loud])
  assert proposal.windows == 3
  # The last 3 quiet windows: drift 0.02, 0.03, 0.04 -> max 0.04 x 1.5.
  assert proposal.proposed['drift']['annual_income'] == pytest.approx(0.06)
  assert proposal.proposed['missing_share']['annual_income'] == pytest.approx(0.06)
  assert proposal.proposed['invalid_output_share'] == thresholds.FLOOR
  assert proposal.proposed['drift']['loan_amount'] == current['drift']['loan_amount']
  changed = {(c, f) for c, f, _, _ in proposal.changes}
  assert ('missing_share', 'annual_income') in changed
  assert ('drift', 'annual_income') not in changed  # 0.06 already
  text = thresholds.format_diff(proposal)
  assert 'missing_share.annual_income' in text and '0.1 -> 0.06' in text


def test_too_few_quiet_windows_is_an_error_naming_the_directory(spec, schema_path, tmp_path):
  with pytest.raises(LookupError, match='0 quiet window'):
    thresholds.propose(str(tmp_path), 'credit_risk', _current(spec, schema_path))


def test_written_thresholds_are_what_the_rules_read(monitored, spec, schema_path, tmp_path):
  current = _current(spec, schema_path)
  windows = list(history.windows(monitored))
  proposal = thresholds.propose(monitored, 'credit_risk', current, quantile=1.0,
                                margin=1.25, windows=windows * 2)  # the 2 quiet ones, twice
  path = thresholds.write(str(tmp_path / 't.yaml'), proposal)
  with open(path) as f:
    written = yaml.safe_load(f)['thresholds']
  policy = policy_lib.MonitoringPolicy().with_thresholds(written, path)
  applied = rules_lib.thresholds(spec, _schema(schema_path), policy)
  for concern, feature, _, new in proposal.changes:
    value = applied[concern][feature] if feature else applied[concern]
    assert value == pytest.approx(new)
  # The drifted window stays loud under the proposal: it breaches its drift threshold.
  assert not thresholds.is_quiet(windows[2], applied)
