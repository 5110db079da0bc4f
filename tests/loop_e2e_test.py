"""The loop simulation as a user runs it: python -m cli.loop on small data.

Seven months against a real model server process, delayed labels one month
late (loop/plan.py): the test asserts the exact call of every month, not
"one of several", that each decision's lineage id is a record of that type
in the loop's ML Metadata store, that the page renders, and that no
applicant's name or e-mail reached any file the system wrote.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from loop import plan
from metadata import store as mlmd
from metadata import values
from pipeline import configs
from testing import browser
from testing import written_files

pytestmark = pytest.mark.e2e

ROWS = 3000
MONTHS = {m.number: m for m in plan.default_months()}


@pytest.fixture(scope='module')
def loop(tmp_path_factory):
  work = tmp_path_factory.mktemp('loop')
  done = subprocess.run(
      [sys.executable, '-m', 'cli.loop', '--work-dir', str(work), '--rows', str(ROWS),
       '--small'],
      capture_output=True, text=True, timeout=3600, cwd=configs.REPO_ROOT,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
  with open(work / 'loop.json') as f:
    table = json.load(f)
  return done, table, work


def _month(loop, number):
  return next(m for m in loop[1]['months'] if m['month'] == number)


def test_every_call_agrees_and_the_command_says_so(loop):
  done, table, _ = loop
  assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
  assert [m['month'] for m in table['months']] == sorted(MONTHS)
  for month in table['months']:
    assert month['decision'] == MONTHS[month['month']].expected, month
    assert month['agrees'], month
  assert 'Every call of the 7 months agrees' in done.stdout


def _store(loop):
  return mlmd.Store.open(configs.metadata_path(str(loop[2] / 'pipeline'), 'credit_risk'))


def test_the_data_gate_stops_the_drifted_month_and_stable_keeps_serving(loop):
  month = _month(loop, 3)
  assert month['decision'] == plan.BLOCKED
  assert month['alarm'] == plan.QUIET
  # A stopped execution publishes no outputs in TFX: the gate's record is its
  # failed execution, whose result message is the gate's report.
  [gate_id] = [int(x.rsplit(' ', 1)[1]) for x in month['lineage']
               if x.startswith('DataValidationGate execution')]
  [gate] = _store(loop).store.get_executions_by_id([gate_id])
  assert gate.last_known_state == gate.FAILED
  assert 'span 3 against span 2: BLOCKED' in str(gate.custom_properties['__execution_result__'])
  # Stable kept serving: the next period's traffic went to month 2's version.
  assert list(_month(loop, 4)['live']) == list(month['live'])


def test_each_month_measures_the_version_that_served_its_period_only(loop):
  for month in loop[1]['months'][1:]:
    [figures] = month['live'].values()
    assert figures['labelled'] == ROWS, month['month']


def test_the_broken_candidate_is_rolled_back_at_the_first_canary_step(loop):
  month = _month(loop, 4)
  assert month['decision'] == plan.ROLLED_BACK
  assert any(x.startswith('rollback reason:') for x in month['lineage'])
  # Stable kept serving the next period, not the broken candidate.
  assert list(_month(loop, 5)['live']) == list(month['live'])


def _evaluator_inputs(store, month):
  """The Evaluator's input artifact ids by key, for the month's ModelBlessing."""
  [blessing] = [int(x.rsplit(' ', 1)[1]) for x in month['lineage']
                if x.startswith('ModelBlessing artifact')]
  evaluator = store.producer(blessing)
  found = {}
  for event in store.inputs(evaluator.id):
    found.setdefault(values.event_key(event), []).append(event.artifact_id)
  return found


def test_the_candidate_after_a_rollback_is_compared_with_the_model_that_serves(loop):
  """Month 4's broken model was blessed by its lax gate but rolled back: it
  is not the bar month 5's candidate must clear; month 2's serving model is."""
  store = _store(loop)
  serving = _evaluator_inputs(store, _month(loop, 2))['model']
  broken = _evaluator_inputs(store, _month(loop, 4))['model']
  assert _evaluator_inputs(store, _month(loop, 4))['baseline_model'] == serving
  assert _evaluator_inputs(store, _month(loop, 5))['baseline_model'] == serving != broken


def test_concept_drift_raises_the_alarm_and_the_harvested_span_restores_quality(loop):
  drift, after = _month(loop, 5), _month(loop, 6)
  assert drift['alarm'] == plan.ALARM
  assert any('ModelLiveAccuracyBelowOffline' in n or 'ModelLiveAccuracyBelowFloor' in n
             for n in drift['notes']), drift['notes']
  assert any(x.startswith('HarvestedSpan artifact') for x in drift['lineage'])
  assert drift['decision'] == plan.PROMOTED
  # The model trained on the harvest serves period 6: live quality is back.
  assert after['alarm'] == plan.QUIET
  assert after['live_accuracy'] > drift['live_accuracy'], (drift['live'], after['live'])


def test_collecting_the_named_slice_narrows_its_gap_to_human_level(loop):
  month = _month(loop, 7)
  assert month['gap_before'] is not None and month['slice_gap'] is not None, month
  assert month['slice_gap'] < month['gap_before'], month


def test_every_lineage_id_is_a_record_of_its_type_in_ml_metadata(loop):
  store = _store(loop)
  checked = 0
  for month in loop[1]['months']:
    for entry in month['lineage']:
      match = re.fullmatch(r'(\w+) (artifact|execution) (\d+)(?: \(.*\))?', entry)
      if not match:
        continue
      type_name, kind, record_id = match.group(1), match.group(2), int(match.group(3))
      if kind == 'artifact':
        [record] = store.artifacts([record_id])
        # Our own types are named by their class's path (metadata/type_names.py).
        assert store.type_of(record) in (type_name, f'metadata.{type_name}'), entry
      else:
        [record] = store.store.get_executions_by_id([record_id])
      checked += 1
  assert checked >= 3 * len(loop[1]['months'])


def test_the_table_page_renders_every_month(loop, tmp_path):
  _, table, work = loop
  dom = browser.chromium(tmp_path, '--dump-dom', 'file://' + str(work / 'loop.html'))
  for month in table['months']:
    assert month['story'] in dom
  assert table['verdict'] in dom
  assert 'src="http' not in dom and 'href="http' not in dom


def test_no_personal_data_in_anything_the_loop_wrote(loop):
  """Names and e-mails of every period's applicants, searched for in every
  file the system wrote; the world's own generated periods and the warehouse
  spans handed to the pipeline are its input, not its output."""
  _, table, work = loop
  world = work / 'world'
  inputs = sorted(str(p) for p in world.glob('period-*/span-*/data.csv'))
  planted = written_files.planted(inputs, ['email', 'applicant_name'])
  assert len(planted) > 7 * ROWS
  harvested = {f'span-{m["month"]}' for m in table['months']
               if any(x.startswith('HarvestedSpan') for x in m['lineage'])}
  assert harvested  # the harvested span is the system's output: searched
  warehouse = [str(work / 'data' / d) for d in os.listdir(work / 'data')
               if d.startswith('span-') and d not in harvested]
  skip = [str(world), str(work / 'data' / 'labelers')] + warehouse
  assert written_files.found_in(str(work), planted, skip=skip) == {}
