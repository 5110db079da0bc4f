"""Where an ExampleGen's data came from: its input files and their fingerprint.

Read from the ExampleGen execution's properties (input_base, input_config),
so the files can be listed and re-fingerprinted as they are now and compared
with what was recorded.
"""

import glob
import json
import os
from typing import Any, Dict, List, Optional, Sequence

from description import spans as spans_lib


def source_files(props: Dict[str, Any], span: Optional[int]) -> List[str]:
  """The files an ExampleGen with these properties read for `span`."""
  base = props.get('input_base')
  if not base:
    return []
  files = []
  for pattern in split_patterns(props):
    if '{SPAN}' in pattern:
      files += spans_lib.spans(base, pattern).get(span, []) if span is not None else []
    elif '{' not in pattern:
      files += sorted(glob.glob(os.path.join(base, pattern)))
  return files


def input_splits(props: Dict[str, Any]) -> List[Dict[str, str]]:
  """ExampleGen's input splits (name, pattern) from its input_config property."""
  config = props.get('input_config')
  if isinstance(config, str):
    try:
      config = json.loads(config)
    except ValueError:
      return []
  return list((config or {}).get('splits', []))


def split_patterns(props: Dict[str, Any]) -> List[str]:
  return [s.get('pattern', '') for s in input_splits(props)]


def split_names(props: Dict[str, Any]) -> List[str]:
  return [s.get('name', '') for s in input_splits(props)]


def fingerprint(input_base: str, patterns: Sequence[str], span: Optional[int],
                split_names: Sequence[str]) -> str:
  """ExampleGen's input fingerprint of the files there now (size and mtime).

  Same format as tfx.utils.io_utils.generate_fingerprint, one line per split,
  so it compares equal to the recorded one while the files are untouched.
  """
  lines = []
  for name, pattern in zip(split_names, patterns):
    if '{SPAN}' in pattern:
      files = spans_lib.spans(input_base, pattern).get(span, [])
    else:
      files = sorted(glob.glob(os.path.join(input_base, pattern)))
    total, xor, added = 0, 0, 0
    for path in files:
      stat = os.stat(path)
      total += stat.st_size
      mtime = int(stat.st_mtime_ns / 10**9)
      xor ^= mtime
      added += mtime
    lines.append(f'split:{name},num_files:{len(files)},total_bytes:{total},'
                 f'xor_checksum:{xor},sum_checksum:{added}')
  return '\n'.join(lines)
