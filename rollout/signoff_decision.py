"""A sign-off decision on a paused rollout (see rollout.signoff): approve,
reject, or the deadline passing.

  approved  the audit report is checked unchanged (the reviewer saw what the
            pause recorded), then the rollout continues: the held step and
            the steps left are replayed and judged by the guardrails as
            before (so a breach after the approval still rolls back), against the
            running server (the pause's server_url) or an in-process one over
            the serving root, and the candidate is promoted if they hold.
  rejected  the canary loses its weight and the candidate is marked rejected
            in the durable routing state: it never serves again.
  expired   no decision before the deadline: treated as a rejection (the
            server already dropped the canary's weight at the deadline; this
            makes it durable and recorded). An approval that arrives late is
            an expiry too.

The decision is written to `<decision dir>/signoff/signoff.json` (with the
continued rollout's report beside it); rollout.signoff_record puts it into
ML Metadata. The pause record is removed once the decision took effect.
"""

import contextlib
import dataclasses
import os
import secrets
import time
from typing import Any, Dict, Iterator, Optional

import description
import durable
from rollout import replay
from rollout import report
from rollout import signoff as signoff_lib
from rollout.client import ServerClient, labels_of
from rollout.config import PROMOTED, ROLLED_BACK, RolloutConfig, now_iso
from rollout.engine import Rollout
from serving import routing_store

APPROVE = 'approve'
REJECT = 'reject'
VERDICTS = {APPROVE: 'approved', REJECT: 'rejected'}
EXPIRED = 'expired'


@dataclasses.dataclass(frozen=True)
class Decision:
  verdict: str  # approved | rejected | expired
  reviewer: str
  reason: str
  decided_at: str
  candidate: int
  stable: int
  step: int
  report: str  # the audit page the reviewer was shown
  report_sha256: str
  outcome: str  # promoted | rolled_back
  outcome_reason: str
  decision_dir: str
  record_path: str
  rollout_after: Optional[Dict[str, Any]] = None  # the continued rollout's result

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, data: Dict[str, Any]) -> 'Decision':
    return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

  def summary_line(self) -> str:
    return (f'candidate {self.candidate}: {self.verdict} by {self.reviewer} '
            f'({self.reason}) -> {self.outcome}: {self.outcome_reason}')


@contextlib.contextmanager
def _client(pause: signoff_lib.Pause, serving_root: str, admin_token: Optional[str],
            allow_non_loopback: bool) -> Iterator[ServerClient]:
  """The paused rollout's server: its URL, or one in-process over the serving root."""
  server = None
  url = pause.server_url
  if url is None:
    from serving.server import ModelServer  # pylint: disable=g-import-not-at-top
    admin_token = secrets.token_urlsafe(32)
    server = ModelServer(serving_root, pause.model, host='127.0.0.1', port=0,
                         load_on_start=False, admin_token=admin_token).serve_in_background()
    url = server.url
  client = ServerClient(url, pause.model, admin_token=admin_token,
                        allow_non_loopback=allow_non_loopback)
  try:
    yield client
  finally:
    client.close()
    if server is not None:
      server.shutdown()


def _roll_back(pause, serving_root, why, admin_token, allow_non_loopback) -> str:
  with _client(pause, serving_root, admin_token, allow_non_loopback) as client:
    labels = labels_of(client.routing())
    if labels.get('canary') == pause.candidate:
      client.abort_canary()
    client.reject(pause.candidate, why)
    return f'canary {pause.candidate} aborted and rejected; stable stays {labels.get("stable")}'


def _continue(pause, serving_root, admin_token, allow_non_loopback, out_dir):
  """The steps left after the pause; promotes directly when none are."""
  spec = description.from_exec_property(pause.description)
  if not pause.remaining_steps:
    with _client(pause, serving_root, admin_token, allow_non_loopback) as client:
      client.load(pause.candidate)
      client.promote(pause.candidate)
      return PROMOTED, 'approved at the last step: promoted', None
  limit = pause.config.get('max_requests_per_step')  # the rows the paused rollout read
  if pause.replay_kind == signoff_lib.REPLAY_EXAMPLES:
    rows = replay.load_replay_examples(pause.replay_source, spec, limit)
  else:
    rows = replay.load_replay_csv(pause.replay_source, spec, limit)
  # The held step is replayed again first: what both versions answered before
  # the pause died with that process, and the guardrails compare them side by
  # side (at 100% alone stable would answer nothing).
  config = RolloutConfig.from_json(dict(pause.config, mode='canary',
                                        steps=[pause.weight] + pause.remaining_steps))
  result = Rollout(pause.model, pause.candidate, rows, spec, config,
                   server_url=pause.server_url, serving_root=serving_root,
                   request_log_dir=pause.request_log_dir, admin_token=admin_token,
                   allow_non_loopback=allow_non_loopback,
                   replay_source=pause.replay_source).run()
  report.write_report(result, out_dir)
  return result.decision, result.reason, result.to_json()


