"""The rollout engine: canary steps or a shadow replay, judged by guardrails.

Given a model server (reached by URL, or started in-process on 127.0.0.1 on an
ephemeral port from the serving directory) and held-out traffic to replay:

canary mode (a stable version exists)
  The candidate is loaded and labelled `canary`; at each step (default 5% ->
  25% -> 50% -> 100% of request keys, sticky) the held-out rows are replayed
  through the routed endpoint, one row per request keyed by its id, and the
  guardrails (`rollout.guardrails`) compare everything the canary answered so
  far with everything stable answered: error rate, p99 latency, prediction
  distributions and, where the rows carry (delayed) labels, accuracy and
  rare-class recall. A breach aborts the canary at once (weight 0, stable
  untouched) and marks the candidate rejected in the server's durable routing
  state, so it never serves again, not even after a restart; after the last
  step, with every required check passed, the candidate is promoted (atomic
  blue-green: `stable` -> candidate, `previous` -> the old stable).

  The canary weight is leased: the server drops it to 0 unless this
  controller renews it (every third of `lease_seconds`), so a controller that
  dies mid-step cannot leave the canary its traffic. At the description's
  `rollout.pause_at_step` the candidate is audited per slice and, if a
  sign-off is required, paused there (`rollout.signoff`).

shadow mode (the first deployment: nothing is stable yet)
  The replayed rows go to the candidate's own version endpoint, so its answers
  reach no client, and absolute limits replace the comparison with stable. It
  stays `stable` only if they hold; otherwise it is rejected.

Every request loop is bounded in count (the replay rows, at most
`max_requests_per_step`) and in time (`max_seconds_per_step`).
"""

import concurrent.futures
import logging
import os
import secrets
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from rollout import guardrails
from rollout import signoff as signoff_lib
from rollout import state as state_lib
from rollout.client import AdminError, CanaryLease, ServerClient, labels_of
from rollout.config import (ALREADY_STABLE, CANARY_MODE, PROMOTED, ROLLED_BACK,
                            SHADOW_MODE, RolloutConfig, RolloutError, RolloutResult,
                            now_iso, weight_text)
from rollout.ledger import Record, VersionLedger, send_row, step_stats
from rollout.replay import ReplayRow

_LOG = logging.getLogger(__name__)


