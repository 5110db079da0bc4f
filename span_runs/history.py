"""Which spans of a data root a pipeline has processed, from ML Metadata.

A span counts as processed when a run of it, on the same data root, reached
a decision (span_runs.outcome): a run that crashed is run again, a run the
data gate blocked is not (the same data would be blocked again; `--span N`
re-runs it on purpose). Spans are keyed by the ExampleGen's own record of
what it read (its `span` and `input_base`), so another data root's span 1
is not this one's.
"""

import os
from typing import Dict, Iterable, List

from metadata import connection
from metadata import run_summary
from span_runs import outcome as outcome_lib


def _runs(store, pipeline_name: str) -> List:
  runs = [c for c in store.get_contexts_by_type('pipeline_run')
          if run_summary.belongs_to(store, c, pipeline_name)]
  return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def _same_root(recorded: str, data_root: str) -> bool:
  return bool(recorded) and os.path.abspath(recorded) == os.path.abspath(data_root)


def processed(metadata_path: str, pipeline_name: str,
              data_root: str) -> Dict[int, outcome_lib.SpanOutcome]:
  """span -> the outcome of its latest decided run; {} before the first run."""
  if connection.is_local_file(metadata_path) and not os.path.exists(metadata_path):
    return {}
  store = connection.open_store(metadata_path)
  found: Dict[int, outcome_lib.SpanOutcome] = {}
  for run in _runs(store, pipeline_name):
    summary = run_summary.summarize(metadata_path, pipeline_name, run.name)
    result = outcome_lib.outcome_of(summary, store)
    if result.span is not None and result.decided and _same_root(result.input_base,
                                                                   data_root):
      found[result.span] = result  # runs are in time order: the latest wins
  return found


def pending(on_disk: Iterable[int], done: Dict[int, outcome_lib.SpanOutcome]) -> List[int]:
  """The spans on disk not processed yet, oldest first."""
  return sorted(span for span in on_disk if span not in done)
