"""python -m cli.monitor: proposals are printed, written only when asked; rules, report."""

import json
import os

import yaml

from cli import monitor as cli_monitor
from monitoring import history


def _args(state_dir, tmp_path):
  return ['--state-dir', str(state_dir), '--work-dir', str(tmp_path / 'no-work-dir')]


def _state_with_quiet_windows(monitored, tmp_path, quiet=4):
  """The monitored windows, the quiet ones repeated: enough to propose from."""
  windows = list(history.windows(monitored))
  ordered = [w for w in windows if not w['drifted']] * quiet + [
      w for w in windows if w['drifted']]
  store = history.History(str(tmp_path / 'state'))
  for sequence, window in enumerate(ordered):
    store.write_window(dict(window, sequence=sequence, last_ts=float(sequence)))
  return store.state_dir


def test_propose_prints_the_diff_and_writes_only_when_asked(monitored, tmp_path, capsys):
  state = _state_with_quiet_windows(monitored, tmp_path)
  out = tmp_path / 'thresholds.yaml'
  assert cli_monitor.main(['propose', '--last', '5'] + _args(state, tmp_path)) == 1
  printed = capsys.readouterr().out
  assert 'From 5 quiet window(s)' in printed and ' -> ' in printed
  assert not out.exists()
  assert cli_monitor.main(['propose', '--last', '5', '--write', str(out)] +
                          _args(state, tmp_path)) == 0
  written = yaml.safe_load(out.read_text())['thresholds']
  assert written and set(written) <= {'drift', 'missing_share', 'out_of_range_share',
                                      'prediction_shift', 'invalid_output_share'}
  # Rules generated with the written file use the proposed values.
  rules = tmp_path / 'rules.yml'
  assert cli_monitor.main(['rules', '--thresholds', str(out), '--out', str(rules)] +
                          _args(state, tmp_path)) == 0
  feature, value = sorted(written['drift'].items())[0]
  assert f'feature="{feature}"}} > {value}' in rules.read_text()


def test_too_few_quiet_windows_is_an_error(monitored, tmp_path, capsys):
  assert cli_monitor.main(['propose'] + _args(monitored, tmp_path)) == 2
  assert 'at least 3 are needed' in capsys.readouterr().err


def test_report_exits_1_when_windows_breached_thresholds(monitored, tmp_path, capsys):
  out = tmp_path / 'r.html'
  assert cli_monitor.main(['report', '--out', str(out)] + _args(monitored, tmp_path)) == 1
  assert os.path.exists(out)
  assert '3 window(s)' in capsys.readouterr().out
  assert json.loads(json.dumps(list(history.windows(monitored))))  # untouched, readable
