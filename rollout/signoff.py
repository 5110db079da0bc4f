"""The audit sign-off's pause: when a canary stops at a step and waits.

At the description's `rollout.pause_at_step` (after that step's guardrails
held) the engine calls `checkpoint`: it writes the slice audit (rollout.audit,
rollout.audit_report) for every candidate and, when `rollout.signoff` asks for
a sign-off (always, or on_regression and a slice regressed), pauses (a first
deployment, in shadow mode, is audited by `audit_shadow` and never pauses:
see there):

  * the server holds the step's canary weight by one lease that ends at the
    sign-off deadline. The lease is in the server's durable routing state, so
    the weight survives the controller's exit and a server restart, and at
    the deadline the server itself drops the canary to 0: a forgotten pause
    never keeps a candidate's traffic;
  * the pause record `<serving root>/<model>.signoff.json` (atomic, owner-only,
    beside the routing state) holds what a decision needs to continue:
    candidate, stable, the steps left, the deadline, the audit report's path
    and SHA-256, the rollout's config and description, where its replay rows
    came from;
  * the rollout ends with decision `awaiting_signoff`: the pipeline run is not
    blocked. `python -m cli.signoff approve|reject` (rollout.signoff_decision)
    continues it later.
"""

import dataclasses
import os
import time
from typing import Any, Dict, List, Mapping, Optional

import description
import durable
from description.rollout_policy import SIGNOFF_NEVER, RolloutPolicy
from rollout import audit as audit_lib
from rollout import audit_report
from rollout.config import AWAITING_SIGNOFF, RolloutError, now_iso, weight_text
from serving import routing_store

SUFFIX = '.signoff.json'
REPLAY_CSV = 'csv'
REPLAY_EXAMPLES = 'examples'


class SignoffError(RolloutError):
  """A sign-off cannot be taken (no pause, wrong candidate, changed report)."""


@dataclasses.dataclass(frozen=True)
class Pause:
  """A paused rollout, as recorded in its pause file."""
  model: str
  candidate: int
  stable: int
  step: int
  weight: float
  remaining_steps: List[float]
  paused_at: str
  deadline: float  # wall clock (epoch seconds)
  required_by: str  # the description's rollout.signoff
  regressed: List[str]
  audit_html: str
  audit_json: str
  audit_sha256: str
  decision_dir: str  # the rollout's output (the RolloutDecision artifact's uri)
  config: Dict[str, Any]
  description: str  # description.to_exec_property form
  replay_source: str
  replay_kind: str  # csv | examples
  server_url: Optional[str] = None  # None: an in-process server over the serving root
  request_log_dir: Optional[str] = None

  @property
  def deadline_iso(self) -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.deadline))

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def pause_path(state_dir: str, model: str) -> str:
  return os.path.join(state_dir, model + SUFFIX)


def read_pause(state_dir: str, model: str) -> Optional[Pause]:
  path = pause_path(state_dir, model)
  data = durable.read_json(path, 'the pause record', SignoffError)
  if data is durable.ABSENT:
    return None
  try:
    return Pause(**data)
  except TypeError as e:  # not an object (e.g. `null`), or not a pause's fields
    raise SignoffError(f'{path}: not a pause record: {e}') from e


def clear_pause(state_dir: str, model: str) -> None:
  try:
    os.unlink(pause_path(state_dir, model))
  except FileNotFoundError:
    pass


@dataclasses.dataclass(frozen=True)
class SignoffPlan:
  """What the engine needs to audit and, if asked, pause a canary."""
  policy: RolloutPolicy
  out_dir: str  # audit report; the decision directory of the rollout
  replay_source: str
  replay_kind: str = REPLAY_CSV
  evaluation: Mapping[str, Mapping[str, audit_lib.Figures]] = dataclasses.field(
      default_factory=dict)
  evaluation_source: str = ''


