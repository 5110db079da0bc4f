"""A rollout and its sign-off in ML Metadata.

A pipeline's rollout is CanaryRollout's RolloutDecision artifact (TFX records
it). A rollout by command (`cli.rollout` with a store) is recorded here the
same way (`record_rollout`): an execution of type `CommandLineRollout` that
used the PushedModel whose destination is the candidate's version directory
(INPUT event `pushed_model`) and produced a RolloutDecision (OUTPUT event
`rollout_decision`, uri = the rollout's --out directory), in the pipeline's
context; so the model's lineage reaches it either way.

A decision on a paused rollout (approve, reject, expiry: `record`) is an
execution of type `SignOff` that used the paused RolloutDecision (INPUT event
`rollout_decision`) and produced a new RolloutDecision: the rollout's outcome
after the decision (OUTPUT event `rollout_decision`, uri `<decision
dir>/signoff`). The execution carries who decided, when, why and the audit
page they saw (path and SHA-256); it joins the paused rollout's run and
pipeline contexts, so the run and the model's lineage show it. The paused
artifact also gets `signoff_*` properties, so a reader of the rollout alone
sees the decision without walking lineage.

An expiry settled inside a pipeline component (the next CanaryRollout, which
cannot write ML Metadata itself) is named on that component's output
(`settled_signoff`: the decision file); `record_settled` records every
decision whose file exists beside a paused rollout and is not recorded yet,
after the run (local_runner) or at the next `cli.signoff`, so an expiry
settled by a rollout that then failed is recorded too.

Opened through metadata.connection, the project's one way into MLMD; values
go in by metadata.record's one rule.
"""

import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional

from ml_metadata.proto import metadata_store_pb2 as mlmd

from metadata import connection
from metadata import record as mlmd_record
from metadata import type_names
from metadata import values
from rollout.config import AWAITING_SIGNOFF, PROMOTED, RolloutError

EXECUTION_TYPE = 'SignOff'
ROLLOUT_EXECUTION_TYPE = 'CommandLineRollout'
ARTIFACT_TYPE = type_names.ROLLOUT_DECISION
PUSHED_MODEL_TYPE = 'PushedModel'
EVENT_KEY = 'rollout_decision'
PUSHED_MODEL_KEY = 'pushed_model'
# On a RolloutDecision: the decision file of an expired sign-off its rollout settled first.
SETTLED_PROPERTY = 'settled_signoff'
# Properties the sign-off puts on the paused RolloutDecision artifact.
SIGNOFF_PROPERTIES = ('signoff_verdict', 'signoff_reviewer', 'signoff_at', 'signoff_reason',
                      'signoff_report', 'signoff_report_sha256', 'signoff_outcome')


class RecordError(LookupError):
  """The store has no paused rollout to attach the sign-off to."""


def _optional(value) -> str:
  return '' if value is None else str(value)


def decision_properties(result, report_html: str) -> Dict[str, Any]:
  """A RolloutDecision's properties for a rollout.config.RolloutResult: the
  same for CanaryRollout's output and a rollout by command."""
  compact = [{
      'step': s['step'], 'weight': s['weight'], 'requests': s['requests'],
      'stable': s.get('stable'), 'canary': s.get('canary'),
      'checks': {c['name']: c['status'] for c in s['checks']},
  } for s in result.steps]
  properties = {
      'decision': result.decision, 'step': int(result.step),
      'step_weight': float(result.step_weight or 0.0), 'reason': result.reason,
      'mode': result.mode or '', 'model_name': result.model,
      'candidate_version': _optional(result.candidate),
      'stable_before': _optional(result.stable_before),
      'stable_after': _optional(result.stable_after),
      'metrics': json.dumps(compact, default=str), 'report': report_html}
  if result.audit:
    properties.update(audit_report=result.audit['html'],
                      audit_report_sha256=result.audit['sha256'],
                      regressed_slices=json.dumps(result.audit['regressed']))
  if result.signoff:
    properties.update(signoff_deadline=result.signoff['deadline'],
                      signoff_pause_record=result.signoff['pause_record'])
  return properties


def _pushes_of(store, destination: str) -> List[mlmd.Artifact]:
  want = os.path.abspath(destination).rstrip('/')
  return sorted((p for p in store.get_artifacts_by_type(PUSHED_MODEL_TYPE)
                 if str(values.property_value(p, 'pushed_destination', '')).rstrip('/') == want),
                key=lambda a: a.id)


def _contexts(store, artifact_id: int) -> List[mlmd.Context]:
  """The run's and the pipeline's contexts of an artifact, not its node's."""
  node_types = {t.id for t in store.get_context_types() if t.name == 'node'}
  return [c for c in store.get_contexts_by_artifact(artifact_id) if c.type_id not in node_types]


