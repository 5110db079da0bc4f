"""Progressive delivery: version labels, sticky canary split, shadow, blue-green.

All routing decisions read ONE immutable `RoutingState` (a single attribute
read), and every change builds a new state and swaps it in under a lock. So a
request sees either the whole old configuration or the whole new one, never a
mix (e.g. a new `stable` with an old canary weight): that is what makes the
blue-green `promote()` atomic and `rollback()` instant.

Canary assignment is sticky and deterministic: the request key is hashed
(SHA-256 of "<salt>:<key>") into one of 10,000 buckets and the request goes to
the canary iff bucket < weight% * 100. The same key always gets the same
bucket, across requests, threads, processes and restarts; raising the weight
only moves keys from stable to canary (never back), and lowering it to 0 sends
everyone to stable. Requests without a key are assigned at random.

Shadow: when a shadow version is set, every routed request is also sent (by the
server, asynchronously) to it; its answer is only logged and measured.

Rejected versions (a rollout rolled them back) are never routed to, and no
label, canary or shadow may point at them, until an operator names them again
on purpose (a label, canary, shadow, promote or load call). A canary weight
may carry a lease: past its expiry the weight counts as 0 (and the server's
reaper makes that the state), so a controller that died cannot leave it on.

`persist` (the server's durable state file) is called with every new state
before it is installed: a change that cannot be saved does not happen.

The automation level (who decides a case: serving.automation) is part of the
same state, so it is saved, restored and swapped with the rest.

Longer than 400 lines because every kind of routing change (labels, canary
and lease, shadow, promote, rollback, reject, restore, automation level) goes through the one
lock and the one persist-then-swap below; apart, they could not share them.
"""

import dataclasses
import hashlib
import random
import threading
import time
import types
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

STABLE = 'stable'
CANARY = 'canary'
PREVIOUS = 'previous'
SHADOW = 'shadow'
LATEST = 'latest'  # role when no `stable` label exists and the newest version serves
BUCKETS = 10000
MAX_HISTORY = 50
# A rollout paused for a sign-off holds its canary weight by one lease that
# ends at the sign-off deadline (description rollout.deadline_hours <= 168).
MAX_LEASE_SECONDS = 7 * 86400


class RoutingError(ValueError):
  """A routing change is invalid (e.g. a label for a version not available)."""


class NoVersionError(LookupError):
  """The model has nothing to route to."""


class PersistError(RuntimeError):
  """The new routing state could not be saved, so it was not installed."""


def parse_version(version: Any, what: str) -> int:
  """A version from JSON or a URL: an int, or a string of ASCII digits."""
  if isinstance(version, bool):
    raise RoutingError(f'{what}: version must be an integer, got {version!r}')
  if isinstance(version, int):
    value = version
  elif isinstance(version, str) and version.isascii() and version.isdigit() and len(version) < 19:
    value = int(version)
  else:
    raise RoutingError(f'{what}: version must be a positive integer (ASCII digits), got '
                       f'{str(version)[:40]!r}')
  if not 0 < value < 2**63:
    raise RoutingError(f'{what}: version must be a positive 64-bit integer, got {value}')
  return value


@dataclasses.dataclass(frozen=True)
class RoutingState:
  labels: Mapping[str, int]
  canary_weight: float = 0.0  # percent of keys sent to `canary`, 0..100
  shadow_version: Optional[int] = None
  generation: int = 0
  updated_at: float = 0.0
  reason: str = 'initial'
  promoted: Optional[int] = None  # set by promote(): the version it made stable
  rejected: Mapping[int, str] = types.MappingProxyType({})  # version -> reason
  canary_lease_until: Optional[float] = None  # wall clock; None = no lease
  automation_level: str = 'full'  # serving.automation.LEVELS: who decides a case

  def effective_weight(self, now: Optional[float] = None) -> float:
    """The canary weight, 0 once its lease has expired."""
    if self.canary_lease_until is not None and (now or time.time()) > self.canary_lease_until:
      return 0.0
    return self.canary_weight

  def to_json(self) -> Dict[str, Any]:
    return {
        'labels': {k: str(v) for k, v in sorted(self.labels.items())},
        'canary_weight': self.effective_weight(),
        'canary_lease_until': self.canary_lease_until,
        'rejected': {str(k): v for k, v in sorted(self.rejected.items())},
        'shadow_version': None if self.shadow_version is None else str(self.shadow_version),
        'automation_level': self.automation_level,
        'generation': self.generation,
        'updated_at': self.updated_at,
        'reason': self.reason,
    }


