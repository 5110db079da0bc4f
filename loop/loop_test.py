"""The loop's own parts without a pipeline: the plan, the alarm, the table."""

import csv
import os

import pytest

import description
from feedback import export
from feedback import quality
from feedback.join import Prediction
from loop import alarm
from loop import plan
from loop import simulation
from loop import table
from loop import world
from pipeline import configs


@pytest.fixture(scope='module')
def spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='module')
def schema(spec):
  return simulation._schema(configs.curated_schema_path(spec.name))  # pylint: disable=protected-access


def _textfile(tmp_path, spec, accuracy_hits, n, offline):
  """What cli.labels exports for version 7: `accuracy_hits` of `n` right."""
  predictions = [Prediction(key=f'k{i}', version='7', role='stable', ts=0.0, predicted=0,
                            inputs={}, source='', actual=0 if i < accuracy_hits else 1)
                 for i in range(n)]
  results = quality.by_version(predictions, spec.classes, [])
  path = str(tmp_path / 'live.prom')
  export.write_textfile(path, export.registry_for(spec, spec.name, results,
                                                  offline={'7': {'accuracy': offline, 'examples': 600}}))
  return path


def test_promtool_raises_the_alarm_only_on_a_significant_drop(tmp_path, spec, schema):
  quiet = alarm.evaluate(spec, schema, _textfile(tmp_path, spec, 780, 1000, 0.79),
                         str(tmp_path / 'quiet'))
  assert not quiet.raised, quiet.output
  dropped = alarm.evaluate(spec, schema, _textfile(tmp_path, spec, 650, 1000, 0.79),
                           str(tmp_path / 'dropped'))
  assert dropped.raised
  assert 'ModelLiveAccuracyBelowOffline version 7' in dropped.firing, dropped.output
  few = alarm.evaluate(spec, schema, _textfile(tmp_path, spec, 65, 100, 0.79),
                       str(tmp_path / 'few'))
  assert not few.raised  # 100 labels are below the floor


def test_the_schedule_covers_the_traffic_one_month_past_the_last():
  months = plan.default_months()
  assert len(months) >= 6
  sched = plan.schedule(months)
  assert sched[3] == 'data_drift' and sched[5] == sched[8] == 'concept_drift'


def test_the_table_says_which_call_was_wrong(tmp_path):
  right = simulation.MonthResult(1, 'clean', plan.PROMOTED, decision=plan.PROMOTED,
                                 lineage=['RolloutDecision artifact 9'])
  wrong = simulation.MonthResult(2, 'drift', plan.BLOCKED, decision=plan.PROMOTED,
                                 alarm=plan.QUIET, expected_alarm=plan.QUIET)
  text = table.format_table([right, wrong])
  assert 'RolloutDecision artifact 9' in text
  assert text.rstrip().endswith('WRONG CALL in month(s) 2 of 2.')
  paths = table.write([right, wrong], str(tmp_path), 'test')
  assert os.path.exists(paths['html']) and os.path.exists(paths['json'])


def test_a_long_rollback_reason_is_cut_after_a_whole_clause():
  reason = '; '.join(f'guardrail {i}: canary worse than stable by a lot' for i in range(20))
  clipped = simulation._clip(reason, 120)  # pylint: disable=protected-access
  assert len(clipped) <= 125 and clipped.endswith('; ...')
  assert clipped[:-len('; ...')].split('; ')[-1] == 'guardrail 1: canary worse than stable by a lot'
  assert simulation._clip('short', 120) == 'short'  # pylint: disable=protected-access


def test_collecting_a_slice_changes_the_warehouse_not_the_traffic(tmp_path, spec):
  the_world = world.World(str(tmp_path), 1000, 42, {}, str(tmp_path / 'commands.log'))
  the_world.slice_share[2] = ('18-24', world.COLLECTED_SHARE)
  the_world.generate(2)
  span = the_world.labelled_span(2)
  with open(os.path.join(span, 'data.csv'), newline='') as f:
    labelled = list(csv.DictReader(f))
  traffic = the_world.traffic(2)
  share = lambda rows: sum(r['age_band'] == '18-24' for r in rows) / len(rows)
  assert len(labelled) == len(traffic) == 1000
  assert share(labelled) > 0.25 and share(traffic) < 0.2, (share(labelled), share(traffic))
  labelled_ids = {r['application_id'] for r in labelled}
  assert not labelled_ids & {r['application_id'] for r in traffic}
  # The labelers' file of the span answers for its own rows, from the collected world.
  with open(os.path.join(the_world.data_root, 'labelers', 'span-2.csv'), newline='') as f:
    answered = list(csv.DictReader(f))
  assert answered and {r['application_id'] for r in answered} <= labelled_ids
  with open(os.path.join(tmp_path, 'world', 'period-2-collected', 'labelers', 'span-2.csv'),
            newline='') as f:
    collected = {r['application_id']: r for r in csv.DictReader(f)}
  assert all(collected[r['application_id']] == r for r in answered)
