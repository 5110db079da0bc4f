"""What data validation decided in a run, read back from ML Metadata.

For the runner's closing message: the data gate's report (its execution id
locates it, also when the execution failed and published no artifact) and the
message any failed validation step recorded with its execution (the CSV
checks of the ExampleGen, the gate's findings).
"""

import dataclasses
import json
import os
from typing import List, Optional

from components.data_gate import component as data_gate
from metadata import connection
from metadata import run_summary
from metadata import values

GATE_NODE = 'DataValidationGate'
# Nodes whose failure means the data, not the system, was at fault.
DATA_NODES = ('CsvExampleGen', GATE_NODE)
_EXECUTION_RESULT = '__execution_result__'


@dataclasses.dataclass
class Outcome:
  node_id: str
  passed: bool
  message: str
  report_html: Optional[str] = None
  report_text: Optional[str] = None


def recorded_message(metadata_path: str, execution_id: int) -> str:
  """The result message an execution recorded in MLMD ('' if none)."""
  store = connection.open_store(metadata_path)
  [execution] = store.get_executions_by_id([execution_id])
  raw = values.property_value(execution, _EXECUTION_RESULT)
  if not raw or not isinstance(raw, str):
    return ''
  try:
    return json.loads(raw).get('resultMessage', '')
  except ValueError:
    return raw


def report_dir(pipeline_root: str, execution_id: int) -> str:
  return os.path.join(pipeline_root, GATE_NODE, data_gate.REPORTS_DIR,
                      str(execution_id))


def outcomes(summary: run_summary.RunSummary, pipeline_root: str) -> List[Outcome]:
  """The gate's outcome (whatever its state) and any failed data step's."""
  found = []
  for component in summary.components:
    failed = component.state == 'FAILED'
    if component.node_id == GATE_NODE:
      directory = (_cached_report_dir(summary) if component.state == 'CACHED'
                   else report_dir(pipeline_root, component.execution_id))
      html = text = None
      if directory and os.path.exists(os.path.join(directory, 'report.txt')):
        html = os.path.join(directory, 'report.html')
        text = os.path.join(directory, 'report.txt')
      found.append(Outcome(
          GATE_NODE, not failed,
          recorded_message(summary.metadata_path, component.execution_id),
          html, text))
    elif component.node_id in DATA_NODES and failed:
      found.append(Outcome(
          component.node_id, False,
          recorded_message(summary.metadata_path, component.execution_id)))
  return found


def _cached_report_dir(summary: run_summary.RunSummary) -> Optional[str]:
  verdict = summary.artifact(data_gate.DataValidationVerdict.TYPE_NAME)
  if verdict is None:
    return None
  path = values.property_value(verdict, 'report')
  return os.path.dirname(path) if path else None