class Rollout:
  """One rollout of `candidate`. Use `run()`; see the module docstring."""

  def __init__(self, model: str, candidate: int, rows: Sequence[ReplayRow], spec,
               config: Optional[RolloutConfig] = None, *,
               server_url: Optional[str] = None, serving_root: Optional[str] = None,
               request_log_dir: Optional[str] = None, admin_token: Optional[str] = None,
               allow_non_loopback: bool = False, replay_source: Optional[str] = None,
               labels: Optional[Mapping[str, int]] = None,
               signoff: Optional[signoff_lib.SignoffPlan] = None):
    """Args:
      model: the served model name (`<serving_root>/<model>/<version>/`).
      candidate: the version to roll out.
      rows: held-out traffic to replay (see load_replay_csv/_examples).
      spec: the DatasetSpec (id column, classes, rare class).
      server_url: reach this server; None starts one in-process on 127.0.0.1.
      serving_root: the directory holding `<model>/`; needed for the
        in-process server and for the state file.
      request_log_dir: the in-process server's request log (None: no log).
      labels: delayed labels, request key -> class id; they replace the rows'
        own labels (see load_labels_csv).
      signoff: audit the canary at its pause step, and pause it there for a
        sign-off when the policy asks (rollout.signoff).
    """
    self.model = model
    self.candidate = int(candidate)
    self.rows = list(rows)
    self.spec = spec
    self.config = config or RolloutConfig()
    self.config.validate()
    self.server_url = server_url
    self.serving_root = serving_root
    self.request_log_dir = request_log_dir
    self.admin_token = admin_token
    self.allow_non_loopback = allow_non_loopback
    self.replay_source = replay_source
    if not self.rows:
      raise RolloutError('no rows to replay')
    if server_url is None and serving_root is None:
      raise RolloutError('give a server_url or a serving_root (for an in-process server)')
    self.labels = ({k: int(v) for k, v in labels.items() if int(v) >= 0}
                   if labels is not None else
                   {r.key: r.label for r in self.rows if r.label >= 0})
    self.signoff = signoff
    if signoff and serving_root is None:
      raise RolloutError('a sign-off needs the serving root: its pause record lives there')
    if signoff and signoff.policy.pause_at_step > len(self.config.steps):
      raise RolloutError(f'rollout.pause_at_step {signoff.policy.pause_at_step} is past the '
                         f'last of the {len(self.config.steps)} steps {list(self.config.steps)}')
    self._server = None
    self.client: Optional[ServerClient] = None
    self._inputs: Dict[str, str] = {}

  # -------------------------------------------------------------- entry
  def run(self) -> RolloutResult:
    started = time.monotonic()
    result = RolloutResult(
        decision=ROLLED_BACK, reason='', model=self.model, candidate=self.candidate,
        in_process_server=self.server_url is None, replay_source=self.replay_source,
        replay_rows=len(self.rows),
        labelled_rows=sum(1 for r in self.rows if r.key in self.labels),
        config=self.config.to_json(), started=now_iso())
    try:
      self._connect()
      result.server_url = self.client.url
      self._run(result)
    finally:
      result.finished = now_iso()
      result.seconds = round(time.monotonic() - started, 3)
      if self.client is not None:
        self.client.close()
      if self._server is not None:
        self._server.shutdown()
    _LOG.info('rollout: %s', result.summary_line())
    return result

  def _connect(self) -> None:
    if self.server_url is None:
      from serving.server import ModelServer  # pylint: disable=g-import-not-at-top
      base = os.path.join(self.serving_root, self.model)
      if not os.path.isdir(os.path.join(base, str(self.candidate))):
        raise RolloutError(f'candidate version directory {base}/{self.candidate} does not exist')
      # Nothing loads at start: only stable and the candidate are needed, and
      # loading every pushed version would cost a TF load each. A token of its
      # own: this server lives as long as the rollout, no token file needed.
      self._server = ModelServer(
          self.serving_root, self.model, host='127.0.0.1', port=0, load_on_start=False,
          request_log_dir=self.request_log_dir, sticky_field=self.spec.id_column,
          admin_token=self.admin_token or secrets.token_urlsafe(32)).serve_in_background()
      url = self._server.url
      self.admin_token = self._server.admin_token
    else:
      url = self.server_url
    self.client = ServerClient(url, self.model, timeout=self.config.request_timeout,
                               admin_timeout=self.config.admin_timeout,
                               admin_token=self.admin_token,
                               allow_non_loopback=self.allow_non_loopback)

  def _run(self, result: RolloutResult) -> None:
    stable, how = self._find_stable()
    result.notes.append(how)
    result.stable_before = stable
    result.stable_after = stable
    if stable == self.candidate:
      result.decision, result.reason = ALREADY_STABLE, f'version {stable} is already stable'
      return
    mode = self.config.mode
    if mode == 'auto':
      mode = CANARY_MODE if stable is not None else SHADOW_MODE
    if mode == CANARY_MODE and stable is None:
      raise RolloutError('canary mode needs a stable version; none is serving')
    result.mode = mode
    labels_before = labels_of(self.client.routing())
    try:
      self.client.load(self.candidate)
    except AdminError as e:
      if e.status != 422:
        raise
      result.reason = f'the candidate failed to load and never served: {e.message}'
      self._undo_auto_stable(labels_before, result)
      return
    self._inputs = self.client.signature_inputs(self.candidate)
    if mode == CANARY_MODE:
      self._canary(stable, result)
    else:
      self._shadow(labels_before, result)

  def _find_stable(self) -> Tuple[Optional[int], str]:
    if self.server_url is None:
      return state_lib.stable_for_in_process_server(self.client, self.serving_root,
                                                    self.model, self.candidate)
    labels = labels_of(self.client.routing())
    stable = labels.get('stable')
    if stable is None:
      return None, f'server {self.server_url} has no stable label: first deployment'
    return stable, f'stable {stable} from the server\'s routing'

  # -------------------------------------------------------------- replay
  def _replay(self, step_index: int, version: Optional[int] = None) -> List[Record]:
    """Sends every row once (shuffled per step), bounded in count and time."""
    order = np.random.default_rng(self.config.seed + step_index).permutation(len(self.rows))
    order = order[:self.config.max_requests_per_step]
    deadline = time.monotonic() + self.config.max_seconds_per_step
    if version is None:
      path = f'/v1/models/{urllib.parse.quote(self.model)}:predict'
    else:
      path = f'/v1/models/{urllib.parse.quote(self.model)}/versions/{int(version)}:predict'
    cursor = iter(order.tolist())
    lock = threading.Lock()
    records: List[Record] = []

    def worker() -> List[Record]:
      mine = []
      try:
        while time.monotonic() < deadline:
          with lock:
            i = next(cursor, None)
          if i is None:
            break
          mine.append(send_row(self.client, path, self.rows[i], self._inputs))
      finally:
        self.client.close()  # this thread's connection
      return mine

    with concurrent.futures.ThreadPoolExecutor(self.config.concurrency,
                                               thread_name_prefix='replay') as pool:
      for fut in [pool.submit(worker) for _ in range(self.config.concurrency)]:
        records.extend(fut.result())
    return records

  # -------------------------------------------------------------- canary
  def _canary(self, stable: int, result: RolloutResult) -> None:
    steps = [float(s) for s in self.config.steps]
    ledgers = {stable: VersionLedger(), self.candidate: VersionLedger()}
    lease = CanaryLease(self.client, self.candidate, self.config.lease_seconds).start()
    try:
      for index, weight in enumerate(steps, start=1):
        routing = lease.hold(weight)
        reason = self._canary_step(index, weight, stable, ledgers, routing, result)
        if reason is None and lease.failures:
          reason = f'the canary lease could not be renewed: {lease.failures[-1]}'
        if reason is not None:
          lease.stop()
          return self._rollback(result, reason)
        if (self.signoff and index == self.signoff.policy.pause_at_step and
            signoff_lib.checkpoint(self.signoff, self, lease, index, weight, stable,
                                   ledgers, result)):
          return None
      lease.stop()
      self.client.promote(self.candidate)
      labels = labels_of(self.client.routing())
      if labels.get('stable') != self.candidate:
        raise RolloutError(f'promote did not take: labels {labels}')
      result.decision, result.stable_after = PROMOTED, self.candidate
      result.reason = (f'all guardrails held at every step '
                       f'({", ".join(weight_text(s) for s in steps)})')
    except RolloutError as e:
      # Whatever went wrong mid-way, the canary must not keep its traffic.
      self._rollback(result, f'rollout error: {e}')
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('rollout failed')
      self._rollback(result, f'rollout error: {type(e).__name__}: {e}')
    finally:
      lease.stop()

  def _canary_step(self, index: int, weight: float, stable: int,
                   ledgers: Dict[int, VersionLedger], routing: Mapping[str, Any],
                   result: RolloutResult) -> Optional[str]:
    """Replays one step and judges it; returns why to roll back, or None."""
    th = self.config.thresholds
    alpha = th.alpha / len(self.config.steps)  # Bonferroni over the looks
    t0 = time.monotonic()
    records = self._replay(index)
    seconds = time.monotonic() - t0
    self._check_routing(stable, weight)
    # Latency is compared only on steps where both versions answered, so
    # both were measured side by side under the same load.
    both = {r.version for r in records if r.ok} >= {stable, self.candidate}
    unattributed = [r for r in records if r.version not in ledgers]
    for r in records:
      if r.version in ledgers:
        ledgers[r.version].add(r, count_latency=both)
    canary_s = ledgers[self.candidate].sample(self.labels)
    stable_s = ledgers[stable].sample(self.labels)
    checks = guardrails.evaluate(canary_s, stable_s, self.spec.num_classes,
                                 self.spec.rare_class_id, th, alpha)
    result.steps.append({
        'step': index, 'weight': weight, 'seconds': round(seconds, 3),
        'requests': len(records), 'routing_generation': routing['routing']['generation'],
        'latency_compared': both,
        'stable': step_stats(records, stable),
        'canary': step_stats(records, self.candidate),
        'unattributed_errors': len(unattributed),
        'cumulative': {'canary_keys': canary_s.requests, 'stable_keys': stable_s.requests},
        'checks': [c.to_json() for c in checks],
    })
    result.step, result.step_weight = index, weight
    if len(unattributed) > self.config.max_unattributed_errors * max(len(records), 1):
      sample = unattributed[0]
      return (f'{len(unattributed)} of {len(records)} requests failed without '
              f'naming a version (e.g. HTTP {sample.status}: {sample.error})')
    bad = guardrails.breaches(checks)
    if bad:
      return '; '.join(f'{c.name}: {c.reason}' for c in bad)
    if index == len(self.config.steps):
      unmet = guardrails.unmet_required(checks, th)
      if unmet:
        return 'not enough evidence to promote: ' + '; '.join(
            f'{c.name}: {c.reason}' for c in unmet)
    return None

  def _check_routing(self, stable: int, weight: float) -> None:
    routing = self.client.routing()['routing']
    labels = {k: int(v) for k, v in routing['labels'].items()}
    if (labels.get('stable') != stable or labels.get('canary') != self.candidate or
        float(routing['canary_weight']) != weight):
      raise RolloutError(f'the routing changed during the step (someone else is changing '
                         f'it): labels {labels}, weight {routing["canary_weight"]}')

  def _rollback(self, result: RolloutResult, reason: str) -> None:
    result.decision, result.reason = ROLLED_BACK, reason
    try:
      self.client.abort_canary()
      self._reject(result)
      labels = labels_of(self.client.routing())
      result.stable_after = labels.get('stable')
      if 'canary' in labels:
        result.notes.append(f'abort_canary left labels {labels}')
    except Exception as e:  # pylint: disable=broad-except
      result.notes.append(f'abort_canary failed: {e}')
      _LOG.error('could not abort the canary of %s: %s', self.model, e)

  # -------------------------------------------------------------- shadow
  def _shadow(self, labels_before: Mapping[str, int], result: RolloutResult) -> None:
    th = self.config.thresholds
    ledger = VersionLedger()
    try:
      t0 = time.monotonic()
      records = self._replay(1, version=self.candidate)
      seconds = time.monotonic() - t0
      for r in records:
        # A direct request names its version even when it fails.
        r.version = self.candidate
        ledger.add(r, count_latency=True)
      sample = ledger.sample(self.labels)
      checks = guardrails.evaluate_absolute(sample, self.spec.num_classes,
                                            self.spec.rare_class_id, th, th.alpha)
      result.steps.append({
          'step': 1, 'weight': 0.0, 'seconds': round(seconds, 3), 'requests': len(records),
          'latency_compared': False, 'canary': step_stats(records, self.candidate),
          'cumulative': {'canary_keys': sample.requests},
          'checks': [c.to_json() for c in checks]})
      result.step, result.step_weight = 1, 0.0
      if self.signoff:  # every candidate is audited, a first deployment too
        signoff_lib.audit_shadow(self.signoff, self, ledger, result)
      bad = guardrails.breaches(checks)
      unmet = guardrails.unmet_required(checks, th)
      if bad or unmet:
        result.reason = ('; '.join(f'{c.name}: {c.reason}' for c in bad) if bad else
                         'not enough evidence to promote: ' +
                         '; '.join(f'{c.name}: {c.reason}' for c in unmet))
        self._undo_auto_stable(labels_before, result)
        return
      self.client.set_labels({'stable': self.candidate})
      result.decision, result.stable_after = PROMOTED, self.candidate
      result.reason = 'first deployment: the shadow replay met every absolute limit'
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('shadow rollout failed')
      result.reason = f'rollout error: {type(e).__name__}: {e}'
      self._undo_auto_stable(labels_before, result)

  def _undo_auto_stable(self, labels_before: Mapping[str, int], result: RolloutResult) -> None:
    """A first deployment's candidate is `stable` from its load on (nothing
    else is); a rejected one must lose that label and never serve."""
    del labels_before  # the server's rejection removes whatever points at it
    result.decision = ROLLED_BACK
    self._reject(result)
    try:
      result.stable_after = labels_of(self.client.routing()).get('stable')
    except Exception as e:  # pylint: disable=broad-except
      result.notes.append(f'could not read the routing after the rejection: {e}')

  def _reject(self, result: RolloutResult) -> None:
    """Records the rejection in the server's durable routing state."""
    try:
      self.client.reject(self.candidate, result.reason or 'rolled back')
      result.notes.append(f'version {self.candidate} is rejected: it serves no traffic, '
                          f'also after a restart, until it is rolled out again on purpose')
    except Exception as e:  # pylint: disable=broad-except
      result.notes.append(f'could not mark version {self.candidate} rejected: {e}')
      _LOG.error('could not reject version %s of %s: %s', self.candidate, self.model, e)


def run_rollout(model: str, candidate: int, rows: Sequence[ReplayRow], spec,
                config: Optional[RolloutConfig] = None, **kwargs) -> RolloutResult:
  """Shorthand for Rollout(...).run()."""
  return Rollout(model, candidate, rows, spec, config, **kwargs).run()