def audit_of(plan: SignoffPlan, rollout, index: int, weight: float, stable: Optional[int],
             ledgers) -> audit_lib.Audit:
  """The audit at this step: the evaluation's slices and the live answers so
  far; without a stable version (a shadow), the candidate's figures alone."""
  spec = rollout.spec
  answers = {'candidate': {k: r.class_id for k, r in ledgers[rollout.candidate].answers.items()}}
  if stable is not None:
    answers['stable'] = {k: r.class_id for k, r in ledgers[stable].answers.items()}
  live = audit_lib.live_figures(answers, rollout.labels, {r.key: r.values for r in rollout.rows},
                                spec.slice_columns, spec.rare_class_id)
  return audit_lib.build(
      rollout.model, rollout.candidate, stable, step=index, weight=weight, created=now_iso(),
      tolerance=plan.policy.slice_tolerance, protected=spec.protected_attributes,
      tags=spec.tags, evaluation=plan.evaluation, live=live,
      evaluation_source=plan.evaluation_source)


def audit_shadow(plan: SignoffPlan, rollout, ledger, result) -> None:
  """The audit of a first deployment (shadow mode): written for the record,
  never a pause. Nothing else could serve while it waited (the first loaded
  version is stable), so there is no weight to hold and nothing to compare
  against: no slice can regress, and a sign-off `always` asks for is noted."""
  audit = audit_of(plan, rollout, 1, 0.0, None, {rollout.candidate: ledger})
  paths = audit_report.write(audit, plan.out_dir)
  result.audit = dict(paths, regressed=audit.regressed)
  if plan.policy.signoff != SIGNOFF_NEVER:
    result.notes.append(
        f'audit written ({paths["html"]}); rollout.signoff is {plan.policy.signoff}, but a '
        f'first deployment has no stable version to hold traffic for or compare with: '
        f'no pause')


def checkpoint(plan: SignoffPlan, rollout, lease, index: int, weight: float, stable: int,
               ledgers, result) -> bool:
  """Audits the candidate; pauses it when the policy asks. True if paused."""
  audit = audit_of(plan, rollout, index, weight, stable, ledgers)
  paths = audit_report.write(audit, plan.out_dir)
  result.audit = dict(paths, regressed=audit.regressed)
  policy = plan.policy
  if not policy.requires_signoff(bool(audit.regressed)):
    result.notes.append(f'audit at step {index}: {len(audit.regressed)} slice(s) regressed; '
                        f'rollout.signoff is {policy.signoff}: no sign-off needed')
    return False
  lease.stop()  # from here on one long lease holds the weight, not renewals
  hold = policy.deadline_hours * 3600.0
  deadline = time.time() + hold
  rollout.client.set_canary(rollout.candidate, weight, hold)
  remaining = [float(s) for s in rollout.config.steps][index:]
  pause = Pause(
      model=rollout.model, candidate=rollout.candidate, stable=stable, step=index,
      weight=weight, remaining_steps=remaining, paused_at=now_iso(), deadline=deadline,
      required_by=policy.signoff, regressed=audit.regressed, audit_html=paths['html'],
      audit_json=paths['json'], audit_sha256=paths['sha256'], decision_dir=plan.out_dir,
      config=rollout.config.to_json(),
      description=description.to_exec_property(rollout.spec),
      replay_source=plan.replay_source, replay_kind=plan.replay_kind,
      server_url=rollout.server_url, request_log_dir=rollout.request_log_dir)
  path = pause_path(rollout.serving_root, rollout.model)
  routing_store.write_json(path, pause.to_json())
  why = (f'slice(s) regressed: {", ".join(audit.regressed)}' if audit.regressed
         else 'the description asks for a sign-off of every candidate')
  result.decision = AWAITING_SIGNOFF
  result.stable_after = stable
  result.reason = (f'paused at step {index} ({weight_text(weight)}) for a sign-off ({why}); '
                   f'no decision by {pause.deadline_iso} rolls it back')
  result.signoff = {'deadline': pause.deadline_iso, 'pause_record': path,
                    'required_by': policy.signoff, 'report': paths['html'],
                    'report_sha256': paths['sha256']}
  return True
