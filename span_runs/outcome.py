"""What one pipeline run of one span decided, read back from ML Metadata.

A run has decided when the data was refused (rows that break the
description, or the data gate's block), or when every node finished and the
Pusher had its say (pushed or not). A run that crashed, or was killed while
running, has decided nothing: its span is still to do.
"""

import dataclasses
from typing import Optional

from metadata import artifacts
from metadata import connection
from metadata import run_summary
from metadata import values
from pipeline import validation_outcome

EXAMPLE_GEN = 'CsvExampleGen'
FINISHED = ('COMPLETE', 'CACHED')


@dataclasses.dataclass(frozen=True)
class SpanOutcome:
  """One run of one span; the fields are what the overview table shows."""
  span: Optional[int]
  input_base: str
  run_id: str
  rejected_by: Optional[str] = None   # a data node that refused the span
  rejection: str = ''                 # its recorded message, first line
  failed_node: Optional[str] = None   # a node that failed for another reason
  finished: bool = False              # every node finished, the Pusher among them
  drift_baseline_span: Optional[int] = None
  compared_with_blessed: bool = False
  blessed: Optional[bool] = None
  pushed_version: Optional[str] = None
  rollout: Optional[dict] = None      # decision, mode, step_weight, candidate, reason

  @property
  def decided(self) -> bool:
    return self.rejected_by is not None or (self.finished and self.failed_node is None)

  def what_happened(self) -> str:
    """One line: the steps this span went through, in order."""
    if self.rejected_by == validation_outcome.GATE_NODE:
      return f'BLOCKED by the data gate ({self.rejection or "see its report"}); stable kept serving'
    if self.rejected_by:
      return f'REJECTED by {self.rejected_by} ({self.rejection or "bad rows"}); nothing trained'
    if self.failed_node:
      return f'FAILED in {self.failed_node}'
    if not self.finished:
      return 'did not finish'
    steps = [f'drift checked against span {self.drift_baseline_span}'
             if self.drift_baseline_span is not None else 'first span: no drift check']
    steps.append('compared with the last blessed model' if self.compared_with_blessed
                 else 'no blessed model to compare with')
    steps.append('blessed' if self.blessed else 'NOT blessed')
    if self.pushed_version:
      steps.append(f'pushed as version {self.pushed_version}')
    steps.append(_rollout_text(self.rollout))
    return '; '.join(s for s in steps if s)


def _rollout_text(rollout: Optional[dict]) -> str:
  if not rollout or rollout.get('decision') in (None, '', 'not_pushed'):
    return ''
  decision = rollout['decision'].replace('_', ' ')
  mode = rollout.get('mode') or ''
  if decision == 'promoted':
    return ('first deployment in shadow, then promoted to stable' if mode == 'shadow'
            else f'canary up to {rollout.get("step_weight") or 100:g}%, promoted to stable')
  if decision == 'rolled back':
    weight = rollout.get('step_weight') or 0
    return (f'{mode or "canary"} ROLLED BACK at {weight:g}%: '
            f'{(rollout.get("reason") or "").splitlines()[0][:120] if rollout.get("reason") else ""}'
            '; stable kept serving')
  return f'rollout: {decision}'


def _first_line(text: str) -> str:
  lines = [l.strip() for l in (text or '').splitlines() if l.strip()]
  return lines[0][:160] if lines else ''


def _example_gen_execution(store, summary: run_summary.RunSummary):
  component = summary.component(EXAMPLE_GEN)
  if component is None:
    return None
  [execution] = store.get_executions_by_id([component.execution_id])
  return execution


def _input_keys(store, execution_id: int) -> set:
  return {values.event_key(e) for e in store.get_events_by_execution_ids([execution_id])
          if e.type in values.INPUT_EVENTS}


def _rollout(summary: run_summary.RunSummary) -> Optional[dict]:
  decision = summary.artifact(artifacts.RolloutDecision.TYPE_NAME)
  if decision is None:
    return None
  return {key: values.property_value(decision, key)
          for key in ('decision', 'mode', 'step_weight', 'candidate_version', 'reason')}


def outcome_of(summary: run_summary.RunSummary, store=None) -> SpanOutcome:
  """The outcome of the run `summary` describes (store: the same, already open)."""
  store = store or connection.open_store(summary.metadata_path)
  example_gen = _example_gen_execution(store, summary)
  span = values.int_property(example_gen, 'span') if example_gen is not None else None
  input_base = (values.property_value(example_gen, 'input_base', '')
                if example_gen is not None else '')
  base = dict(span=span, input_base=input_base, run_id=summary.run_id)
  for component in summary.components:
    if component.state in FINISHED:
      continue
    if component.node_id in validation_outcome.DATA_NODES and component.state == 'FAILED':
      message = validation_outcome.recorded_message(summary.metadata_path,
                                                    component.execution_id)
      return SpanOutcome(**base, rejected_by=component.node_id,
                         rejection=_first_line(message))
    return SpanOutcome(**base, failed_node=component.node_id)
  verdict = summary.artifact(artifacts.DataValidationVerdict.TYPE_NAME)
  baseline_span = values.int_property(verdict, 'baseline_span') if verdict else None
  evaluator = summary.component('Evaluator')
  pusher = summary.component('Pusher')
  return SpanOutcome(
      **base,
      finished=pusher is not None,
      drift_baseline_span=baseline_span if baseline_span is not None and baseline_span >= 0
      else None,
      compared_with_blessed=bool(evaluator) and 'baseline_model' in _input_keys(
          store, evaluator.execution_id),
      blessed=summary.blessed,
      pushed_version=(summary.pushed_destination or '').rstrip('/').rsplit('/', 1)[-1] or None,
      rollout=_rollout(summary))
