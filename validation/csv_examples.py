"""Rows of a checked CSV file as tf.Examples, with the declared column types.

Declared, not inferred: inference turns a float column whose values happen to
be whole numbers into an int column. An empty field becomes an absent
feature, so the schema's presence constraints see missing values. Reads with
the csv dialect of validation/csv_checks.py, so both agree on every row.
Files csv_checks checked a column at a time are converted that way
(read_serialized, validation/csv_columnar.py), to the same bytes.
"""

import csv
from typing import Dict, Iterator, Optional

import tensorflow as tf
from tfx.dsl.io import fileio

import description
from validation import csv_columnar


def _feature(kind: str, value: str) -> tf.train.Feature:
  if kind == 'int':
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
  if kind == 'float':
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode('utf-8')]))


def read_examples(path: str, types: Dict[str, str],
                  redactor: Optional[description.Redactor] = None
                  ) -> Iterator[tf.train.Example]:
  """tf.Examples of one checked CSV file; `types` maps column -> int|float|string.

  `redactor` (description.redactor(spec)) drops or hashes personal data.
  """
  with fileio.open(path, 'r') as f:
    reader = csv.reader(f, strict=True)
    header = [h.strip() for h in next(reader)]
    unknown = [name for name in header if name not in types]
    if unknown:
      raise KeyError(f'{path}: columns {unknown} are not in the description')
    for row in reader:
      if not row:
        continue
      values = dict(zip(header, row))
      if redactor is not None and redactor.active:
        values = redactor.apply(values)
      yield tf.train.Example(features=tf.train.Features(feature={
          name: _feature(types[name], value)
          for name, value in values.items() if value != ''}))


def read_serialized(path: str, types: Dict[str, str],
                    redactor: Optional[description.Redactor] = None,
                    columnar: bool = False) -> Iterator[bytes]:
  """The rows of one checked CSV file as serialized tf.Examples.

  The bytes of deterministic serialization (features in name order), the
  bytes the hash split fingerprints. `columnar`: csv_checks checked the file a
  column at a time (FileCheck.columnar); it is then converted that way too,
  to the same bytes.
  """
  if columnar:
    with fileio.open(path, 'r') as f:
      header = [h.strip() for h in next(csv.reader(f, strict=True))]
    chunks = csv_columnar.encode_file(path, header, types, redactor)
    if chunks is not None:
      for chunk in chunks:
        yield from chunk
      return
  for example in read_examples(path, types, redactor):
    yield example.SerializeToString(deterministic=True)
