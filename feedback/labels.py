"""Delayed labels: CSV files of <id_column>,<label column>[, slice columns].

Labels arrive late, in parts, sometimes twice. A key labelled twice with the
same class counts once (`repeated label`); with different classes it is
`conflicting` and left out of every figure, because neither answer can be
trusted. Unknown classes, empty keys and rows of the wrong length are
counted with file and line. Extra columns that are columns of the description
travel with the label (`columns`): slices (protected attributes, tags) come
from there when requests do not carry them, and a harvested span takes any
column the request lacked (e.g. the application month) from there. Personal
data among them is treated by whoever writes them out (harvest), never kept
in figures.
"""

import csv
import dataclasses
from typing import Dict, List, Sequence

import description
from feedback.skipped import Skipped


class LabelsError(ValueError):
  """A labels file cannot be used at all (unreadable, no key or label column)."""


@dataclasses.dataclass
class Label:
  class_id: int
  source: str  # path:line of the (first) row that gave it
  # Description columns given in the labels file besides the key and label.
  columns: Dict[str, str]


@dataclasses.dataclass
class LabelSet:
  labels: Dict[str, Label]
  conflicting: Dict[str, List[str]]  # key -> the classes given
  skipped: Skipped
  rows: int


def _check_header(path: str, header: Sequence[str], spec: description.DatasetSpec) -> None:
  missing = [c for c in (spec.id_column, spec.label) if c not in header]
  if missing:
    raise LabelsError(f'{path}: header {list(header)} lacks column(s) {missing} '
                      f'(the description\'s id_column and label)')


def read_labels(paths: Sequence[str], spec: description.DatasetSpec) -> LabelSet:
  """All labels of `paths`, in order; later files add keys, never overwrite."""
  if not spec.id_column:
    raise LabelsError(f'{spec.source}: joining labels needs the description\'s id_column')
  classes = {c: i for i, c in enumerate(spec.classes)}
  known = {c.name for c in spec.columns} - {spec.id_column, spec.label}
  labels: Dict[str, Label] = {}
  given: Dict[str, set] = {}
  skipped, rows = Skipped(), 0
  for path in paths:
    try:
      with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        _check_header(path, header, spec)
        for row in reader:
          if not row:
            continue
          rows += 1
          where = f'{path}:{reader.line_num}'
          if len(row) != len(header):
            skipped.add('label rows with the wrong number of fields', where)
            continue
          rec = dict(zip(header, row))
          key, name = rec[spec.id_column].strip(), rec[spec.label].strip()
          if not key:
            skipped.add('label rows without a key', where)
            continue
          if name not in classes:
            skipped.add(f'labels with a class not in {list(spec.classes)}',
                        f'{where} {name!r}')
            continue
          given.setdefault(key, set()).add(name)
          if key in labels:
            skipped.add('repeated labels (same key again)', f'{where} {key}')
            continue
          labels[key] = Label(classes[name], where, {
              c: rec[c] for c in header if c in known and rec[c] != ''})
    except (OSError, UnicodeDecodeError, csv.Error) as e:
      raise LabelsError(f'{path}: cannot read labels: {e}') from e
  conflicting = {k: sorted(v) for k, v in given.items() if len(v) > 1}
  for key in conflicting:
    labels.pop(key, None)
    skipped.add('keys with conflicting labels (left out)',
                f'{key}: {"/".join(conflicting[key])}')
  return LabelSet(labels, conflicting, skipped, rows)
