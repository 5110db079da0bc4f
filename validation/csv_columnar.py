"""CSV checks and tf.Example encoding a column at a time (pyarrow + numpy).

The row-by-row reader (validation/csv_checks.py, csv_examples.py) spends
microseconds of Python per cell: 160 s of ExampleGen for 1,000,000 rows of
the default data. This module does the same work on whole columns, for the
files where the outcome is provably the same, and says so by returning None
otherwise, so the row reader runs and produces its messages unchanged:

* only files without a quote character: then every line is a row and every
  comma a separator in both readers (quoting rules are where pyarrow's
  parser and Python's strict csv module disagree);
* only when pyarrow reads the file without an error (a short or long row,
  undecodable bytes): the row reader names the line;
* only when every cell is in the canonical form both parse the same way
  (`-12`, `3.5e-2`; no `+`, spaces or underscores; at most 18 digits for an int)
  and passes the checks: any problem falls back, and the row reader, which
  owns the messages, names file, line and column.

Encoding writes the bytes protobuf's deterministic serialization writes
(features sorted by name, an empty field absent), the bytes the hash split
fingerprints; csv_columnar_test.py compares them with csv_examples.py's.
"""

import csv
import re
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
from pyarrow import compute as pc
from pyarrow import csv as pa_csv
from tfx.dsl.io import fileio

FLOAT32_MAX = 3.4028234663852886e38
# Forms Python's int()/float() and Arrow's casts read identically.
INT_FORM = r'^-?[0-9]{1,18}$'
FLOAT_FORM = r'^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$'
# Rows per encoded chunk: bounds numpy's index arrays (~100 MB at 64k rows).
CHUNK_ROWS = 65_536
_BLOCK_BYTES = 16 << 20

Ragged = Tuple[np.ndarray, np.ndarray]  # (uint8 data, int64 offsets of n + 1)


def _lines_as_the_row_reader_reads_them(raw: bytes) -> bool:
  """False where Python's csv module and pyarrow split or refuse differently.

  A lone CR ends a line for pyarrow, not for the row reader (the file is read
  without newline translation); Python's csv refuses a NUL byte and any field
  longer than csv.field_size_limit(). A line over that limit falls back too:
  checking the line is cheap, and its longest field is never longer.
  """
  if b'\x00' in raw or re.search(rb'\r(?!\n)', raw):
    return False
  if len(raw) <= csv.field_size_limit():
    return True
  ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord('\n'))
  starts = np.concatenate(([-1], ends))
  longest = int(np.max(np.diff(np.concatenate((starts, [len(raw)])))))
  return longest <= csv.field_size_limit()


def _read(path: str, header: Sequence[str], streaming: bool):
  """pyarrow's reader of the data rows as strings, or None (a quote in the file)."""
  with fileio.open(path, 'rb') as f:
    raw = f.read()
  if b'"' in raw or not _lines_as_the_row_reader_reads_them(raw):
    return None
  buffer = pa.BufferReader(pa.py_buffer(raw))
  read_options = pa_csv.ReadOptions(column_names=list(header), skip_rows=1,
                                    block_size=_BLOCK_BYTES)
  parse_options = pa_csv.ParseOptions(quote_char=False, ignore_empty_lines=True,
                                      newlines_in_values=False)
  convert_options = pa_csv.ConvertOptions(
      column_types={name: pa.string() for name in header},
      strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=True)
  if streaming:
    return pa_csv.open_csv(buffer, read_options=read_options,
                           parse_options=parse_options,
                           convert_options=convert_options)
  return pa_csv.read_csv(buffer, read_options=read_options,
                         parse_options=parse_options, convert_options=convert_options)


def _all(mask) -> bool:
  return bool(pc.all(mask).as_py()) if len(mask) else True


def _numbers_pass(column, kind: str) -> bool:
  """Every non-empty cell canonical and within the tf.Example type's range."""
  filled = pc.filter(column, pc.not_equal(column, ''))
  if not len(filled):
    return True
  if not _all(pc.match_substring_regex(filled, INT_FORM if kind == 'int' else FLOAT_FORM)):
    return False
  if kind == 'int':
    pc.cast(filled, pa.int64())  # 18 digits fit; ArrowInvalid: the row reader judges.
    return True
  values = pc.cast(filled, pa.float64())
  return _all(pc.less_equal(pc.abs(values), FLOAT32_MAX))


def check_rows(path: str, header: Sequence[str], types: Dict[str, str],
               label: Optional[str], classes: Sequence[str]) -> Optional[int]:
  """The number of data rows when every row passes, else None (ask the row reader).

  `label`: the label column to check against `classes`, or None.
  """
  try:
    table = _read(path, header, streaming=False)
  except (pa.ArrowInvalid, UnicodeDecodeError):
    return None
  if table is None:
    return None
  if table.num_rows:
    # A repeated header line: the row reader decides (and names the line).
    first = table.column(0)
    if not _all(pc.not_equal(pc.utf8_trim_whitespace(first), header[0])):
      return None
  for name in header:
    kind = types.get(name)
    if kind in ('int', 'float'):
      try:
        if not _numbers_pass(table.column(name), kind):
          return None
      except pa.ArrowInvalid:
        return None
  if label is not None and not _all(
      pc.is_in(table.column(label), value_set=pa.array(list(classes), pa.string()))):
    return None
  return table.num_rows