def record_rollout(target: str, result, decision_dir: str, serving_root: str,
                   report_html: str) -> Dict[str, Optional[int]]:
  """Records a rollout made by `cli.rollout` (see the module docstring)."""
  store = connection.open_store(target, writable=True)
  pushes = (_pushes_of(store, os.path.join(serving_root, result.model, str(result.candidate)))
            if serving_root else [])
  push = pushes[-1] if pushes else None
  # The pipeline's context only: the push's run is over, the rollout is not part of it.
  pipeline_types = {t.id for t in store.get_context_types() if t.name == 'pipeline'}
  contexts = ([c for c in store.get_contexts_by_artifact(push.id)
               if c.type_id in pipeline_types] if push else [])
  outcome = mlmd_record.new_artifact(store, ARTIFACT_TYPE, os.path.abspath(decision_dir),
                                     decision_properties(result, report_html))
  done = mlmd_record.record_execution(
      store, ROLLOUT_EXECUTION_TYPE,
      properties={'command': 'cli.rollout', 'replay_source': result.replay_source,
                  'server_url': result.server_url, 'started': result.started,
                  'finished': result.finished},
      inputs=[(push, PUSHED_MODEL_KEY)] if push else [],
      outputs=[(outcome, EVENT_KEY)], contexts=contexts)
  return {'execution': done.execution_id, 'rollout_decision': done.output_ids[0],
          'pushed_model': push.id if push else None}


def find_paused(store, decision_dir: str) -> mlmd.Artifact:
  """The RolloutDecision written into `decision_dir`; RecordError if none."""
  found = mlmd_record.artifacts_with_uri(store, ARTIFACT_TYPE, decision_dir)
  if not found:
    raise RecordError(f'no {ARTIFACT_TYPE} artifact with uri {decision_dir} in the '
                      f'metadata store (was the rollout made by a pipeline run, or by '
                      f'cli.rollout with this store?)')
  return found[-1]


def record(target: str, decision) -> Dict[str, int]:
  """Writes `decision` (rollout.signoff_decision.Decision); returns the new ids."""
  store = connection.open_store(target, writable=True)
  paused = find_paused(store, decision.decision_dir)
  if values.property_value(paused, 'decision') != AWAITING_SIGNOFF:
    raise RecordError(f'{ARTIFACT_TYPE} {paused.id} at {paused.uri} is not awaiting a '
                      f'sign-off (decision {values.property_value(paused, "decision")!r})')
  if values.property_value(paused, 'signoff_verdict'):
    raise RecordError(f'{ARTIFACT_TYPE} {paused.id} at {paused.uri} already has its '
                      f'sign-off ({values.property_value(paused, "signoff_verdict")})')
  outcome = mlmd_record.new_artifact(store, ARTIFACT_TYPE,
                                     decision.record_path.rsplit('/', 1)[0])
  for key in ('model_name', 'candidate_version', 'stable_before', 'mode'):
    if key in paused.custom_properties:
      outcome.custom_properties[key].CopyFrom(paused.custom_properties[key])
  after = decision.rollout_after or {}
  stable_after = after.get('stable_after', decision.candidate if decision.outcome == PROMOTED
                           else decision.stable)
  mlmd_record.set_properties(outcome, dict(
      _signoff_properties(decision), decision=decision.outcome,
      reason=decision.outcome_reason, stable_after=_optional(stable_after)))
  mlmd_record.set_properties(paused, _signoff_properties(decision))
  # One transaction: the paused artifact's new properties, the execution, its
  # events and its contexts (the run's and the pipeline's, not CanaryRollout's
  # node: the sign-off is its own step, named SignOff in lineage).
  done = mlmd_record.record_execution(
      store, EXECUTION_TYPE,
      properties={'verdict': decision.verdict, 'reviewer': decision.reviewer,
                  'reason': decision.reason, 'decided_at': decision.decided_at,
                  'report': decision.report, 'report_sha256': decision.report_sha256,
                  'candidate_version': str(decision.candidate), 'outcome': decision.outcome,
                  'outcome_reason': decision.outcome_reason, 'record': decision.record_path},
      inputs=[(paused, EVENT_KEY)], outputs=[(outcome, EVENT_KEY)],
      contexts=_contexts(store, paused.id))
  return {'execution': done.execution_id, 'paused_artifact': done.input_ids[0],
          'outcome_artifact': done.output_ids[0]}


def record_settled(target: str) -> List[Dict[str, int]]:
  """Records every decided sign-off not recorded yet; returns the new ids of each.

  Found from the paused rollouts themselves: a RolloutDecision awaiting
  sign-off, without a verdict, whose decision file (`<its uri>/signoff/
  signoff.json`) exists. The rollout that settled an expiry names the file too
  (SETTLED_PROPERTY), but only if that rollout finished: one that failed after
  settling publishes no output, and its expiry must not go unrecorded.
  """
  from rollout import signoff_decision  # pylint: disable=g-import-not-at-top  # TF-heavy
  store = connection.open_store(target)
  done = []
  for paused in store.get_artifacts_by_type(ARTIFACT_TYPE):
    if (values.property_value(paused, 'decision') != AWAITING_SIGNOFF or
        values.property_value(paused, 'signoff_verdict')):
      continue  # Not paused, or recorded already: its file is not even read.
    path = os.path.join(paused.uri, 'signoff', 'signoff.json')
    if not os.path.exists(path):
      continue  # Nobody decided yet, and the deadline was not settled.
    # One unreadable file does not keep every later decision unrecorded.
    try:
      done.append(record(target, signoff_decision.read_decision(path)))
    except (RolloutError, LookupError, OSError) as e:  # SignoffError is a RolloutError
      logging.warning('the settled sign-off %s is not recorded: %s', path, e)
  return done


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
