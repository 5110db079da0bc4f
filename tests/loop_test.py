"""`python -m cli.loop --small`: seven simulated months, every call as planned.

One run of the command (a real model server process, the pipeline once a
month, delayed labels, promtool evaluating the live-quality rules) on small
months; each month's decision, read back from the JSON the command writes,
must be the one loop/plan.py expects, with the ML Metadata ids behind it.
"""

import json
import os
import subprocess
import sys

import pytest

from loop import plan
from pipeline import configs

pytestmark = pytest.mark.e2e

ROWS = 3000  # labelled rows a month, and as many requests (fewer: clean spans drift by noise)


@pytest.fixture(scope='module')
def loop_run(tmp_path_factory):
  work = str(tmp_path_factory.mktemp('loop') / 'work')
  done = subprocess.run(
      [sys.executable, '-m', 'cli.loop', '--work-dir', work, '--rows', str(ROWS), '--small'],
      capture_output=True, text=True, timeout=5400, cwd=configs.REPO_ROOT,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
  path = os.path.join(work, 'loop.json')
  assert os.path.exists(path), done.stdout[-5000:] + done.stderr[-5000:]
  with open(path) as f:
    return done, json.load(f)


def _month(report, number):
  [month] = [m for m in report['months'] if m['month'] == number]
  return month


def test_every_month_makes_the_expected_call(loop_run):
  done, report = loop_run
  wrong = [(m['month'], m['did'], m['should']) for m in report['months'] if not m['agrees']]
  assert not wrong, wrong
  assert done.returncode == 0, done.stdout[-5000:]
  assert [m['month'] for m in report['months']] == list(range(1, 8))


def test_each_decision_is_the_planned_one_with_its_lineage(loop_run):
  _, report = loop_run
  assert _month(report, 1)['decision'] == plan.PROMOTED_SHADOW
  assert _month(report, 2)['decision'] == plan.PROMOTED
  assert _month(report, 3)['decision'] == plan.BLOCKED
  assert any('DataValidationGate execution' in i for i in _month(report, 3)['lineage'])
  degraded = _month(report, 4)
  assert degraded['decision'] == plan.ROLLED_BACK
  [reason] = [i for i in degraded['lineage'] if i.startswith('rollback reason:')]
  assert 'rollout error' not in reason, reason  # a guardrail's breach, not a failure
  concept = _month(report, 5)
  assert concept['alarm'] == plan.ALARM and concept['decision'] == plan.PROMOTED
  assert any(i.startswith('HarvestedSpan artifact') for i in concept['lineage'])
  assert any(i.startswith('LiveQuality artifact') for i in concept['lineage'])
  assert any(i.startswith('LiveQuality artifact') for i in concept['lineage'])
  restored = _month(report, 6)
  assert restored['alarm'] == plan.QUIET
  # The model trained on the harvested span serves period 6 better than the
  # old one served period 5: quality restored, measured on delayed labels.
  assert restored['live_improved'] is True, (concept['live'], restored['live'])
  assert restored['live_accuracy'] > concept['live_accuracy']
  assert _month(report, 7)['gap_narrowed'] is True, _month(report, 7)
  for month in report['months']:
    assert any(i.startswith(('RolloutDecision artifact', 'DataValidationGate execution'))
               for i in month['lineage']), month


def test_the_table_is_printed_and_written(loop_run):
  done, report = loop_run
  assert '=== Month 7' in done.stdout
  assert 'what the system did' in done.stdout and 'agree' in done.stdout
  assert report['all_agree'] is True
