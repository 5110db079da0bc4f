"""The files to score: found, their headers checked, cut into ranges, read.

A broken file (empty, or a header that is not the description's columns) is
refused with file, line and column by `check_headers`, through the pipeline's
own checks (validation/csv_checks.py), before any output is written. A bad row
is not a reason to refuse the file: `read_range` turns it into a `Reject`
naming file, line and column, carrying the line's text, so nothing is dropped.

Files are read by byte range so one large file spreads over Beam workers: a
range owns the lines that start inside it, and numbers them by counting the
newlines before it. A CSV record therefore is one line; a quoted field that
holds a line break is rejected line by line (as unbalanced quotes), never
mis-joined.
"""

import csv
import dataclasses
import glob
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from tfx.dsl.io import fileio

import description
from validation import csv_checks

# Large enough that per-range costs (opening, counting earlier newlines) stay
# small; a 200 MB file becomes 13 ranges, enough to keep a few workers busy.
RANGE_BYTES = 16 << 20
# Below that, a file is still cut into a few ranges of at least 1 MB, so a
# 100,000-row file (14 MB) keeps two local workers busy too.
MIN_RANGES_PER_FILE = 8
MIN_RANGE_BYTES = 1 << 20
_COUNT_BLOCK = 8 << 20


@dataclasses.dataclass(frozen=True)
class Reject:
  path: str
  line: int
  column: Optional[str]
  reason: str
  text: str  # the line as read, so a rejected row can be fixed and rescored


@dataclasses.dataclass
class RowBatch:
  """Rows of one file, column by column (raw CSV strings)."""
  path: str
  lines: List[int]
  columns: Dict[str, List[str]]
  texts: List[str]

  def __len__(self) -> int:
    return len(self.lines)

  def row(self, i: int) -> 'RowBatch':
    return RowBatch(self.path, [self.lines[i]],
                    {k: [v[i]] for k, v in self.columns.items()}, [self.texts[i]])


@dataclasses.dataclass(frozen=True)
class Range:
  path: str
  start: int
  end: int


def input_files(path: str) -> List[str]:
  """A CSV file, every *.csv in a directory, or the files a glob pattern matches."""
  if fileio.isdir(path):
    files = sorted(p for p in fileio.glob(os.path.join(path, '*.csv'))
                   if not fileio.isdir(p))
    where = f'{path}: no *.csv file in the directory'
  elif glob.has_magic(path):
    files = sorted(p for p in fileio.glob(path) if not fileio.isdir(p))
    where = f'{path}: no file matches the pattern'
  else:
    files = [path] if fileio.exists(path) else []
    where = f'{path}: no such file'
  if not files:
    raise csv_checks.InputDataError([csv_checks.Problem(path, None, None, where)])
  return files


def _open(path: str):
  # Python's buffered reader is several times faster than GFile line by line.
  return open(path, 'rb', buffering=1 << 20) if '://' not in path else fileio.open(path, 'rb')


def _header(path: str) -> Tuple[List[str], List[csv_checks.Problem]]:
  with _open(path) as f:
    first = f.readline()
  try:
    text = first.decode('utf-8').rstrip('\r\n')
  except UnicodeDecodeError as e:
    return [], [csv_checks.Problem(path, 1, None, f'unreadable header: {e}')]
  if not text.strip():
    return [], [csv_checks.Problem(path, 1 if first else None, None,
                                   'the file is empty: no header' if not first else
                                   'the first line is blank: it must be the header')]
  try:
    header = next(csv.reader([text], strict=True))
  except csv.Error as e:
    return [], [csv_checks.Problem(path, 1, None, f'unreadable header: {e}')]
  return [h.strip() for h in header], []


def check_headers(paths: Sequence[str],
                  spec: description.DatasetSpec) -> Dict[str, List[str]]:
  """Each file's header; InputDataError listing every broken one.

  The columns must be the description's (the label may be absent: it is not
  known at scoring time); their order may differ from file to file.
  """
  headers, problems = {}, []
  for path in paths:
    header, found = _header(path)
    found = found or csv_checks.check_header(path, header, spec, serving=True)
    problems += found
    headers[path] = header
  if problems:
    raise csv_checks.InputDataError(problems)
  return headers


