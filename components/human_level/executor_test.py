"""read_examples against the by-row reader it replaced, on hand-made tf.Examples.

The reference below is the earlier implementation (only its error message
shortened): one Python object per cell for every row. The columnar reader
must return exactly what it returns (frames, dtypes, None against NaN, row
order, serialized records) on the awkward cases: missing and empty values,
several values in a list, bytes that are not UTF-8, a column missing from one
batch, a feature whose kind is unset, ints in a `string` column and a feature
the description does not know.
"""

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tensorflow as tf
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx_bsl.coders import example_coder

import description
from analysis import hlp_data
from components.human_level import executor
from pipeline import configs


def _reference_decode(decoder, records, spec):
  batch = decoder.DecodeBatch(records)
  types_by_name = {c.name: c.type for c in spec.columns}
  columns = {}
  for name, column in zip(batch.schema.names, batch.columns):
    values = [v[0] if v else None for v in column.to_pylist()]
    if values and any(isinstance(v, bytes) for v in values):
      values = [v.decode('utf-8', 'replace') if isinstance(v, bytes) else v for v in values]
    elif types_by_name.get(name) in ('int', 'float'):
      values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    columns[name] = values
  return pd.DataFrame(columns)


def _reference_read_examples(examples, spec, eval_split, label_ids, max_train_rows):
  splits = artifact_utils.decode_split_names(examples.split_names)
  decoder = example_coder.ExamplesToRecordBatchDecoder()
  evaluation, serialized, train, labeled = [], [], [], []
  train_rows = 0
  for split in splits:
    for records in executor._records(executor._split_files(examples, split)):
      frame = _reference_decode(decoder, records, spec)
      if spec.id_column not in frame.columns:
        raise hlp_data.HlpDataError(f'no {spec.id_column!r} in split {split!r}')
      ids = frame[spec.id_column].astype(str)
      has_label = ids.isin(label_ids).to_numpy()
      if has_label.any():
        labeled.append(frame[has_label])
      if split == eval_split:
        evaluation.append(frame)
        serialized.extend(records)
      elif split == 'train' and train_rows < max_train_rows:
        keep = frame.head(max_train_rows - train_rows)
        train.append(keep)
        train_rows += len(keep)
  concat = lambda frames: (pd.concat(frames, ignore_index=True) if frames
                           else pd.DataFrame(columns=[spec.id_column]))
  return concat(evaluation), serialized, concat(train), concat(labeled)


UNSET = object()  # a feature whose kind (bytes, int64 or float list) is not set
NO_BYTES, NO_INTS = 'bytes_list', 'int64_list'  # an empty list of that kind
KINDS = {bytes: 'bytes_list', int: 'int64_list', float: 'float_list'}


def _record(row):
  example = tf.train.Example()
  for name, values in row.items():
    feature = example.features.feature[name]
    if values is UNSET:
      feature.SetInParent()
    elif isinstance(values, str):
      getattr(feature, values).SetInParent()
    else:
      getattr(feature, KINDS[type(values[0])]).value.extend(values)
  return example.SerializeToString()


