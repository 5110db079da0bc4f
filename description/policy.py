"""The `validation` section: how the data gate treats drift."""

import dataclasses
from typing import Any, Dict

from description import fields
from description.columns import DRIFT_ACTIONS


@dataclasses.dataclass(frozen=True)
class ValidationPolicy:
  """How the data gate treats drift (description field `validation`)."""
  drift_default: str = 'block'
  # Comparator thresholds for columns the schema gives none (an inferred
  # schema); a curated schema's own comparators take precedence.
  categorical_linf: float = 0.05
  numeric_jsd: float = 0.05
  # Concept drift: the change of P(label | feature bin) between spans
  # (validation/label_drift.py). A bin counts only when its change is also
  # significant (|z| >= min_z) and both spans have min_bin_rows in it.
  label_drift_action: str = 'block'
  label_drift_threshold: float = 0.05
  label_drift_min_z: float = 4.0
  label_drift_bins: int = 5
  label_drift_min_bin_rows: int = 100
  # Rows read per span for it: a sample bounds the cost on big spans.
  label_drift_max_rows: int = 200_000


_VALIDATION_FIELDS = ('drift_default', 'default_thresholds', 'label_drift')
_THRESHOLD_FIELDS = ('categorical_linf', 'numeric_jsd')
_LABEL_DRIFT_FIELDS = {
    'action': 'label_drift_action', 'threshold': 'label_drift_threshold',
    'min_z': 'label_drift_min_z', 'bins': 'label_drift_bins',
    'min_bin_rows': 'label_drift_min_bin_rows', 'max_rows': 'label_drift_max_rows'}
# (low, high, whole number) of each numeric label_drift field.
_LABEL_DRIFT_LIMITS = {
    'threshold': (0.0, 1.0, False), 'min_z': (0.0, 100.0, False),
    'bins': (2, 100, True), 'min_bin_rows': (1, 10**9, True),
    'max_rows': (1, 10**12, True)}


def _thresholds(raw: Dict[str, Any], source: str) -> Dict[str, float]:
  where = 'validation.default_thresholds'
  section = fields.mapping(raw.get('default_thresholds') or None, where, source)
  fields.unknown_fields(section, _THRESHOLD_FIELDS, where + '.', source)
  return {key: fields.number(section[key], f'{where}.{key}', source, 0.0, 1.0)
          for key in _THRESHOLD_FIELDS if key in section}


def _label_drift(raw: Dict[str, Any], source: str) -> Dict[str, Any]:
  where = 'validation.label_drift.'
  section = fields.mapping(raw.get('label_drift') or None, where[:-1], source)
  fields.unknown_fields(section, _LABEL_DRIFT_FIELDS, where, source)
  values: Dict[str, Any] = {}
  if 'action' in section:
    values['label_drift_action'] = fields.one_of(
        section['action'], DRIFT_ACTIONS, where + 'action', source)
  for key, (low, high, integer) in _LABEL_DRIFT_LIMITS.items():
    if key in section:
      values[_LABEL_DRIFT_FIELDS[key]] = fields.number(
          section[key], where + key, source, low, high, integer)
  return values


def parse_validation(raw: Any, source: str) -> ValidationPolicy:
  """The optional `validation` section; every field is checked and named."""
  if raw is None:
    return ValidationPolicy()
  raw = fields.mapping(raw, 'validation', source)
  fields.unknown_fields(raw, _VALIDATION_FIELDS, 'validation.', source)
  values: Dict[str, Any] = {}
  if 'drift_default' in raw:
    values['drift_default'] = fields.one_of(
        raw['drift_default'], DRIFT_ACTIONS, 'validation.drift_default', source)
  values.update(_thresholds(raw, source))
  values.update(_label_drift(raw, source))
  return ValidationPolicy(**values)
