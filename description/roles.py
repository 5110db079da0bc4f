"""Columns with a role besides being a feature: id, protected attributes, tags,
slice crosses, and the labelers' annotations."""

import dataclasses
from typing import Any, Dict, Optional, Tuple

from description import fields
from description.columns import Column


@dataclasses.dataclass(frozen=True)
class Roles:
  id_column: Optional[str]
  protected_attributes: Tuple[str, ...]
  tags: Tuple[str, ...]
  slice_crosses: Tuple[Tuple[str, str], ...]
  labeler_pattern: Optional[str]
  labeler_columns: Tuple[str, ...]


def _slice_crosses(raw: Dict[str, Any], columns: Dict[str, Column], source: str):
  crosses = tuple(
      tuple(c) for c in ((raw.get('slices') or {}).get('crosses') or ()))
  for cross in crosses:
    if len(cross) != 2:
      raise fields.DatasetSpecError(
          f'{source}: slices.crosses entries are pairs, got {cross}')
    fields.names_exist(cross, columns, 'slices.crosses', source)
  return crosses


def parse_roles(raw: Dict[str, Any], columns: Dict[str, Column], source: str) -> Roles:
  protected = tuple(raw.get('protected_attributes') or ())
  tags = tuple(raw.get('tags') or ())
  fields.names_exist(protected, columns, 'protected_attributes', source)
  fields.names_exist(tags, columns, 'tags', source)
  used_as_input = [n for n in protected if columns[n].treatment != 'exclude']
  if used_as_input and not raw.get('allow_protected_inputs', False):
    raise fields.DatasetSpecError(
        f'{source}: protected attributes {used_as_input} are model inputs; set '
        f'their treatment to exclude (or allow_protected_inputs: true on purpose)')
  id_column = raw.get('id_column')
  if id_column is not None:
    fields.names_exist([id_column], columns, 'id_column', source)
    if columns[id_column].treatment != 'exclude':
      raise fields.DatasetSpecError(f'{source}: id_column {id_column!r} must be excluded')
  labelers = raw.get('labelers') or {}
  return Roles(
      id_column=id_column, protected_attributes=protected, tags=tags,
      slice_crosses=_slice_crosses(raw, columns, source),
      labeler_pattern=labelers.get('pattern'),
      labeler_columns=tuple(labelers.get('columns') or ()))