def _splits():
  """Rows of each split; with READ_BATCH 4, each group of 4 rows is one batch."""
  train = [
      # a full batch: branch all ints (int64), employment_type all empty
      {'application_id': [b't0'], 'age': [31], 'annual_income': [0.1], 'channel': [b'web'],
       'branch': [7], 'employment_type': NO_BYTES, 'note': [2.5]},
      {'application_id': [b't1'], 'age': [2 ** 60 + 1], 'channel': [b'br\xffoker', b'x'],
       'branch': [8], 'employment_type': NO_BYTES, 'interest_rate': [1.5, 2.5]},
      {'application_id': [b't2'], 'age': NO_INTS, 'channel': NO_BYTES, 'branch': [9],
       'employment_type': NO_BYTES, 'gender': UNSET},
      {'application_id': [b't3'], 'channel': [b'caf\xc3\xa9'], 'branch': [10],
       'employment_type': NO_BYTES},
      # branch with a gap (float), credit_score only as empty bytes, no channel
      {'application_id': [b't4'], 'branch': [1], 'credit_score': NO_BYTES, 'age': [40]},
      {'application_id': [b't5'], 'credit_score': NO_BYTES, 'home_ownership': [b'rent']},
      {'application_id': [b't6'], 'branch': [3], 'gender': UNSET, 'note': [0.25]},
      {'application_id': [b't7'], 'branch': [4], 'age': [22]},
      # beyond max_train_rows: t9 is labelled; one row has no id
      {'application_id': [b't8'], 'age': [50], 'channel': [b'web']},
      {'application_id': [b't9'], 'age': [51], 'channel': [b'\xff\xfe']},
      {'age': [52], 'channel': [b'web']},
      {'application_id': [b't11'], 'gender': UNSET},
  ]
  evaluation = [
      {'application_id': [b'e0'], 'age': [20], 'annual_income': [1e6], 'channel': [b'web']},
      {'application_id': [b'e1'], 'annual_income': UNSET, 'channel': [b'\x80']},
      {'application_id': [b'e\xff2'], 'age': NO_INTS, 'loan_term_months': [b'n/a']},
      {'application_id': [b'e3'], 'gender': UNSET},
      {'application_id': [b'e4'], 'age': [21], 'branch': [5]},
      {'application_id': [b'e5'], 'branch': NO_INTS},
      {'application_id': NO_BYTES, 'channel': [b'web']},
  ]
  test = [
      {'application_id': [b's0'], 'age': [60], 'loan_term_months': [b'12']},
      {'application_id': [b's1'], 'age': [61], 'channel': [b'shop']},
      {'application_id': [b's2'], 'age': [62]},
      {'application_id': [b's3'], 'age': [63]},
      {'application_id': [b's4'], 'age': [64], 'channel': [b'web\x00']},
      {'application_id': [b's\xff5'], 'age': [65]},
  ]
  return {'train': train, 'eval': evaluation, 'test': test}


def _write(root, splits):
  examples = standard_artifacts.Examples()
  examples.uri = str(root)
  examples.split_names = artifact_utils.encode_split_names(list(splits))
  options = tf.io.TFRecordOptions(compression_type='GZIP')
  for split, rows in splits.items():
    directory = os.path.join(str(root), f'Split-{split}')
    os.makedirs(directory)
    with tf.io.TFRecordWriter(os.path.join(directory, 'data_tfrecord-00000-of-00001.gz'),
                              options) as writer:
      for row in rows:
        writer.write(_record(row))
  return examples


@pytest.fixture
def spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture
def small_batches(monkeypatch):
  monkeypatch.setattr(executor, 'READ_BATCH', 4)


def _assert_same(expected, actual):
  assert len(expected) == len(actual) == 4
  for want, got in zip(expected, actual):
    if isinstance(want, list):
      assert got == want
      continue
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    for name in want.columns:
      # assert_frame_equal takes None and NaN for the same missing value.
      assert [type(v) for v in got[name]] == [type(v) for v in want[name]], name


@pytest.mark.parametrize('eval_split, label_ids, max_train_rows', [
    ('eval', set(), 6),
    ('eval', {'t9', 't7', 't1', 'e1', 's1', 'nobody'}, 6),
    ('eval', {'None'}, 6),
    ('eval', {'s\ufffd5'}, 6),
    ('eval', {'t9', 'None', 'e\ufffd2', 'br\ufffdoker', 5}, 6),
    ('eval', {'s3'}, 0),
    ('eval', {'t11', 's0'}, 100),
    ('test', {'e0', 't8'}, 2),
    ('train', {'e4', 's4'}, 3),
])
def test_read_examples_is_the_by_row_reference(tmp_path, spec, small_batches, eval_split,
                                               label_ids, max_train_rows):
  examples = _write(tmp_path, _splits())
  _assert_same(
      _reference_read_examples(examples, spec, eval_split, label_ids, max_train_rows),
      executor.read_examples(examples, spec, eval_split, label_ids, max_train_rows))


def test_one_batch_per_split_is_the_reference_too(tmp_path, spec):
  examples = _write(tmp_path, _splits())
  label_ids = {'t9', 'e1', 's4'}
  _assert_same(_reference_read_examples(examples, spec, 'eval', label_ids, 6),
               executor.read_examples(examples, spec, 'eval', label_ids, 6))


