"""A sign-off in ML Metadata, with the rollout it decided.

The paused rollout's RolloutDecision artifact (the CanaryRollout output whose
uri is the pause's decision directory) gets an execution of type `SignOff`
that used it (INPUT event `rollout_decision`) and produced a new
RolloutDecision: the rollout's outcome after the decision (OUTPUT event
`rollout_decision`, uri `<decision dir>/signoff`). The execution carries who
decided, when, why and the audit page they saw (path and SHA-256); it joins
the pipeline run's and the pipeline's contexts, so the run and the model's lineage show it. The
paused artifact also gets `signoff_*` properties, so a reader of the rollout
alone sees the decision without walking lineage.

Opened through metadata.connection, the project's one way into MLMD.
"""

from typing import Any, Dict, Mapping, Optional

from ml_metadata.proto import metadata_store_pb2 as mlmd

from metadata import connection
from metadata import values
from rollout.config import AWAITING_SIGNOFF
from metadata import type_names

EXECUTION_TYPE = 'SignOff'
ARTIFACT_TYPE = type_names.ROLLOUT_DECISION
EVENT_KEY = 'rollout_decision'
# Properties the sign-off puts on the paused RolloutDecision artifact.
SIGNOFF_PROPERTIES = ('signoff_verdict', 'signoff_reviewer', 'signoff_at', 'signoff_reason',
                      'signoff_report', 'signoff_report_sha256', 'signoff_outcome')


class RecordError(LookupError):
  """The store has no paused rollout to attach the sign-off to."""


def _set(node, key: str, value: Any) -> None:
  if isinstance(value, bool):
    node.custom_properties[key].int_value = int(value)
  elif isinstance(value, int):
    node.custom_properties[key].int_value = value
  elif isinstance(value, float):
    node.custom_properties[key].double_value = value
  else:
    node.custom_properties[key].string_value = '' if value is None else str(value)


def find_paused(store, decision_dir: str) -> mlmd.Artifact:
  """The RolloutDecision written into `decision_dir`; RecordError if none."""
  found = [a for a in store.get_artifacts_by_type(ARTIFACT_TYPE)
           if a.uri.rstrip('/') == decision_dir.rstrip('/')]
  if not found:
    raise RecordError(f'no {ARTIFACT_TYPE} artifact with uri {decision_dir} in the '
                      f'metadata store (was the pause made by a pipeline run on this store?)')
  return max(found, key=lambda a: a.id)


def record(target: str, decision) -> Dict[str, int]:
  """Writes `decision` (rollout.signoff_decision.Decision); returns the new ids."""
  store = connection.open_store(target, writable=True)
  paused = find_paused(store, decision.decision_dir)
  if values.property_value(paused, 'decision') != AWAITING_SIGNOFF:
    raise RecordError(f'{ARTIFACT_TYPE} {paused.id} at {paused.uri} is not awaiting a '
                      f'sign-off (decision {values.property_value(paused, "decision")!r})')
  execution_type = store.put_execution_type(mlmd.ExecutionType(name=EXECUTION_TYPE))
  artifact_type = store.get_artifact_type(ARTIFACT_TYPE)
  execution = mlmd.Execution(type_id=execution_type,
                             last_known_state=mlmd.Execution.COMPLETE)
  fields = {'verdict': decision.verdict, 'reviewer': decision.reviewer,
            'reason': decision.reason, 'decided_at': decision.decided_at,
            'report': decision.report, 'report_sha256': decision.report_sha256,
            'candidate_version': str(decision.candidate), 'outcome': decision.outcome,
            'outcome_reason': decision.outcome_reason, 'record': decision.record_path}
  for key, value in fields.items():
    _set(execution, key, value)
  outcome = mlmd.Artifact(type_id=artifact_type.id, uri=decision.record_path.rsplit('/', 1)[0],
                          state=mlmd.Artifact.LIVE)
  for key in ('model_name', 'candidate_version', 'stable_before', 'mode'):
    if key in paused.custom_properties:
      outcome.custom_properties[key].CopyFrom(paused.custom_properties[key])
  _set(outcome, 'decision', decision.outcome)
  _set(outcome, 'reason', decision.outcome_reason)
  after = decision.rollout_after or {}
  _set(outcome, 'stable_after', str(after.get('stable_after', decision.stable
                                              if decision.outcome != 'promoted'
                                              else decision.candidate)))
  for key, value in _signoff_properties(decision).items():
    _set(outcome, key, value)
    _set(paused, key, value)
  # The run's and the pipeline's contexts, not CanaryRollout's node context:
  # the sign-off is its own step, named SignOff in lineage.
  node_types = {t.id for t in store.get_context_types() if t.name == 'node'}
  contexts = [c for c in store.get_contexts_by_artifact(paused.id)
              if c.type_id not in node_types]
  event_in = mlmd.Event(type=mlmd.Event.INPUT)
  event_in.path.steps.add().key = EVENT_KEY
  event_out = mlmd.Event(type=mlmd.Event.OUTPUT)
  event_out.path.steps.add().key = EVENT_KEY
  # One transaction: the paused artifact's new properties, the execution,
  # its events and its contexts are all written or none is.
  execution_id, (paused_id, outcome_id), _ = store.put_execution(
      execution, [(paused, event_in), (outcome, event_out)], contexts)
  return {'execution': execution_id, 'paused_artifact': paused_id, 'outcome_artifact': outcome_id}


def _signoff_properties(decision) -> Dict[str, Any]:
  return dict(zip(SIGNOFF_PROPERTIES, (
      decision.verdict, decision.reviewer, decision.decided_at, decision.reason,
      decision.report, decision.report_sha256, decision.outcome)))


def summary(properties: Mapping[str, Any]) -> Optional[str]:
  """One line for a RolloutDecision's properties (e.g. in `cli.provenance model`)."""
  decision = properties.get('decision')
  if not decision:
    return None
  text = str(decision)
  if properties.get('signoff_verdict'):
    who = properties.get('signoff_reviewer') or 'nobody'
    text += (f'; sign-off {properties["signoff_verdict"]} by {who} at '
             f'{properties.get("signoff_at")}: {properties.get("signoff_reason")}; saw '
             f'{properties.get("signoff_report")} sha256 '
             f'{str(properties.get("signoff_report_sha256"))[:12]}'
             f' -> {properties.get("signoff_outcome")}')
  elif decision == AWAITING_SIGNOFF and properties.get('signoff_deadline'):
    text += f' until {properties["signoff_deadline"]}'
  return text