def decide(serving_root: str, model: str, verdict: str, reviewer: str, reason: str, *,
           candidate: Optional[int] = None, admin_token: Optional[str] = None,
           allow_non_loopback: bool = False, now: Optional[float] = None) -> Decision:
  """Takes `verdict` (approve | reject | expire) on the paused rollout of `model`."""
  pause = pending(serving_root, model, candidate)
  if verdict not in (APPROVE, REJECT, EXPIRED):
    raise signoff_lib.SignoffError(f'verdict must be approve, reject or expire, got {verdict!r}')
  if verdict != EXPIRED and not (reviewer.strip() and reason.strip()):
    raise signoff_lib.SignoffError('a sign-off names its reviewer and gives a reason')
  expired = (now if now is not None else time.time()) > pause.deadline
  if verdict == EXPIRED and not expired:
    raise signoff_lib.SignoffError(f'the sign-off deadline {pause.deadline_iso} has not '
                                   f'passed yet')
  seen = _report_hash(pause)
  out_dir = os.path.join(pause.decision_dir, 'signoff')
  after = None
  if expired:
    late = f' (a late {verdict} by {reviewer}: {reason})' if verdict != EXPIRED else ''
    taken, reviewer = EXPIRED, reviewer if verdict != EXPIRED else ''
    reason = f'no decision before the deadline {pause.deadline_iso}{late}'
    outcome, why = ROLLED_BACK, _roll_back(pause, serving_root, f'sign-off {reason}',
                                           admin_token, allow_non_loopback)
  elif verdict == REJECT:
    taken = VERDICTS[REJECT]
    outcome, why = ROLLED_BACK, _roll_back(pause, serving_root,
                                           f'sign-off rejected by {reviewer}: {reason}',
                                           admin_token, allow_non_loopback)
  else:
    if seen != pause.audit_sha256:
      raise signoff_lib.SignoffError(
          f'{pause.audit_html} changed since the pause (sha256 {seen[:12]}, recorded '
          f'{pause.audit_sha256[:12]}): the reviewer did not see the audit the pause '
          f'recorded; reject, or let the deadline pass')
    taken = VERDICTS[APPROVE]
    outcome, why, after = _continue(pause, serving_root, admin_token, allow_non_loopback,
                                    os.path.join(out_dir, 'rollout_after'))
  record_path = os.path.join(out_dir, 'signoff.json')
  decision = Decision(
      verdict=taken, reviewer=reviewer, reason=reason, decided_at=now_iso(),
      candidate=pause.candidate, stable=pause.stable, step=pause.step,
      report=pause.audit_html, report_sha256=seen or pause.audit_sha256, outcome=outcome,
      outcome_reason=why, decision_dir=pause.decision_dir, record_path=record_path,
      rollout_after=after)
  routing_store.write_json(record_path, dict(decision.to_json(), pause=pause.to_json()))
  signoff_lib.clear_pause(serving_root, model)
  return decision


def read_decision(path: str) -> Decision:
  """A decision file (`<decision dir>/signoff/signoff.json`)."""
  data = durable.read_json(path, 'a sign-off decision', signoff_lib.SignoffError)
  try:
    return Decision.from_json(data)
  except TypeError as e:  # absent, `null`, or missing fields
    raise signoff_lib.SignoffError(f'{path}: not a sign-off decision: {e}') from e


def pending(serving_root: str, model: str, candidate: Optional[int] = None) -> signoff_lib.Pause:
  """The pause awaiting a decision; SignoffError if there is none (or another one)."""
  pause = signoff_lib.read_pause(serving_root, model)
  where = signoff_lib.pause_path(serving_root, model)
  if pause is None:
    raise signoff_lib.SignoffError(f'no rollout of {model} awaits a sign-off ({where} '
                                   f'does not exist)')
  if candidate is not None and int(candidate) != pause.candidate:
    raise signoff_lib.SignoffError(f'the rollout awaiting a sign-off is of candidate '
                                   f'{pause.candidate}, not {candidate} ({where})')
  return pause


def _report_hash(pause: signoff_lib.Pause) -> str:
  try:
    return durable.sha256_of(pause.audit_html)
  except OSError:
    return ''


def clear_the_way(serving_root: str, model: str, candidate: int, *,
                  admin_token: Optional[str] = None, allow_non_loopback: bool = False,
                  now: Optional[float] = None) -> Optional[Decision]:
  """Before a new rollout of `model`: a pause whose deadline passed is settled
  as expired (rolled back; returned, for the new rollout's notes); one still
  awaiting its decision stops the new rollout, which would take its canary."""
  pause = signoff_lib.read_pause(serving_root, model)
  if pause is None:
    return None
  if (now if now is not None else time.time()) > pause.deadline:
    return decide(serving_root, model, EXPIRED, '', '', admin_token=admin_token,
                  allow_non_loopback=allow_non_loopback, now=now)
  raise signoff_lib.SignoffError(
      f'candidate {pause.candidate} of {model} awaits a sign-off until {pause.deadline_iso} '
      f'({signoff_lib.pause_path(serving_root, model)}); decide it first: python -m '
      f'cli.signoff approve|reject --reviewer NAME --reason TEXT (rolling out {candidate} '
      f'now would take its canary)')
