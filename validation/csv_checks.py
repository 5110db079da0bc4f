"""Row-level checks of CSV input against the dataset description.

TFDV validates statistics, so it can name a column but never a row, and some
broken input never reaches it: CsvExampleGen fails on a short row with
"Invalid CSV line: [...]", and silently turns a numeric column into a string
column when one cell holds text. These checks run before any conversion and
name the file, the line (1-based, the header is line 1) and the column of
every problem:

* the file: empty, no data rows, a header that is not the description's
  columns (missing, unknown or repeated names, or an order that differs
  between the files of one span);
* every row: the number of fields, a repeated header line (concatenated
  files), unbalanced quotes, undecodable bytes;
* every cell of an int or float column: parses as the declared type, is
  finite (a missing value is an empty field, never "nan") and fits the
  tf.Example type (floats are stored as float32, ints as int64);
* the label (training data only): present and one of label.classes.

Domains, ranges, presence and distributions are the schema's job
(ExampleValidator and DistributionValidator), where they apply to whole
columns and also to data that did not come through this CSV reader.
"""

import csv
import dataclasses
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from tfx.dsl.io import fileio

import description
from validation import csv_columnar

FLOAT32_MAX = 3.4028234663852886e38
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1
# Problems listed per file before the rest are only counted.
MAX_PROBLEMS_PER_FILE = 20


class InputDataError(ValueError):
  """The input data is unusable; the message lists every problem found."""

  def __init__(self, problems: Sequence['Problem'], total: Optional[int] = None):
    self.problems = list(problems)
    self.total = total if total is not None else len(self.problems)
    files = sorted({p.path for p in self.problems})
    lines = [f'Input data rejected: {self.total} problem(s) in {len(files)} file(s):']
    lines += [f'  {p}' for p in self.problems]
    if self.total > len(self.problems):
      lines.append(f'  ... and {self.total - len(self.problems)} more')
    super().__init__('\n'.join(lines))


@dataclasses.dataclass(frozen=True)
class Problem:
  path: str
  line: Optional[int]
  column: Optional[str]
  message: str

  def __str__(self) -> str:
    where = [self.path]
    if self.line is not None:
      where.append(f'line {self.line}')
    if self.column is not None:
      where.append(f'column {self.column!r}')
    return f'{", ".join(where)}: {self.message}'


@dataclasses.dataclass
class FileCheck:
  """The outcome for one file: its header, data row count and problems."""
  path: str
  header: List[str]
  rows: int
  problems: List[Problem]
  problem_count: int
  # Checked a column at a time (csv_columnar): every row passed, and
  # csv_columnar.encode_file converts it with the same result.
  columnar: bool = False


def _check_int(value: str) -> Optional[str]:
  try:
    number = int(value)
  except ValueError:
    return f'{value!r} is not an integer (the column is declared int)'
  if not INT64_MIN <= number <= INT64_MAX:
    return f'{value!r} does not fit in a 64-bit integer'
  return None


def _check_float(value: str) -> Optional[str]:
  try:
    number = float(value)
  except ValueError:
    return f'{value!r} is not a number (the column is declared float)'
  if not math.isfinite(number):
    return (f'{value!r} is not a finite number (NaN and infinity are not '
            f'allowed; leave the field empty for a missing value)')
  if abs(number) > FLOAT32_MAX:
    return (f'{value!r} is too large: tf.Example stores floats as 32-bit, '
            f'which overflows to infinity beyond {FLOAT32_MAX:.4g}')
  return None


_CHECKERS = {'int': _check_int, 'float': _check_float}


def expected_columns(spec: description.DatasetSpec,
                     serving: bool = False) -> List[str]:
  """The CSV columns the description declares (without label-only ones at serving)."""
  names = [c.name for c in spec.columns]
  if serving:
    names = [n for n in names if n not in spec.label_only_columns]
  return names


def check_header(path: str, header: List[str], spec: description.DatasetSpec,
                 serving: bool = False) -> List[Problem]:
  problems = []
  seen: Dict[str, List[int]] = {}
  for i, name in enumerate(header):
    seen.setdefault(name, []).append(i + 1)
  for name, positions in seen.items():
    if len(positions) > 1:
      problems.append(Problem(
          path, 1, name, f'the header names this column {len(positions)} times '
          f'(fields {", ".join(map(str, positions))}); each column must appear once'))
  expected = expected_columns(spec, serving)
  declared = {c.name for c in spec.columns}
  for name in expected:
    if name not in seen:
      problems.append(Problem(
          path, 1, name, f'required column is missing from the header '
          f'(declared in {spec.source})'))
  for name in seen:
    if name not in declared:
      problems.append(Problem(
          path, 1, name, f'unknown column: not declared in {spec.source} '
          f'(add it to the description, or remove it from the data)'))
  return problems