# --- Encoding: protobuf's wire format, built for whole columns. -------------
# Every cell's map entry is a prefix that depends only on the column and the
# value's encoded length, then the value's bytes; pyarrow concatenates them
# element-wise in C++.


def _varint_bytes(value: int) -> bytes:
  out = bytearray()
  while True:
    low, value = value & 0x7f, value >> 7
    out.append(low | (0x80 if value else 0))
    if not value:
      return bytes(out)


def _varints(values: np.ndarray) -> pa.Array:
  """Protobuf varints of int64 values (negatives as 10 bytes), a binary array."""
  values = values.astype(np.int64).view(np.uint64)
  shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)
  groups = (values[:, None] >> shifts[None, :]) & np.uint64(0x7f)
  length = np.maximum(1, 10 - np.argmax(
      ((values[:, None] >> shifts[None, :]) > 0)[:, ::-1], axis=1))
  length = np.where(values == 0, 1, length)
  position = np.arange(10)[None, :]
  continued = (position < (length[:, None] - 1)).astype(np.uint64) << np.uint64(7)
  data = (groups | continued).astype(np.uint8)[position < length[:, None]]
  offsets = np.zeros(len(values) + 1, np.int32)
  np.cumsum(length, out=offsets[1:])
  return pa.Array.from_buffers(pa.binary(), len(values),
                               [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _entry_prefix(name: str, kind_tag: int, value_length: int) -> bytes:
  """A map entry up to its value's bytes, for a value of `value_length` bytes."""
  key = name.encode('utf-8')
  # The list message (bytes, float or int64) holds its one value in field 1,
  # length-delimited: a string's bytes, or the packed float or varint.
  value_list = b'\x0a' + _varint_bytes(value_length)
  list_length = len(value_list) + value_length
  feature = bytes([kind_tag]) + _varint_bytes(list_length) + value_list
  feature_length = len(feature) + value_length
  body = (b'\x0a' + _varint_bytes(len(key)) + key + b'\x12' + _varint_bytes(feature_length)
          + feature)
  return b'\x0a' + _varint_bytes(len(body) + value_length) + body


def _with_prefixes(name: str, kind_tag: int, values: pa.Array) -> pa.Array:
  lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
  distinct = np.unique(lengths)
  table = pa.array([_entry_prefix(name, kind_tag, int(n)) for n in distinct],
                   pa.binary())
  prefixes = table.take(pa.array(np.searchsorted(distinct, lengths)))
  return pc.binary_join_element_wise(prefixes, values, b'')


def _entries(name: str, kind: str, column) -> pa.Array:
  """Every cell's serialized Features.feature map entry; null where empty."""
  empty = pc.equal(column, '')
  if kind == 'float':
    values = pc.cast(pc.if_else(empty, '0', column), pa.float64())
    packed = values.to_numpy(zero_copy_only=False).astype('<f4')
    raw = pa.Array.from_buffers(pa.binary(4), len(packed), [None, pa.py_buffer(packed)])
    entries = _with_prefixes(name, 0x12, raw.cast(pa.binary()))  # Feature.float_list
  elif kind == 'int':
    values = pc.cast(pc.if_else(empty, '0', column), pa.int64())
    entries = _with_prefixes(name, 0x1a,  # Feature.int64_list
                             _varints(values.to_numpy(zero_copy_only=False)))
  else:
    entries = _with_prefixes(name, 0x0a, column.cast(pa.binary()))  # Feature.bytes_list
  return pc.if_else(empty, pa.scalar(None, pa.binary()), entries)


def encode_batch(columns: Dict[str, object], types: Dict[str, str]) -> List[bytes]:
  """Serialized tf.Examples of a batch of checked string columns.

  An empty cell is an absent feature; features are in name order, as
  protobuf's deterministic serialization orders a map.
  """
  names = sorted(columns, key=lambda s: s.encode('utf-8'))
  n = len(columns[names[0]]) if names else 0
  if not names:
    return [b'\x0a\x00'] * n
  entries = [_entries(name, types[name], columns[name]) for name in names]
  features = pc.binary_join_element_wise(*entries, b'', null_handling='replace',
                                         null_replacement=b'')
  lengths = pc.binary_length(features).to_numpy(zero_copy_only=False)
  examples = pc.binary_join_element_wise(  # Example.features
      pa.array([b'\x0a'] * n, pa.binary()), _varints(lengths), features, b'')
  return examples.to_pylist()


def encode_file(path: str, header: Sequence[str], types: Dict[str, str],
                redactor=None) -> Optional[Iterator[List[bytes]]]:
  """Serialized tf.Examples of a file check_rows passed, in chunks; None: not columnar.

  `redactor` (description.Redactor): dropped columns are left out, hashed
  ones hashed, as csv_examples.read_examples does.
  """
  reader = _read(path, header, streaming=True)
  if reader is None:
    return None
  dropped = redactor.dropped if redactor is not None else frozenset()
  hashed = redactor.hashed if redactor is not None else frozenset()

  def chunks():
    for batch in reader:
      for start in range(0, batch.num_rows, CHUNK_ROWS):
        part = batch.slice(start, CHUNK_ROWS)
        columns = {}
        for index, name in enumerate(header):
          if name in dropped:
            continue
          column = part.column(index)
          if name in hashed:
            column = pa.array(redactor.hash_column(column.to_pylist()), pa.string())
          columns[name] = column
        yield encode_batch(columns, types)
  return chunks()
