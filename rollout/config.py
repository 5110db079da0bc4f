"""What a rollout is asked to do and what it decided: config, result, errors.

Also the one place where the dataset description's blessing gates become the
shadow mode's absolute limits (`thresholds_for`), shared by the command line
and the CanaryRollout component.
"""

import dataclasses
import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence

from rollout.guardrails import Thresholds

PROMOTED = 'promoted'
ROLLED_BACK = 'rolled_back'
NOT_PUSHED = 'not_pushed'
ALREADY_STABLE = 'already_stable'
# Paused at a step, holding its weight, until cli.signoff decides (rollout.signoff).
AWAITING_SIGNOFF = 'awaiting_signoff'
CANARY_MODE = 'canary'
SHADOW_MODE = 'shadow'
DEFAULT_STEPS = (5.0, 25.0, 50.0, 100.0)
# Replay requests kept in flight. With the server's batching
# (serving/batching.py) the ones that queue share model calls: 2,000 taxi rows
# through the in-process server took 6.3 s at 4, 5.1 s at 8 (p50 12 -> 21 ms).
DEFAULT_CONCURRENCY = 8
# A canary weight set by a rollout falls back to 0 this long after the
# controller's last renewal (the engine renews every third of it).
DEFAULT_LEASE_SECONDS = 60.0

# description `evaluation` key -> Thresholds field (shadow mode's absolute limits)
_GATES_FROM_DESCRIPTION = (('min_accuracy', 'min_accuracy'),
                           ('min_rare_class_recall', 'min_rare_recall'))


class RolloutError(RuntimeError):
  """The rollout could not run (bad arguments, server unreachable)."""


def _gate(evaluation: Any, key: str) -> Optional[float]:
  # The evaluation section is a dict today and may become a typed object.
  value = (evaluation.get(key) if isinstance(evaluation, Mapping)
           else getattr(evaluation, key, None))
  return None if value is None else float(value)


def thresholds_for(spec, overrides: Optional[Mapping[str, Any]] = None) -> Thresholds:
  """Guardrail thresholds: `overrides`, then the description's blessing gates
  (min_accuracy, min_rare_class_recall) as shadow mode's absolute limits."""
  th = dict(overrides or {})
  evaluation = getattr(spec, 'evaluation', None) or {}
  for source, field in _GATES_FROM_DESCRIPTION:
    value = _gate(evaluation, source)
    if field not in th and value is not None:
      th[field] = value
  # Shadow mode's latency budget is the one the monitoring alerts on
  # (monitoring.thresholds.latency_p99_seconds, default 1 s = max_p99_ms's default).
  if 'max_p99_ms' not in th and getattr(spec, 'raw', None) is not None:
    from description import monitoring  # pylint: disable=g-import-not-at-top
    th['max_p99_ms'] = monitoring.of(spec).latency_p99_seconds * 1000.0
  return Thresholds.from_json(th)


@dataclasses.dataclass
class RolloutConfig:
  steps: Sequence[float] = DEFAULT_STEPS  # canary weights in percent, ending at 100
  mode: str = 'auto'  # auto | canary | shadow
  thresholds: Thresholds = dataclasses.field(default_factory=Thresholds)
  max_requests_per_step: int = 5000
  max_seconds_per_step: float = 300.0
  concurrency: int = DEFAULT_CONCURRENCY
  request_timeout: float = 30.0  # one prediction; slower counts as a failure
  admin_timeout: float = 600.0  # an admin call, e.g. loading the candidate on the server
  max_unattributed_errors: float = 0.05  # share of a step's requests with no version
  lease_seconds: float = DEFAULT_LEASE_SECONDS
  seed: int = 0

  def validate(self) -> None:
    steps = [float(s) for s in self.steps]
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
      raise RolloutError(f'steps must be increasing percents in (0, 100], got {list(self.steps)}')
    if steps[-1] != 100:
      raise RolloutError(f'the last step must be 100 (the whole traffic), got {steps[-1]}')
    if self.mode not in ('auto', CANARY_MODE, SHADOW_MODE):
      raise RolloutError(f'mode must be auto, canary or shadow, got {self.mode!r}')
    if self.max_requests_per_step < 1 or self.max_seconds_per_step <= 0 or self.concurrency < 1:
      raise RolloutError('max_requests_per_step, max_seconds_per_step and concurrency '
                         'must be positive')
    if self.lease_seconds <= 0:
      raise RolloutError(f'lease_seconds must be positive, got {self.lease_seconds}')

  def to_json(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d['steps'] = [float(s) for s in self.steps]
    d['thresholds'] = self.thresholds.to_json()
    return d

  @classmethod
  def from_json(cls, d: Mapping[str, Any]) -> 'RolloutConfig':
    """The inverse of to_json (a paused rollout continues with its own config)."""
    d = dict(d)
    d['thresholds'] = Thresholds.from_json(d.get('thresholds'))
    return cls(**d)


@dataclasses.dataclass
class RolloutResult:
  decision: str
  reason: str
  model: str
  candidate: Optional[int]
  mode: Optional[str] = None
  step: int = 0  # 1-based index of the step that decided (0: none ran)
  step_weight: Optional[float] = None  # its canary weight (percent)
  stable_before: Optional[int] = None
  stable_after: Optional[int] = None
  steps: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  server_url: Optional[str] = None
  in_process_server: bool = False
  replay_source: Optional[str] = None
  replay_rows: int = 0
  labelled_rows: int = 0
  config: Dict[str, Any] = dataclasses.field(default_factory=dict)
  notes: List[str] = dataclasses.field(default_factory=list)
  # The slice audit's report ({json, html, sha256, regressed}) and, when the
  # rollout paused, the pause ({deadline, state_file, required_by}).
  audit: Dict[str, Any] = dataclasses.field(default_factory=dict)
  signoff: Dict[str, Any] = dataclasses.field(default_factory=dict)
  started: Optional[str] = None
  finished: Optional[str] = None
  seconds: float = 0.0

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def summary_line(self) -> str:
    where = (f' at step {self.step} ({weight_text(self.step_weight)})'
             if self.step else '')
    return (f'{self.model} candidate {self.candidate}: {self.decision}{where}: '
            f'{self.reason}')


def weight_text(weight: Optional[float]) -> str:
  if weight is None:
    return '-'
  if weight == 0:
    return 'shadow'
  return f'{weight:g}%'


def now_iso() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