def plan_ranges(paths: Sequence[str], range_bytes: int = RANGE_BYTES) -> List[Range]:
  """Byte ranges of at most range_bytes; a small file still gets a few, for workers."""
  ranges = []
  for path in paths:
    size = fileio.stat(path).length
    step = max(1, min(range_bytes, max(MIN_RANGE_BYTES, size // MIN_RANGES_PER_FILE)))
    starts = range(0, max(size, 1), step)
    ranges += [Range(path, s, min(s + step, size)) for s in starts]
  return ranges


def _newlines_before(f, offset: int) -> int:
  f.seek(0)
  count, left = 0, offset
  while left > 0:
    block = f.read(min(_COUNT_BLOCK, left))
    if not block:
      break
    count += block.count(b'\n')
    left -= len(block)
  return count


def _lines(f, start: int, end: int) -> Iterator[Tuple[int, bytes]]:
  """(line number, bytes) of each line that starts in [start, end)."""
  if start == 0:
    f.seek(0)
    position, number = 0, 1
  else:
    # The line holding byte start-1 belongs to the range before, unless that
    # byte ends it.
    number = _newlines_before(f, start - 1) + 1
    f.seek(start - 1)
    position = start - 1 + len(f.readline())
    number += 1
  while position < end:
    line = f.readline()
    if not line:
      return
    yield number, line
    position += len(line)
    number += 1


class _Checker:
  """Row checks of csv_checks for one file's header."""

  def __init__(self, path: str, header: List[str], spec: description.DatasetSpec):
    self.path = path
    self.header = header
    types = {c.name: c.type for c in spec.columns}
    # csv_checks' own per-type cell checks, so both refuse the same values.
    self.typed = [(i, name, csv_checks._CHECKERS[types[name]])  # pylint: disable=protected-access
                  for i, name in enumerate(header) if types.get(name) in csv_checks._CHECKERS]  # pylint: disable=protected-access

  def problem(self, row: List[str]) -> Optional[Tuple[Optional[str], str]]:
    """(column, reason) of the row's first problem, None when it is fine."""
    if len(row) != len(self.header):
      return None, (f'malformed row: {len(row)} field(s) where the header has '
                    f'{len(self.header)}')
    if row[0].strip() == self.header[0] and [v.strip() for v in row] == self.header:
      return None, 'the header line is repeated here (were two CSV files concatenated?)'
    for i, name, check in self.typed:
      if row[i] != '':
        message = check(row[i])
        if message:
          return name, message
    return None


def read_range(part: Range, header: List[str], spec: description.DatasetSpec,
               wanted: Sequence[str], batch_size: int) -> Iterator[Union[RowBatch, Reject]]:
  """Batches of the `wanted` columns of the good rows, and a Reject per bad row."""
  checker = _Checker(part.path, header, spec)
  index = {name: header.index(name) for name in wanted}
  batch = _empty_batch(part.path, wanted)
  with _open(part.path) as f:
    for number, raw in _lines(f, part.start, part.end):
      if number == 1:
        continue  # The header, checked before the job started.
      try:
        text = raw.decode('utf-8').rstrip('\r\n')
      except UnicodeDecodeError as e:
        yield Reject(part.path, number, None, f'not valid UTF-8 text: {e}',
                     raw.decode('utf-8', 'replace').rstrip('\r\n'))
        continue
      if not text:
        continue  # Blank lines are skipped, as the pipeline's reader does.
      try:
        row = _fields(text)
      except csv.Error as e:
        yield Reject(part.path, number, None, f'malformed CSV: {e}', text)
        continue
      problem = checker.problem(row)
      if problem:
        yield Reject(part.path, number, problem[0], problem[1], text)
        continue
      batch.lines.append(number)
      batch.texts.append(text)
      for name, i in index.items():
        batch.columns[name].append(row[i])
      if len(batch) >= batch_size:
        yield batch
        batch = _empty_batch(part.path, wanted)
  if len(batch):
    yield batch


def _fields(line: str) -> List[str]:
  # Without a quote, csv's dialect splits exactly at commas; most lines take
  # this path, several times faster than a csv.reader per line.
  if '"' not in line:
    return line.split(',')
  return next(csv.reader([line], strict=True))


def _empty_batch(path: str, wanted: Sequence[str]) -> RowBatch:
  return RowBatch(path, [], {name: [] for name in wanted}, [])
