"""Reading fields of a description: every error names the file and the field."""

from typing import Any, Collection, Dict, Sequence


class DatasetSpecError(ValueError):
  """A dataset description is malformed; the message names file and field."""


def require(raw: Any, key: str, source: str, where: str = '') -> Any:
  """raw[key], or an error naming the missing field `where + key`."""
  if not isinstance(raw, dict) or key not in raw or raw[key] in (None, ''):
    raise DatasetSpecError(f'{source}: missing required field {where}{key}')
  return raw[key]


def mapping(raw: Any, where: str, source: str) -> Dict[str, Any]:
  """An optional section: {} when absent, else it must be a mapping."""
  if raw is None:
    return {}
  if not isinstance(raw, dict):
    raise DatasetSpecError(f'{source}: `{where}` must be a mapping')
  return raw


def names_exist(names: Sequence[str], columns: Collection[str], field: str,
                source: str) -> None:
  unknown = [n for n in names if n not in columns]
  if unknown:
    raise DatasetSpecError(
        f'{source}: {field} names columns not in `columns`: {unknown}')


def one_of(value: Any, allowed: Sequence[str], where: str, source: str) -> str:
  if value not in allowed:
    raise DatasetSpecError(
        f'{source}: {where} is {value!r}; expected one of {tuple(allowed)}')
  return value


def unknown_fields(raw: Dict[str, Any], known, where: str, source: str) -> None:
  unknown = sorted(set(raw) - set(known))
  if unknown:
    raise DatasetSpecError(
        f'{source}: unknown field(s) {where}{unknown}; expected some of {sorted(known)}')


def number(value: Any, where: str, source: str, low: float, high: float,
           integer: bool = False) -> float:
  """A number in [low, high] (a whole one if `integer`); bools are not numbers."""
  ok = not isinstance(value, bool) and isinstance(value, (int, float))
  if integer:
    ok = ok and float(value).is_integer()
  if not ok or not low <= value <= high:
    kind = 'a whole number' if integer else 'a number'
    raise DatasetSpecError(
        f'{source}: {where} must be {kind} in [{low}, {high}], got {value!r}')
  return int(value) if integer else float(value)