def check_file(path: str, spec: description.DatasetSpec, serving: bool = False,
               max_problems: int = MAX_PROBLEMS_PER_FILE) -> FileCheck:
  """Streams one CSV file through every check; memory does not grow with rows."""
  problems: List[Problem] = []
  count = 0

  def add(problem: Problem) -> None:
    nonlocal count
    count += 1
    if len(problems) < max_problems:
      problems.append(problem)

  types = {c.name: c.type for c in spec.columns}
  rows = 0
  header: List[str] = []
  with fileio.open(path, 'r') as f:
    reader = csv.reader(f, strict=True)
    try:
      header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as e:
      add(Problem(path, 1, None, f'unreadable header: {e}'))
      return FileCheck(path, [], 0, problems, count)
    if header is None or header == [] or header == ['']:
      add(Problem(path, None, None, 'the file is empty: no header and no rows'))
      return FileCheck(path, [], 0, problems, count)
    header = [h.strip() for h in header]
    for p in check_header(path, header, spec, serving):
      add(p)
    if count:
      # Row checks against a broken header would only repeat the problem.
      return FileCheck(path, header, 0, problems, count)
    checks: List[Tuple[int, str, callable]] = [
        (i, name, _CHECKERS[types[name]]) for i, name in enumerate(header)
        if types.get(name) in _CHECKERS]
    label_index = (header.index(spec.label)
                   if not serving and not spec.label_rule and spec.label in header
                   else None)
    # Whole columns at once when the outcome is provably the row loop's;
    # None means a problem or a form only the row loop judges: it runs below
    # and names every problem's line and column.
    passed = csv_columnar.check_rows(
        path, header, types, None if label_index is None else spec.label, spec.classes)
    if passed:
      return FileCheck(path, header, passed, problems, count, columnar=True)
    classes = set(spec.classes)
    width = len(header)
    line = 1
    while True:
      try:
        row = next(reader)
      except StopIteration:
        break
      except csv.Error as e:
        add(Problem(path, reader.line_num, None, f'malformed CSV: {e}'))
        break
      except UnicodeDecodeError as e:
        add(Problem(path, line + 1, None, f'not valid UTF-8 text: {e}'))
        break
      line = reader.line_num
      if not row:
        continue  # Blank lines are skipped, as CsvExampleGen does.
      rows += 1
      if len(row) != width:
        add(Problem(path, line, None,
                    f'malformed row: {len(row)} field(s) where the header has '
                    f'{width}'))
        continue
      if [v.strip() for v in row] == header:
        add(Problem(path, line, None, 'the header line is repeated here (were '
                    'two CSV files concatenated?)'))
        continue
      for i, name, checker in checks:
        value = row[i]
        if value == '':
          continue
        message = checker(value)
        if message:
          add(Problem(path, line, name, message))
      if label_index is not None and row[label_index] not in classes:
        value = row[label_index]
        add(Problem(path, line, spec.label,
                    'the label is missing' if value == '' else
                    f'label {value!r} is not one of the classes '
                    f'{list(spec.classes)} declared in {spec.source}'))
  if rows == 0 and not count:
    add(Problem(path, None, None, 'the file has a header but no data rows'))
  return FileCheck(path, header, rows, problems, count)


def check_files(paths: Iterable[str], spec: description.DatasetSpec,
                serving: bool = False) -> List[FileCheck]:
  """Checks every file; raises InputDataError listing all problems found.

  The files of one span must also share one header (column order included),
  since they are read as one table.
  """
  results = [check_file(p, spec, serving) for p in paths]
  if not results:
    raise InputDataError([Problem('(no files)', None, None,
                                  'no input files matched the pattern')])
  first = next((r for r in results if r.header), None)
  extra = []
  for r in results:
    if first and r.header and r.header != first.header and not r.problem_count:
      extra.append(Problem(r.path, 1, None,
                           f'the header differs from that of {first.path}; the '
                           f'files of one span must have the same columns in '
                           f'the same order'))
  problems = [p for r in results for p in r.problems] + extra
  total = sum(r.problem_count for r in results) + len(extra)
  if total:
    raise InputDataError(problems, total)
  return results
