"""Every byte a run wrote, searched for planted personal data."""

import csv
import gzip
import os
import re
from typing import Dict, Iterable, Iterator, Sequence, Set, Tuple

# The generator's personal columns: e-mails like ada.lovelace.s2@example.com,
# names like "Ada Lovelace". One pass per file finds every string of these
# shapes, then a set lookup (a search per planted value would read each file
# once per value, thousands of times).
SHAPES = re.compile(rb'[a-z]+\.[a-z]+\.s\d+@example\.com|[A-Z][a-z]+ [A-Z][a-z]+')


def written_bytes(root: str, skip: Iterable[str] = ()) -> Iterator[Tuple[str, bytes]]:
  """(path, content) of every file under `root` (gzip files decompressed),
  except those under a path in `skip` (the run's own inputs)."""
  skip = tuple(os.path.abspath(p) for p in skip)
  for directory, _, files in os.walk(root):
    for name in files:
      path = os.path.join(directory, name)
      if skip and os.path.abspath(path).startswith(skip):
        continue
      with open(path, 'rb') as f:
        data = f.read()
      if name.endswith('.gz'):
        try:
          data = gzip.decompress(data)
        except (OSError, EOFError):
          pass
      yield path, data


def planted(csv_paths: Sequence[str], columns: Sequence[str]) -> Set[bytes]:
  """The values of `columns` in the input CSVs."""
  found = set()
  for path in csv_paths:
    with open(path, newline='') as f:
      for row in csv.DictReader(f):
        found.update(row[c].encode() for c in columns if row.get(c))
  return found


def found_in(root: str, values: Set[bytes], skip: Iterable[str] = ()) -> Dict[str, Set[bytes]]:
  """Files under `root` holding any of `values`, and which."""
  return {path: hits for path, data in written_bytes(root, skip)
          for hits in [set(SHAPES.findall(data)) & values] if hits}