def test_integer_ids_are_matched_as_their_strings_like_the_reference(tmp_path, spec,
                                                                     small_batches):
  # An id column of int64s takes the by-row path: its cells as str ('7'), and
  # in a batch with a missing id pandas makes them floats ('7.0'), as the old
  # reader did (t9's batch has a row without id; s1's has none).
  def integer_ids(rows):
    out = []
    for row in rows:
      row = dict(row)
      if row.get('application_id') == NO_BYTES:
        row['application_id'] = NO_INTS
      elif 'application_id' in row:
        row['application_id'] = [int.from_bytes(row['application_id'][0], 'big')]
      out.append(row)
    return out
  examples = _write(tmp_path, {k: integer_ids(v) for k, v in _splits().items()})
  label_ids = {str(int.from_bytes(b't9', 'big')) + '.0', str(int.from_bytes(b's1', 'big')) + '.0',
               str(int.from_bytes(b'e1', 'big'))}
  expected = _reference_read_examples(examples, spec, 'eval', label_ids, 6)
  assert len(expected[3]) == 2  # t9 and e1; s1 is not spelled with '.0' in its batch
  _assert_same(expected, executor.read_examples(examples, spec, 'eval', label_ids, 6))


def test_the_cells_are_what_the_description_says(tmp_path, spec, small_batches):
  examples = _write(tmp_path, _splits())
  _, _, train, labeled = executor.read_examples(examples, spec, 'eval', {'t9', 's1'}, 8)
  assert train['age'].dtype == np.float64 and train['age'][1] == float(2 ** 60 + 1)
  assert np.isnan(train['age'][2]) and np.isnan(train['age'][3])
  assert train['annual_income'][0] == np.float32(0.1)  # the float32 tf.Example holds
  assert train['channel'][1] == 'br\ufffdoker'  # first of two values, bytes not UTF-8
  assert train['channel'][3] == 'caf\u00e9' and train['channel'][2] is None
  assert train['interest_rate'][1] == 1.5
  assert list(labeled['application_id']) == ['t9', 's1']
  assert labeled['channel'].tolist() == ['\ufffd\ufffd', 'shop']


def test_bytes_not_utf8_fall_back_to_pythons_decoder():
  first = pa.array([b'ok', None, b'\xed\xa0\x80', b'caf\xc3\xa9'], pa.large_binary())
  assert executor._strings(first).to_pylist() == [
      'ok', None, b'\xed\xa0\x80'.decode('utf-8', 'replace'), 'caf\u00e9']
  assert executor._strings(first[:2]).type == pa.large_string()


def test_a_split_without_the_id_feature_is_refused_even_when_nothing_is_kept(tmp_path, spec):
  splits = _splits()
  splits['test'] = [{'age': [1]}, {'age': [2]}]
  examples = _write(tmp_path, splits)
  with pytest.raises(hlp_data.HlpDataError, match="split 'test'"):
    executor.read_examples(examples, spec, 'eval', set(), 0)


class _CountingDecoder:
  """Decodes as tfx_bsl does, counting how many batches were decoded ahead."""

  def __init__(self, fail_at=None):
    self._decoder = example_coder.ExamplesToRecordBatchDecoder()
    self.started = 0
    self._fail_at = fail_at

  def DecodeBatch(self, records):  # pylint: disable=invalid-name
    self.started += 1
    if records[0] == self._fail_at:
      raise ValueError(f'cannot decode {records[0]!r}')
    return self._decoder.DecodeBatch(records)


def _example(n):
  return tf.train.Example(features=tf.train.Features(feature={'n': tf.train.Feature(
      int64_list=tf.train.Int64List(value=[n]))})).SerializeToString()


def test_batches_decode_on_threads_in_order_with_a_bounded_lookahead():
  batches = [[_example(n), _example(n + 1)] for n in range(0, 40, 2)]
  decoder = _CountingDecoder()
  seen = []
  for records, batch in executor._decoded(iter(batches), decoder, lookahead=3):  # pylint: disable=protected-access
    assert decoder.started <= len(seen) + 1 + 3  # never more than 3 waiting
    assert records == batches[len(seen)]
    seen.append(batch.column(0).to_pylist())
  assert seen == [[[n], [n + 1]] for n in range(0, 40, 2)]


def test_a_batch_that_fails_to_decode_raises_in_its_place():
  batches = [[_example(n)] for n in range(6)]
  decoded = executor._decoded(iter(batches), _CountingDecoder(fail_at=_example(3)),  # pylint: disable=protected-access
                              lookahead=2)
  assert [b.column(0).to_pylist() for _, b in (next(decoded) for _ in range(3))] == [
      [[0]], [[1]], [[2]]]
  with pytest.raises(ValueError, match='cannot decode'):
    next(decoded)
