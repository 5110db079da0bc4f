"""`local_runner.py` without --span runs every span not processed yet, in order.

Three small generated spans, the last one drifted (the generator's
data_drift scenario), in one store:
  1. the first invocation runs span 1 (first deployment, in shadow), span 2
     (drift check against span 1, compared with span 1's blessed model,
     canaried) and span 3 (stopped by the data gate), then the overview;
  2. the second finds every span processed and runs only the latest again:
     spans 1 and 2 are not re-run.
"""

import os
import re
import subprocess
import sys

import pytest

from data import generator
from metadata import connection
from pipeline import configs
from span_runs import history

pytestmark = pytest.mark.e2e

PIPELINE = 'credit_risk'
ROWS = 3000


def _run(data_root, work_dir):
  return subprocess.run(
      [sys.executable, os.path.join(configs.REPO_ROOT, 'local_runner.py'),
       '--data-root', data_root, '--work-dir', work_dir],
      capture_output=True, text=True, timeout=1800,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))


def _trainer_executions(metadata):
  store = connection.open_store(metadata)
  return [e for e in store.get_executions()
          if store.get_execution_types_by_id([e.type_id])[0].name.endswith('Trainer')]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('all_spans')
  data_root, work_dir = str(root / 'data'), str(root / 'work')
  generator.generate(data_root, spans=3, rows_per_span=ROWS, scenario='data_drift',
                     seed=7, verbose=False)
  metadata = configs.metadata_path(work_dir, PIPELINE)
  first = _run(data_root, work_dir)
  after_first = history.processed(metadata, PIPELINE, data_root)
  trainers = len(_trainer_executions(metadata))
  second = _run(data_root, work_dir)
  return data_root, metadata, first, after_first, trainers, second


def _overview(stdout):
  table = stdout[stdout.rindex('Spans of this data root'):]
  return {int(m.group(1)): (m.group(2), m.group(3)) for m in
          re.finditer(r'^\s+(\d+)\s+(this run|earlier)\s+(.*)$', table, re.M)}


def test_every_span_runs_in_order_with_its_own_progress_and_summary(runs):
  _, _, first, _, _, _ = runs
  out = first.stdout
  assert 'to run now, oldest first: 1, 2, 3' in out, out[-3000:]
  starts = [out.index(f'=== Span {span} ({span} of 3)') for span in (1, 2, 3)]
  assert starts == sorted(starts)
  # Each span: its dataset line, its components, its summary from MLMD.
  for begin, end in zip(starts, starts[1:] + [out.index('Spans of this data root')]):
    block = out[begin:end]
    assert 'CsvExampleGen' in block and 'Pipeline credit_risk, run' in block, block


def test_the_story_of_the_spans_is_told_in_the_overview(runs):
  _, _, first, after_first, _, _ = runs
  table = _overview(first.stdout)
  assert sorted(table) == [1, 2, 3]
  assert all(when == 'this run' for when, _ in table.values())
  assert 'first span: no drift check' in table[1][1]
  assert 'no blessed model to compare with' in table[1][1]
  assert 'first deployment in shadow, then promoted' in table[1][1], table[1]
  assert 'drift checked against span 1' in table[2][1], table[2]
  assert 'compared with the last blessed model' in table[2][1]
  assert 'canary up to 100%, promoted' in table[2][1], table[2]
  assert table[3][1].startswith('BLOCKED by the data gate'), table[3]
  assert 'The newest span, 3, was stopped by the data gate' in first.stdout
  assert "span 2's model is stable" in first.stdout
  # The same story, from ML Metadata.
  assert after_first[1].rollout['mode'] == 'shadow'
  assert after_first[2].rollout['decision'] == 'promoted'
  assert after_first[2].drift_baseline_span == 1
  assert after_first[3].rejected_by == 'DataValidationGate'


def test_a_blocked_newest_span_exits_3_and_a_failure_would_exit_1(runs):
  _, _, first, _, _, second = runs
  assert first.returncode == 3, first.stdout[-3000:] + first.stderr[-3000:]
  assert second.returncode == 3, second.stdout[-3000:] + second.stderr[-3000:]
  assert 'DATA REJECTED by DataValidationGate' in first.stderr


def test_processed_spans_are_not_run_again(runs):
  _, metadata, _, _, trainers, second = runs
  out = second.stdout
  assert 'was processed already (1, 2, 3); running the latest, span 3, again' in out
  assert '=== Span' not in out
  assert len(_trainer_executions(metadata)) == trainers == 2
  table = _overview(out)
  assert table[1][0] == table[2][0] == 'earlier' and table[3][0] == 'this run'
