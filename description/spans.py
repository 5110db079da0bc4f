"""Finds the spans of a dataset on disk, the way CsvExampleGen's pattern does."""

import glob
import os
import re
from typing import Dict, List, Optional


class NoDataError(FileNotFoundError):
  """No span of the dataset matches the pattern; the message says where we looked."""


def _span_regex(pattern: str) -> 're.Pattern':
  parts = [re.escape(p) for p in pattern.split('{SPAN}')]
  return re.compile('^' + r'(\d+)'.join(parts).replace(r'\*', '[^/]*') + '$')


def spans(data_root: str, pattern: str) -> Dict[int, List[str]]:
  """Maps span number -> the files of that span, for a `span-{SPAN}/*.csv` pattern."""
  if '{SPAN}' not in pattern:
    files = sorted(glob.glob(os.path.join(data_root, pattern)))
    return {0: files} if files else {}
  regex = _span_regex(pattern)
  found: Dict[int, List[str]] = {}
  for path in sorted(glob.glob(os.path.join(data_root, pattern.replace('{SPAN}', '*')))):
    match = regex.match(os.path.relpath(path, data_root))
    if match:
      found.setdefault(int(match.group(1)), []).append(path)
  return found


def select(data_root: str, pattern: str, span: Optional[int] = None):
  """Returns (span number, files): the requested span or the latest one."""
  available = spans(data_root, pattern)
  if not available:
    raise NoDataError(
        f'no data: nothing under {data_root} matches {pattern!r}. Generate the '
        f'default data with `python -m data.generator` or pass --data-root.')
  if span is None:
    span = max(available)
  if span not in available:
    raise NoDataError(
        f'span {span} not found under {data_root} (pattern {pattern!r}); '
        f'available spans: {sorted(available)}')
  return span, available[span]


def count_rows(files: List[str]) -> int:
  """Data rows (lines minus one header per file), read in binary blocks."""
  total = 0
  for path in files:
    with open(path, 'rb') as f:
      lines = sum(block.count(b'\n') for block in iter(lambda: f.read(1 << 20), b''))
      if os.path.getsize(path) and not _ends_with_newline(path):
        lines += 1
    total += max(lines - 1, 0)
  return total


def _ends_with_newline(path: str) -> bool:
  with open(path, 'rb') as f:
    f.seek(-1, os.SEEK_END)
    return f.read(1) == b'\n'