@dataclasses.dataclass(frozen=True)
class RouteDecision:
  version: int
  role: str  # stable | canary | latest
  shadow_version: Optional[int]
  generation: int
  bucket: Optional[int]


def bucket_of(key: str, salt: str = '') -> int:
  """The deterministic bucket in [0, BUCKETS) of a request key."""
  digest = hashlib.sha256(f'{salt}:{key}'.encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') % BUCKETS


def _validate_weight(weight: Any) -> float:
  if isinstance(weight, bool) or not isinstance(weight, (int, float)):
    raise RoutingError(f'canary weight must be a number in [0, 100], got {weight!r}')
  weight = float(weight)
  if not 0.0 <= weight <= 100.0:
    raise RoutingError(f'canary weight must be in [0, 100] (percent), got {weight}')
  return weight


class Router:
  """Routing state of one model. Thread-safe; reads are lock-free."""

  def __init__(self,
               model_name: str,
               is_available: Callable[[int], bool],
               latest_version: Callable[[], Optional[int]],
               salt: Optional[str] = None,
               on_change: Optional[Callable[[RoutingState], None]] = None,
               persist: Optional[Callable[[RoutingState], None]] = None):
    """Args:
      model_name: for messages.
      is_available: whether a version is loaded and smoke-tested; labels,
        canary and shadow may only point at such versions.
      latest_version: the newest available version, served when there is no
        `stable` label (TF Serving's default "latest" policy).
      salt: hash salt of the sticky assignment (default: the model name).
      on_change: called with the new state after each change (metrics).
      persist: called with each new state before it is installed (durable
        state); if it raises, the change is refused with PersistError.
    """
    self.model_name = model_name
    self._is_available = is_available
    self._latest_version = latest_version
    self.salt = model_name if salt is None else salt
    self._on_change = on_change
    self._persist = persist
    self._lock = threading.Lock()
    self._state = RoutingState(types.MappingProxyType({}), updated_at=time.time())
    self._history: List[RoutingState] = []

  # ------------------------------------------------------------- reading
  @property
  def state(self) -> RoutingState:
    return self._state

  def label_version(self, label: str) -> Optional[int]:
    return self._state.labels.get(label)

  def route(self, key: Optional[str] = None, rng: Optional[random.Random] = None) -> RouteDecision:
    """Picks the version for one request (raises NoVersionError if none)."""
    state = self._state  # one read: every decision below uses this snapshot
    stable = state.labels.get(STABLE)
    role = STABLE
    if stable is None:
      stable = self._latest_version()
      role = LATEST
      if stable is None:
        raise NoVersionError(f'model "{self.model_name}" has no available version')
    version, bucket = stable, None
    canary = state.labels.get(CANARY)
    weight = state.effective_weight()
    if canary is not None and canary != stable and weight > 0:
      if key is None:
        bucket = (rng or random).randrange(BUCKETS)
      else:
        bucket = bucket_of(key, self.salt)
      if bucket < weight * (BUCKETS / 100.0):
        version, role = canary, CANARY
    shadow = state.shadow_version
    if shadow == version:
      shadow = None
    return RouteDecision(version, role, shadow, state.generation, bucket)

  def would_route_to_canary(self, key: str) -> bool:
    return bucket_of(key, self.salt) < self._state.effective_weight() * (BUCKETS / 100.0)

  # ------------------------------------------------------------- changes
  def _check_version(self, version: Any, what: str) -> int:
    version = parse_version(version, what)
    if not self._is_available(version):
      raise RoutingError(f'{what}: version {version} of model "{self.model_name}" is '
                         f'not available (not loaded, failed to load, or unloaded)')
    return version

  def _swap(self, reason: str, labels: Optional[Dict[str, int]] = None,
            canary_weight: Optional[float] = None, shadow_version: Any = ...,
            record_history: bool = True, promoted: Optional[int] = None,
            named: Sequence[int] = (), rejected: Optional[Mapping[int, str]] = None,
            lease_until: Any = ..., automation_level: Optional[str] = None) -> RoutingState:
    """Builds, persists and installs a new state; caller holds self._lock.

    Versions in `named` were chosen on purpose by this change: a rejection of
    them is lifted.
    """
    old = self._state
    still_rejected = dict(old.rejected if rejected is None else rejected)
    for v in named:
      still_rejected.pop(v, None)
    weight = old.canary_weight if canary_weight is None else canary_weight
    if lease_until is ...:
      lease_until = old.canary_lease_until if canary_weight is None else None
    new = RoutingState(
        labels=types.MappingProxyType(dict(old.labels if labels is None else labels)),
        canary_weight=weight,
        shadow_version=old.shadow_version if shadow_version is ... else shadow_version,
        generation=old.generation + 1,
        updated_at=time.time(),
        reason=reason,
        promoted=promoted,
        rejected=types.MappingProxyType(still_rejected),
        canary_lease_until=lease_until if weight > 0 else None,
        automation_level=automation_level or old.automation_level)
    if self._persist is not None:
      try:
        self._persist(new)
      except OSError as e:
        raise PersistError(f'the routing change "{reason}" was not made: its state could '
                           f'not be saved ({e.strerror or type(e).__name__})') from e
    if record_history:
      self._history.append(old)
      del self._history[:-MAX_HISTORY]
    self._state = new  # the single atomic switch
    return new

  def _changed(self, state: RoutingState) -> RoutingState:
    if self._on_change is not None:
      self._on_change(state)
    return state

  def set_labels(self, labels: Mapping[str, Optional[int]], reason: str = 'set_labels') -> RoutingState:
    """Sets (version) or removes (None) labels, all in one atomic change."""
    if not isinstance(labels, Mapping) or not labels:
      raise RoutingError('labels must be a non-empty mapping of label -> version (or null)')
    with self._lock:
      new_labels = dict(self._state.labels)
      for label, version in labels.items():
        if not isinstance(label, str) or not label or not label.replace('_', '').replace('-', '').isalnum():
          raise RoutingError(f'invalid label name {label!r} (letters, digits, _ and -)')
        if version is None:
          new_labels.pop(label, None)
        else:
          new_labels[label] = self._check_version(version, f'label "{label}"')
      named = [v for v in new_labels.values()]
      if CANARY in new_labels:
        return self._changed(self._swap(reason, labels=new_labels, named=named))
      return self._changed(self._swap(reason, labels=new_labels, canary_weight=0.0,
                                      named=named))

  def set_label(self, label: str, version: Optional[int]) -> RoutingState:
    return self.set_labels({label: version}, reason=f'set_label {label}')

  def set_canary(self, version: Optional[int] = None, weight: Optional[float] = None,
                 lease_seconds: Optional[float] = None) -> RoutingState:
    """Labels `version` canary (if given) and/or sets its traffic weight
    (percent); with `lease_seconds` the weight expires unless set again."""
    if lease_seconds is not None and (
        isinstance(lease_seconds, bool) or not isinstance(lease_seconds, (int, float)) or
        not 0 < lease_seconds <= MAX_LEASE_SECONDS):
      raise RoutingError(f'lease_seconds must be a number in (0, {MAX_LEASE_SECONDS}], got '
                         f'{str(lease_seconds)[:40]}')
    with self._lock:
      labels = dict(self._state.labels)
      named = []
      if version is not None:
        labels[CANARY] = self._check_version(version, 'canary')
        named.append(labels[CANARY])
      w = self._state.effective_weight() if weight is None else _validate_weight(weight)
      if w > 0 and CANARY not in labels:
        raise RoutingError('set a canary version before giving it traffic')
      lease_until = None if lease_seconds is None else time.time() + float(lease_seconds)
      return self._changed(self._swap(f'canary {labels.get(CANARY)} at {w}%',
                                      labels=labels, canary_weight=w, named=named,
                                      lease_until=lease_until))

  def set_canary_weight(self, weight: float) -> RoutingState:
    return self.set_canary(weight=weight)

  def set_shadow(self, version: Optional[int]) -> RoutingState:
    """Mirrors all routed traffic to `version` (None stops shadowing)."""
    with self._lock:
      v = None if version is None else self._check_version(version, 'shadow')
      return self._changed(self._swap(f'shadow {v}', shadow_version=v,
                                      named=[] if v is None else [v]))

  def set_automation_level(self, level: str) -> RoutingState:
    """Who decides a case (serving.automation); the caller checked the bands.
    Not a step `rollback()` undoes: it rolls back versions, not the level."""
    with self._lock:
      return self._changed(self._swap(f'automation level {level}', automation_level=level,
                                      record_history=False))

  def promote(self, version: Optional[int] = None) -> RoutingState:
    """Blue-green switch: `version` (default: the canary) becomes stable at once.

    The old stable is kept as label `previous`; the canary label, its weight
    and a shadow of the promoted version are cleared -- all in one swap.
    """
    with self._lock:
      labels = dict(self._state.labels)
      if version is None:
        if CANARY not in labels:
          raise RoutingError('promote: no version given and no canary to promote')
        version = labels[CANARY]
      v = self._check_version(version, 'promote')
      old_stable = labels.get(STABLE)
      if old_stable is None:
        old_stable = self._latest_version()
      if old_stable is not None and old_stable != v:
        labels[PREVIOUS] = old_stable
      labels[STABLE] = v
      labels.pop(CANARY, None)
      shadow = self._state.shadow_version
      return self._changed(self._swap(f'promote {v}', labels=labels, canary_weight=0.0,
                                      shadow_version=None if shadow == v else shadow,
                                      promoted=v, named=[v]))

  def abort_canary(self) -> RoutingState:
    """Instant canary rollback: weight 0 and no canary label (stable untouched)."""
    with self._lock:
      labels = dict(self._state.labels)
      labels.pop(CANARY, None)
      return self._changed(self._swap('abort_canary', labels=labels, canary_weight=0.0))

  def rollback(self) -> RoutingState:
    """Restores the routing state before the last change, atomically.

    After a canary change, the canary settings before it. After a promote(),
    the old stable -- and the promoted version gets no traffic at all, even if
    it was the canary before (it is rolled back, not sent back to canary).
    Versions that are no longer available are dropped from the restored labels.
    """
    with self._lock:
      if not self._history:
        raise RoutingError('nothing to roll back to')
      undone = self._state
      prev = self._history.pop()
      labels = {k: v for k, v in prev.labels.items()
                if self._is_available(v) and v not in undone.rejected}
      if undone.promoted is not None and labels.get(CANARY) == undone.promoted:
        del labels[CANARY]
      shadow = prev.shadow_version if (prev.shadow_version is not None and
                                       prev.shadow_version not in undone.rejected and
                                       self._is_available(prev.shadow_version)) else None
      weight = prev.canary_weight if CANARY in labels else 0.0
      return self._changed(self._swap(f'rollback to generation {prev.generation}',
                                      labels=labels, canary_weight=weight,
                                      shadow_version=shadow, record_history=False))

  def reject(self, version: Any, reason: str) -> RoutingState:
    """A rollout rolled `version` back: nothing may route to it any more."""
    v = parse_version(version, 'reject')
    with self._lock:
      old = self._state
      labels = {k: x for k, x in old.labels.items() if x != v}
      weight = old.canary_weight if CANARY in labels else 0.0
      rejected = dict(old.rejected)
      rejected[v] = str(reason)[:1000] or 'rejected'
      return self._changed(self._swap(
          f'reject {v}', labels=labels, canary_weight=weight,
          shadow_version=None if old.shadow_version == v else old.shadow_version,
          rejected=rejected))

  def reinstate(self, version: int) -> RoutingState:
    """Lifts a rejection (an operator loads the version again on purpose)."""
    with self._lock:
      return self._changed(self._swap(f'reinstate {int(version)}', named=[int(version)],
                                      record_history=False))

  def is_rejected(self, version: int) -> bool:
    return version in self._state.rejected

  def expire_lease(self) -> bool:
    """Makes an expired canary lease's weight 0 in the state; True if it did."""
    with self._lock:
      state = self._state
      if state.canary_weight > 0 and state.effective_weight() == 0.0:
        self._changed(self._swap('canary lease expired', canary_weight=0.0,
                                 record_history=False))
        return True
    return False

  def restore(self, labels: Mapping[str, int], canary_weight: float,
              shadow_version: Optional[int], rejected: Mapping[int, str],
              lease_until: Optional[float], reason: str,
              automation_level: str = 'full') -> RoutingState:
    """Installs a saved state (versions that are not available are dropped)."""
    with self._lock:
      kept = {k: v for k, v in labels.items()
              if v not in rejected and self._is_available(v)}
      shadow = (shadow_version if shadow_version is not None and
                shadow_version not in rejected and self._is_available(shadow_version)
                else None)
      weight = float(canary_weight) if CANARY in kept else 0.0
      return self._changed(self._swap(reason, labels=kept, canary_weight=weight,
                                      shadow_version=shadow, rejected=dict(rejected),
                                      lease_until=lease_until, record_history=False,
                                      automation_level=automation_level))

  def references(self, version: int) -> List[str]:
    """Labels/roles that point at `version` (a version in use must not unload)."""
    state = self._state
    refs = [k for k, v in state.labels.items() if v == version]
    if state.shadow_version == version:
      refs.append(SHADOW)
    return refs
