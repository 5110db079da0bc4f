"""What the overview says for each kind of span outcome, and which spans are left."""

from span_runs import history
from span_runs import table
from span_runs.outcome import SpanOutcome


def _outcome(span, **fields):
  return SpanOutcome(span=span, input_base='/data', run_id=f'run-{span}', **fields)


SHADOW = _outcome(1, finished=True, blessed=True, pushed_version='11',
                  rollout={'decision': 'promoted', 'mode': 'shadow'})
CANARY = _outcome(2, finished=True, blessed=True, pushed_version='12', drift_baseline_span=1,
                  compared_with_blessed=True,
                  rollout={'decision': 'promoted', 'mode': 'canary', 'step_weight': 100.0})
BLOCKED = _outcome(3, rejected_by='DataValidationGate', rejection='income drifted')


def test_each_outcome_reads_as_what_happened():
  assert SHADOW.what_happened() == (
      'first span: no drift check; no blessed model to compare with; blessed; '
      'pushed as version 11; first deployment in shadow, then promoted to stable')
  assert 'drift checked against span 1; compared with the last blessed model' in \
      CANARY.what_happened()
  assert CANARY.what_happened().endswith('canary up to 100%, promoted to stable')
  assert BLOCKED.what_happened().startswith('BLOCKED by the data gate (income drifted)')
  rolled_back = _outcome(4, finished=True, blessed=True, pushed_version='14',
                         rollout={'decision': 'rolled_back', 'mode': 'canary',
                                  'step_weight': 25.0, 'reason': 'p99 latency\nmore'})
  assert 'canary ROLLED BACK at 25%: p99 latency; stable kept serving' in \
      rolled_back.what_happened()
  unblessed = _outcome(5, finished=True, blessed=False,
                       rollout={'decision': 'not_pushed'})
  assert unblessed.what_happened().endswith('NOT blessed')


def test_only_decided_runs_count_as_processed():
  assert SHADOW.decided and BLOCKED.decided
  assert not _outcome(6, failed_node='Trainer').decided
  assert not _outcome(7).decided  # killed while running: nothing finished
  assert _outcome(8, rejected_by='CsvExampleGen').decided


def test_pending_spans_are_the_unprocessed_ones_oldest_first():
  assert history.pending([3, 1, 2, 4], {1: SHADOW, 3: BLOCKED}) == [2, 4]
  assert history.pending([1], {1: SHADOW}) == []


def test_the_overview_tells_which_span_ran_now_and_how_the_story_ends():
  text = table.format_overview({1: SHADOW, 2: CANARY, 3: BLOCKED}, ran_now=[3])
  rows = text.splitlines()[2:5]
  assert [r.split()[:2] for r in rows] == [['1', 'earlier'], ['2', 'earlier'],
                                            ['3', 'this']]
  assert 'The newest span, 3, was stopped by the data gate' in text
  assert "span 2's model is stable" in text
  assert table.closing_note({1: SHADOW}) == "After span 1: span 1's model is stable."
