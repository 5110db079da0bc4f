"""Columns of an Examples split (ExampleGen's gzipped TFRecords) as numpy arrays."""

import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.io import fileio
from tfx.types import artifact_utils


def _split_files(examples: types.Artifact, split: str) -> List[str]:
  return sorted(fileio.glob(os.path.join(
      artifact_utils.get_split_uri([examples], split), '*')))


def _values(parsed: tf.SparseTensor, kind: str) -> np.ndarray:
  """One value per example: floats (NaN if missing) or strings ('' if missing)."""
  default = b'' if kind == 'string' else (0 if kind == 'int' else np.nan)
  dense = tf.sparse.to_dense(parsed, default_value=default).numpy()
  if dense.shape[1] == 0:
    dense = np.full((dense.shape[0], 1), default, dtype=dense.dtype)
  values = dense[:, 0]
  if kind == 'string':
    return np.array([v.decode('utf-8', 'replace') for v in values], dtype=object)
  present = tf.sparse.to_dense(tf.sparse.map_values(
      tf.ones_like, parsed), default_value=0).numpy()
  present = present[:, 0] > 0 if present.shape[1] else np.zeros(len(values), bool)
  return np.where(present, values.astype(np.float64), np.nan)


def read_columns(examples: types.Artifact, names: List[str], types_: Dict[str, str],
                 max_rows: int, split: str) -> Dict[str, np.ndarray]:
  """The first `max_rows` rows of `split`: column name -> its values (see _values)."""
  spec = {n: tf.io.VarLenFeature(tf.string if types_[n] == 'string' else
                                 tf.int64 if types_[n] == 'int' else tf.float32)
          for n in names}
  dataset = tf.data.TFRecordDataset(_split_files(examples, split),
                                    compression_type='GZIP').take(max_rows).batch(4096)
  parts: Dict[str, List[np.ndarray]] = {n: [] for n in names}
  for batch in dataset:
    parsed = tf.io.parse_example(batch, spec)
    for n in names:
      parts[n].append(_values(parsed[n], types_[n]))
  return {n: (np.concatenate(v) if v else np.array([])) for n, v in parts.items()}
