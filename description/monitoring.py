"""The description's optional `monitoring:` section: windows and alert thresholds.

  monitoring:
    window: {records: 2000, seconds: 300}   # a window closes at whichever comes first
    alert_for: 2m          # how long a breach must last before an alert fires
    down_for: 1m           # ... and the model server must be unreachable
    rate_window: 5m        # PromQL range of rates (error rate, p99 latency)
    thresholds:
      drift: {annual_income: 0.08}         # per feature; default: the schema's comparator
      missing_share: {default: 0.05, credit_score: 0.2}   # default: from the schema's presence
      out_of_range_share: 0.01             # a number for every feature, or per feature
      prediction_shift: 0.1                # L-infinity, predicted-class shares vs the version's first window
      invalid_output_share: 0.0
      error_rate: 0.05
      latency_p99_seconds: 1.0

Every field is optional. Errors name the file and the field. Without a
schema-given value, per-feature thresholds fall back to `default`.
"""

import dataclasses
import re
from typing import Any, Dict, Mapping, Optional

from description.fields import DatasetSpecError

SECTION = 'monitoring'
PER_FEATURE = ('drift', 'missing_share', 'out_of_range_share')
SCALAR = ('prediction_shift', 'invalid_output_share', 'error_rate', 'latency_p99_seconds')
_DURATION = re.compile(r'^[0-9]+(ms|s|m|h)$')
_FIELDS = ('window', 'alert_for', 'down_for', 'rate_window', 'thresholds')
_WINDOW_FIELDS = ('records', 'seconds')


@dataclasses.dataclass(frozen=True)
class FeatureThresholds:
  """A default plus per-feature values (a feature not named gets the default)."""
  default: Optional[float] = None
  features: Mapping[str, float] = dataclasses.field(default_factory=dict)

  def get(self, feature: str, fallback: Optional[float] = None) -> Optional[float]:
    if feature in self.features:
      return self.features[feature]
    return self.default if self.default is not None else fallback


@dataclasses.dataclass(frozen=True)
class MonitoringPolicy:
  # Skew thresholds of the curated schema assume a few thousand requests (see
  # its header): smaller windows measure mostly sampling noise.
  window_records: int = 2000
  window_seconds: float = 300.0
  alert_for: str = '2m'
  down_for: str = '1m'
  rate_window: str = '5m'
  drift: FeatureThresholds = FeatureThresholds()
  missing_share: FeatureThresholds = FeatureThresholds()
  out_of_range_share: FeatureThresholds = FeatureThresholds(default=0.01)
  prediction_shift: float = 0.1
  invalid_output_share: float = 0.0
  error_rate: float = 0.05
  # The rollout's shadow-mode budget (rollout/guardrails.py max_p99_ms).
  latency_p99_seconds: float = 1.0

  def with_thresholds(self, overrides: Mapping[str, Any], source: str) -> 'MonitoringPolicy':
    """This policy with a `thresholds:` mapping applied on top (same format)."""
    return dataclasses.replace(self, **_thresholds(overrides, source, self))


def _number(value: Any, source: str, field: str, minimum: float = 0.0) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
    raise DatasetSpecError(f'{source}: {field} must be a number, got {value!r}')
  if value < minimum:
    raise DatasetSpecError(f'{source}: {field} must be >= {minimum}, got {value!r}')
  return float(value)


def _duration(value: Any, source: str, field: str) -> str:
  if not isinstance(value, str) or not _DURATION.match(value):
    raise DatasetSpecError(f'{source}: {field} must be a Prometheus duration such as '
                           f'"30s", "2m" or "1h", got {value!r}')
  return value


def _per_feature(value: Any, source: str, field: str,
                 current: FeatureThresholds) -> FeatureThresholds:
  if not isinstance(value, Mapping):
    return FeatureThresholds(_number(value, source, field), dict(current.features))
  features = dict(current.features)
  default = current.default
  for name, number in value.items():
    if name == 'default':
      default = _number(number, source, f'{field}.default')
    else:
      features[str(name)] = _number(number, source, f'{field}.{name}')
  return FeatureThresholds(default, features)


def _thresholds(raw: Any, source: str, current: MonitoringPolicy) -> Dict[str, Any]:
  where = f'{SECTION}.thresholds'
  if not isinstance(raw, Mapping):
    raise DatasetSpecError(f'{source}: {where} must be a mapping, got {raw!r}')
  unknown = sorted(set(raw) - set(PER_FEATURE) - set(SCALAR))
  if unknown:
    raise DatasetSpecError(f'{source}: unknown field(s) {where}.{unknown}; expected some '
                           f'of {sorted(PER_FEATURE + SCALAR)}')
  out: Dict[str, Any] = {}
  for name in PER_FEATURE:
    if name in raw:
      out[name] = _per_feature(raw[name], source, f'{where}.{name}', getattr(current, name))
  for name in SCALAR:
    if name in raw:
      out[name] = _number(raw[name], source, f'{where}.{name}')
  return out


def parse(raw: Any, source: str = '<description>') -> MonitoringPolicy:
  """The policy of a `monitoring:` section (None: every default)."""
  policy = MonitoringPolicy()
  if raw is None:
    return policy
  if not isinstance(raw, Mapping):
    raise DatasetSpecError(f'{source}: {SECTION} must be a mapping, got {raw!r}')
  unknown = sorted(set(raw) - set(_FIELDS))
  if unknown:
    raise DatasetSpecError(f'{source}: unknown field(s) {SECTION}.{unknown}; expected '
                           f'some of {sorted(_FIELDS)}')
  changes: Dict[str, Any] = {}
  window = raw.get('window')
  if window is not None:
    if not isinstance(window, Mapping) or set(window) - set(_WINDOW_FIELDS):
      raise DatasetSpecError(f'{source}: {SECTION}.window must be a mapping with '
                             f'{list(_WINDOW_FIELDS)}, got {window!r}')
    if 'records' in window:
      records = window['records']
      if isinstance(records, bool) or not isinstance(records, int) or records < 1:
        raise DatasetSpecError(f'{source}: {SECTION}.window.records must be a positive '
                               f'integer, got {records!r}')
      changes['window_records'] = records
    if 'seconds' in window:
      changes['window_seconds'] = _number(window['seconds'], source,
                                          f'{SECTION}.window.seconds', minimum=0.001)
  for name in ('alert_for', 'down_for', 'rate_window'):
    if name in raw:
      changes[name] = _duration(raw[name], source, f'{SECTION}.{name}')
  policy = dataclasses.replace(policy, **changes)
  if 'thresholds' in raw:
    policy = policy.with_thresholds(raw['thresholds'], source)
  return policy


def check_features(policy: MonitoringPolicy, inputs, source: str) -> MonitoringPolicy:
  """A per-feature threshold must name a model input (a typo would silently be
  no threshold at all)."""
  inputs = set(inputs)
  for name in PER_FEATURE:
    unknown = sorted(set(getattr(policy, name).features) - inputs)
    if unknown:
      raise DatasetSpecError(
          f'{source}: {SECTION}.thresholds.{name} names {unknown}, which are not model '
          f'inputs; model inputs are {sorted(inputs)}')
  return policy


def of(spec) -> MonitoringPolicy:
  """The policy of a parsed DatasetSpec (its raw `monitoring:` section)."""
  return check_features(parse((spec.raw or {}).get(SECTION), source=spec.source),
                        spec.feature_names, spec.source)
