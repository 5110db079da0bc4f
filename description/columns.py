"""The `columns` section: each CSV column's type, treatment and drift action."""

import dataclasses
from typing import Any, Dict, Optional

from description import fields

COLUMN_TYPES = ('int', 'float', 'string')
TREATMENTS = ('scale', 'vocabulary', 'bucketize', 'exclude')
# What drift of a column beyond its threshold does: block stops the run before
# Transform, warn only reports it.
DRIFT_ACTIONS = ('block', 'warn')

# Suffix of every transformed feature, as in the TFX templates.
TRANSFORMED_SUFFIX = '_xf'
MISSING_SUFFIX = '_missing'


def transformed_name(key: str) -> str:
  return key + TRANSFORMED_SUFFIX


def missing_indicator_name(key: str) -> str:
  return transformed_name(key + MISSING_SUFFIX)


@dataclasses.dataclass(frozen=True)
class Column:
  name: str
  type: str
  treatment: str
  buckets: int = 0
  # block | warn; None means the description's validation.drift_default.
  drift: Optional[str] = None


def parse_column(name: str, raw: Any, source: str) -> Column:
  where = f'columns.{name}.'
  col_type = fields.require(raw, 'type', source, where)
  treatment = fields.require(raw, 'treatment', source, where)
  fields.one_of(col_type, COLUMN_TYPES, where + 'type', source)
  fields.one_of(treatment, TREATMENTS, where + 'treatment', source)
  if treatment in ('scale', 'bucketize') and col_type == 'string':
    raise fields.DatasetSpecError(
        f'{source}: {where}treatment {treatment} needs a numeric column, '
        f'but the type is string')
  buckets = int(raw.get('buckets', 0))
  if treatment == 'bucketize' and buckets < 2:
    raise fields.DatasetSpecError(f'{source}: {where}buckets must be >= 2 to bucketize')
  drift = raw.get('drift')
  if drift is not None:
    fields.one_of(drift, DRIFT_ACTIONS, where + 'drift', source)
  return Column(name, col_type, treatment, buckets, drift)


def parse_columns(raw: Dict[str, Any], source: str) -> Dict[str, Column]:
  """name -> Column, in the description's order."""
  raw_columns = fields.require(raw, 'columns', source)
  if not isinstance(raw_columns, dict):
    raise fields.DatasetSpecError(f'{source}: `columns` must map column name -> spec')
  return {name: parse_column(name, col, source) for name, col in raw_columns.items()}
