"""The `label` section: the label column (or the rule deriving it) and its classes."""

import dataclasses
from typing import Any, Dict, Optional, Tuple

from description import fields
from description.columns import Column

CLASS_WEIGHTINGS = ('none', 'inverse_frequency', 'sqrt_inverse_frequency')


@dataclasses.dataclass(frozen=True)
class Label:
  column: str
  classes: Tuple[str, ...]
  # A label computed from other columns: (column, factor, times).
  rule: Optional[Tuple[str, float, Optional[str]]]
  rare_class: Optional[str]
  class_weighting: str


def _derive_rule(derive: Dict[str, Any], classes: Tuple[str, ...],
                 columns: Dict[str, Column], source: str):
  """A binary label computed from numbers, e.g. the taxi example's "tip above
  20% of the fare": derive: {column: tips, greater_than: 0.2, times: fare}."""
  rule_column = fields.require(derive, 'column', source, 'label.derive.')
  times = derive.get('times')
  used = [rule_column] + ([times] if times else [])
  fields.names_exist(used, columns, 'label.derive', source)
  for name in used:
    if columns[name].type == 'string':
      raise fields.DatasetSpecError(f'{source}: label.derive uses {name!r}, a string column')
  if len(classes) != 2:
    raise fields.DatasetSpecError(
        f'{source}: a derived label is binary: label.classes lists the class '
        f'when the rule is false, then when it is true')
  if columns[rule_column].treatment != 'exclude':
    raise fields.DatasetSpecError(
        f'{source}: {rule_column!r} defines the label, so it must be excluded '
        f'from the model inputs')
  return (rule_column, float(derive.get('greater_than', 0.0)), times)


def _refuse_yaml_booleans(values: Any, where: str, source: str) -> None:
  # YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans, so `[no, yes]`
  # would silently become the classes 'False' and 'True' and never match the CSV.
  if not isinstance(values, (list, tuple)):
    return
  booleans = [v for v in values if isinstance(v, bool)]
  if booleans:
    raise fields.DatasetSpecError(
        f'{source}: {where}: YAML read {booleans} as booleans (unquoted yes/no/'
        f'true/false/on/off); quote the class names, e.g. ["no", "yes"]')


def parse_label(raw: Dict[str, Any], columns: Dict[str, Column], source: str) -> Label:
  label_raw = fields.require(raw, 'label', source)
  column = fields.require(label_raw, 'column', source, 'label.')
  raw_classes = fields.require(label_raw, 'classes', source, 'label.')
  _refuse_yaml_booleans(raw_classes, 'label.classes', source)
  classes = tuple(str(c) for c in raw_classes)
  rule = None
  if label_raw.get('derive'):
    rule = _derive_rule(label_raw['derive'], classes, columns, source)
  elif column not in columns:
    raise fields.DatasetSpecError(f'{source}: label.column {column!r} is not in `columns`')
  if len(classes) < 2 or len(set(classes)) != len(classes):
    raise fields.DatasetSpecError(
        f'{source}: label.classes must list at least two distinct classes, '
        f'got {list(classes)}')
  rare_class = label_raw.get('rare_class')
  _refuse_yaml_booleans([rare_class], 'label.rare_class', source)
  if rare_class is not None and str(rare_class) not in classes:
    raise fields.DatasetSpecError(
        f'{source}: label.rare_class {rare_class!r} is not one of {list(classes)}')
  class_weighting = label_raw.get('class_weighting', 'none')
  if class_weighting not in CLASS_WEIGHTINGS:
    raise fields.DatasetSpecError(
        f'{source}: label.class_weighting {class_weighting!r}; '
        f'expected one of {CLASS_WEIGHTINGS}')
  return Label(column, classes, rule,
               None if rare_class is None else str(rare_class), class_weighting)
