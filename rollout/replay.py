"""Held-out traffic to replay: rows from CSV files or ExampleGen splits,
delayed labels joined by id, and the JSON instance of a row."""

import csv
import dataclasses
import glob
import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional

import description
from rollout.config import RolloutError


@dataclasses.dataclass(frozen=True)
class ReplayRow:
  key: str
  values: Mapping[str, Any]  # raw column -> float | int | str | None
  label: int = -1  # class id; -1 = unknown (label not joined yet)


def _label_of(values: Mapping[str, Any], spec) -> int:
  """The class id of a raw row, as the Transform derives it; -1 if unknown."""
  if spec.label_rule:
    column, factor, times = spec.label_rule
    if column not in values:
      return -1
    v = _as_float(values.get(column))
    v = 0.0 if v is None else v
    threshold = factor
    if times:
      t = _as_float(values.get(times))
      threshold = math.inf if t is None else factor * t
    return int(v > threshold)
  raw = values.get(spec.label)
  if raw is None or raw == '':
    return -1
  raw = raw.decode() if isinstance(raw, bytes) else str(raw)
  return spec.classes.index(raw) if raw in spec.classes else -1


def _as_float(v: Any) -> Optional[float]:
  if v is None or v == '' or v == b'':
    return None
  try:
    f = float(v)
  except (TypeError, ValueError):
    return None
  return None if math.isnan(f) else f


def rows_from_dicts(records: Iterable[Mapping[str, Any]], spec,
                    limit: Optional[int] = None) -> List[ReplayRow]:
  """Replay rows; personal data the description marks (pii) is dropped or
  hashed first, so no request, log or report built from them holds it raw."""
  redactor = description.redactor(spec) if hasattr(spec, 'pii') else None
  out = []
  for i, rec in enumerate(records):
    if redactor is not None:
      rec = redactor.apply(rec)
    if limit is not None and len(out) >= limit:
      break
    key = rec.get(spec.id_column) if spec.id_column else None
    key = f'row-{i}' if key in (None, '') else (key.decode() if isinstance(key, bytes)
                                                  else str(key))
    out.append(ReplayRow(key, dict(rec), _label_of(rec, spec)))
  return out


def load_replay_csv(path: str, spec, limit: Optional[int] = None) -> List[ReplayRow]:
  """Rows of a CSV file (or every *.csv under a directory, e.g. a span)."""
  files = sorted(glob.glob(os.path.join(path, '*.csv'))) if os.path.isdir(path) else [path]
  if not files:
    raise RolloutError(f'no CSV files at {path}')

  def records():
    for f in files:
      with open(f, newline='') as fh:
        yield from csv.DictReader(fh)

  rows = rows_from_dicts(records(), spec, limit)
  if not rows:
    raise RolloutError(f'{path} has no rows to replay')
  return rows


def load_replay_examples(split_dir: str, spec, limit: Optional[int] = None) -> List[ReplayRow]:
  """Rows of an ExampleGen split directory (gzipped TFRecords of tf.Example)."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  files = sorted(glob.glob(os.path.join(split_dir, '*')))
  if not files:
    raise RolloutError(f'no example files under {split_dir}')

  def records():
    for raw in tf.data.TFRecordDataset(files, compression_type='GZIP').as_numpy_iterator():
      ex = example_pb2.Example.FromString(raw)
      rec = {}
      for name, feat in ex.features.feature.items():
        kind = feat.WhichOneof('kind')
        values = list(getattr(feat, kind).value) if kind else []
        if not values:
          rec[name] = None
        elif kind == 'bytes_list':
          rec[name] = values[0].decode('utf-8', 'replace')
        else:
          rec[name] = values[0]
      yield rec

  rows = rows_from_dicts(records(), spec, limit)
  if not rows:
    raise RolloutError(f'{split_dir} has no examples to replay')
  return rows


def load_labels_csv(path: str, spec) -> Dict[str, int]:
  """Delayed labels: a CSV of <id column>, <label column> (more columns are
  ignored), e.g. outcomes known months after the requests. Key -> class id."""
  if not spec.id_column:
    raise RolloutError('joining delayed labels needs the description\'s id_column')
  out = {}
  with open(path, newline='') as fh:
    for rec in csv.DictReader(fh):
      key, label = rec.get(spec.id_column), _label_of(rec, spec)
      if key and label >= 0:
        out[key] = label
  return out


def make_instance(values: Mapping[str, Any], inputs: Mapping[str, str]) -> Dict[str, Any]:
  """A JSON instance for a signature whose inputs are {name: 'float'|'string'}:
  missing numbers are null (NaN on the server), missing strings ''."""
  inst = {}
  for name, kind in inputs.items():
    v = values.get(name)
    if kind == 'string':
      inst[name] = '' if v is None else (v.decode() if isinstance(v, bytes) else str(v))
    else:
      inst[name] = _as_float(v)
  return inst
