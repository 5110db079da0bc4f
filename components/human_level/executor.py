"""HumanLevelAnalysis's executor: joins the labels with the examples, predicts, writes the report.

The tables are analysis/hlp_report.py's; the page, reports/templates/hlp_report.html.j2.
Reading the examples is most of the work on a large span, so read_examples
turns only the rows it keeps into Python values, column by column.
"""

import collections
from concurrent import futures
import io
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from absl import logging
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import path_utils
from tfx_bsl.coders import example_coder

import description
import reports
from analysis import baselines
from analysis import hlp_data
from analysis import hlp_report
from analysis import hlp_view

SIGNATURE = 'serving_examples'
PREDICT_BATCH = 1024
READ_BATCH = 2048
# Threads decoding examples beside the one that converts them (see _decoded).
DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))
DECODE_AHEAD = 2 * DECODE_THREADS

EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
BASELINE_MODEL_KEY = 'baseline_model'
OUTPUT_KEY = 'hlp'


def labelers_path(spec: description.DatasetSpec, data_root: str, span: int) -> str:
  return os.path.join(data_root, spec.labeler_pattern.replace('{SPAN}', str(span)))


def examples_span(examples: types.Artifact) -> int:
  # ExampleGen's driver records the span as a custom property; the `span`
  # property the Examples type declares stays unset (0).
  if examples.has_custom_property('span'):
    return int(examples.get_int_custom_property('span'))
  return int(examples.span or 0)


def _split_files(examples: types.Artifact, split: str) -> List[str]:
  uri = artifact_utils.get_split_uri([examples], split)
  files = sorted(tf.io.gfile.glob(os.path.join(uri, '*')))
  if not files:
    raise hlp_data.HlpDataError(f'split {split!r} of {examples.uri} holds no file')
  return files


def _records(files: List[str]):
  compression = 'GZIP' if all(f.endswith('.gz') for f in files) else ''
  dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(READ_BATCH)
  for batch in dataset.as_numpy_iterator():
    yield batch.tolist()


def _decoded(batches: Iterator[List[bytes]], decoder, lookahead: int = DECODE_AHEAD
             ) -> Iterator[Tuple[List[bytes], pa.RecordBatch]]:
  """(records, record batch) for each batch, in order, decoded on threads.

  tfx_bsl's decoder lets go of the GIL, so while this thread turns one
  batch into Python values the next ones decode beside it (decoding was 25 of
  the executor's 53 s at a million rows under cProfile, on one core). At most `lookahead`
  batches wait decoded, so memory stays a few batches whatever the span.
  """
  with futures.ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
    pending = collections.deque()
    for records in batches:
      pending.append((records, pool.submit(decoder.DecodeBatch, records)))
      if len(pending) > lookahead:
        records, decoding = pending.popleft()
        yield records, decoding.result()
    while pending:
      records, decoding = pending.popleft()
      yield records, decoding.result()


def _strings(first: pa.Array) -> pa.Array:
  """Bytes -> str as bytes.decode('utf-8', 'replace') would; null stays null."""
  target = pa.large_string() if pa.types.is_large_binary(first.type) else pa.string()
  try:
    return pc.cast(first, target)
  except pa.ArrowInvalid:
    # Arrow only validates; the replacement characters need Python's decoder.
    return pa.array([None if v is None else v.decode('utf-8', 'replace')
                     for v in first.to_pylist()], target)


def _list_cells(column: pa.Array):
  """(starts, present): where each row's first value sits in column.values, and
  whether the row has one at all (an empty or null list has none)."""
  offsets = column.offsets.to_numpy()
  starts = offsets[:-1]
  present = offsets[1:] > starts
  if column.null_count:
    # Arrow lets a null list span values; the decoder's do not, but need not.
    present &= column.is_valid().to_numpy(zero_copy_only=False)
  return starts, present


def _cells(column: pa.Array, kind: Optional[str], rows: Optional[np.ndarray]) -> np.ndarray:
  """One column's cells for `rows` (None: every row), as _decode_by_row makes them."""
  if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
    value_type = column.type.value_type
    starts, present = _list_cells(column)
    kept = slice(None) if rows is None else rows
    binary = pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type)
    if binary and present.any():
      first = column.values.take(pa.array(starts[kept], mask=~present[kept]))
      return _strings(first).to_numpy(zero_copy_only=False)
    # A bytes column with no value in the whole batch is all missing: the
    # by-row rule gives it no str, so an `int`/`float` one is NaN like the rest.
    numeric = pa.types.is_integer(value_type) or pa.types.is_floating(value_type)
    if kind in ('int', 'float') and (numeric or binary):
      starts, present = starts[kept], present[kept]
      cells = np.full(len(starts), np.nan)
      if present.any():
        cells[present] = column.values.to_numpy()[starts[present]]
      return cells
  return _decode_by_row(column, kind)[slice(None) if rows is None else rows]


def _decode_by_row(column: pa.Array, kind: Optional[str]) -> np.ndarray:
  """The general rule, one Python object per cell: the first value of each list
  or None; bytes -> str; `int` and `float` columns -> float64 with NaN."""
  values = [v[0] if v else None for v in column.to_pylist()]
  if any(isinstance(v, bytes) for v in values):
    values = [v.decode('utf-8', 'replace') if isinstance(v, bytes) else v for v in values]
  elif kind in ('int', 'float'):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
  # pandas picks the dtype from the whole batch (ints with a gap become float).
  return pd.Series(values).to_numpy()


def _frame(batch: pa.RecordBatch, kinds: Dict[str, str],
           rows: Optional[np.ndarray]) -> pd.DataFrame:
  """The batch's `rows` (None: all) as a frame, one value per cell; a missing
  value is None/NaN.

  Every `int` column of the description becomes float: a column with a gap in
  one split and none in another would otherwise be int in one frame and
  float in the other, and their values would not compare equal as strings.
  """
  return pd.DataFrame({name: _cells(column, kinds.get(name), rows)
                       for name, column in zip(batch.schema.names, batch.columns)})


def _label_set(label_ids: set) -> pa.Array:
  # A decoded id is a str of valid UTF-8: no other label can ever equal one,
  # and Arrow cannot hold a str that UTF-8 cannot spell.
  def spelled(value):
    try:
      value.encode('utf-8')
      return True
    except UnicodeEncodeError:
      return False
  return pa.array(sorted({str(v) for v in label_ids if isinstance(v, str) and spelled(v)}),
                  pa.large_string())


def _labelled(column: pa.Array, kind: Optional[str], labels: pa.Array,
              label_strings: frozenset) -> np.ndarray:
  """Which rows' id, as str (a missing one is 'None' or 'nan'), is in labels
  (label_strings: the same, for ids that are not bytes)."""
  listed = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
  if listed and (pa.types.is_binary(column.type.value_type) or
                 pa.types.is_large_binary(column.type.value_type)):
    starts, present = _list_cells(column)
    if present.any():
      ids = _strings(column.values.take(pa.array(starts, mask=~present)))
      ids = pc.fill_null(ids.cast(pa.large_string()), 'None')
      return pc.is_in(ids, value_set=labels).to_numpy(zero_copy_only=False)
  ids = pd.Series(_cells(column, kind, None)).astype(str)
  return ids.isin(label_strings).to_numpy()


def read_examples(examples: types.Artifact, spec: description.DatasetSpec, eval_split: str,
                  label_ids: set, max_train_rows: int):
  """(evaluation frame, its serialized examples, train frame, frame of labeled ids).

  One pass over every split: the evaluation split is kept whole, the train
  split up to max_train_rows, and from every split the rows whose id is in
  label_ids. Only kept rows become Python values.
  """
  splits = artifact_utils.decode_split_names(examples.split_names)
  if eval_split not in splits:
    raise hlp_data.HlpDataError(
        f'the examples {examples.uri} have no split {eval_split!r}; they have {splits}')
  if examples_utils.get_payload_format(examples) != example_gen_pb2.FORMAT_TF_EXAMPLE:
    raise hlp_data.HlpDataError(
        f'the examples {examples.uri} are not tf.Examples (payload format '
        f'{examples_utils.get_payload_format_string(examples)})')
  decoder = example_coder.ExamplesToRecordBatchDecoder()
  labels = _label_set(label_ids)
  label_strings = frozenset(labels.to_pylist())
  kinds = {c.name: c.type for c in spec.columns}
  evaluation, serialized, train, labeled = [], [], [], []
  train_rows = 0
  for split in splits:
    for records, batch in _decoded(_records(_split_files(examples, split)), decoder):
      whole = split == eval_split
      head = (min(len(records), max_train_rows - train_rows)
              if not whole and split == 'train' and train_rows < max_train_rows else 0)
      if spec.id_column not in batch.schema.names:
        raise hlp_data.HlpDataError(
            f'the examples of split {split!r} have no {spec.id_column!r} feature (the '
            f'description\'s id_column); labels cannot be joined')
      id_cells = batch.column(batch.schema.get_field_index(spec.id_column))
      has_label = _labelled(id_cells, kinds.get(spec.id_column), labels, label_strings)
      rows = None if whole else np.flatnonzero(has_label | (np.arange(len(records)) < head))
      if rows is not None and not len(rows):
        continue
      frame = _frame(batch, kinds, rows)
      if has_label.any():
        labeled.append(frame[has_label if rows is None else has_label[rows]])
      if whole:
        evaluation.append(frame)
        serialized.extend(records)
      elif head:
        train.append(frame.head(head))
        train_rows += head
  concat = lambda frames: (pd.concat(frames, ignore_index=True) if frames
                           else pd.DataFrame(columns=[spec.id_column]))
  return concat(evaluation), serialized, concat(train), concat(labeled)


def predict_classes(model: types.Artifact, serialized: List[bytes],
                    spec: description.DatasetSpec, role: str) -> np.ndarray:
  """Class names predicted by a Model artifact's serving_examples signature."""
  path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
  try:
    loaded = tf.saved_model.load(path)
  except (OSError, tf.errors.OpError) as e:
    raise hlp_data.HlpDataError(f'cannot load the {role} from {path}: {e}') from e
  if SIGNATURE not in loaded.signatures:
    raise hlp_data.HlpDataError(
        f'the {role} at {path} has no {SIGNATURE!r} signature (it has '
        f'{sorted(loaded.signatures)}); see models/model.py make_signatures')
  signature = loaded.signatures[SIGNATURE]
  predicted = []
  for start in range(0, len(serialized), PREDICT_BATCH):
    outputs = signature(examples=tf.constant(serialized[start:start + PREDICT_BATCH]))
    ids = outputs['class_ids'].numpy().reshape(-1).astype(np.int64)
    names = baselines.ids_to_labels(ids, spec.classes)
    if start == 0 and 'classes' in outputs:
      # A model trained under another description (other classes or order)
      # would otherwise be scored against the wrong names.
      own = [c.decode() if isinstance(c, bytes) else str(c)
             for c in outputs['classes'].numpy().reshape(-1)]
      if own != list(names):
        raise hlp_data.HlpDataError(
            f'the {role} at {path} names its classes differently from the description '
            f'{list(spec.classes)}: class ids {ids[:5].tolist()} are {own[:5]} for it')
    predicted.append(names)
  return np.concatenate(predicted) if predicted else np.array([], dtype=object)


def _open_text(path: str) -> io.StringIO:
  # tf.io.gfile reads local and remote (gs://, s3://) data roots alike.
  with tf.io.gfile.GFile(path, 'r') as f:
    return io.StringIO(f.read())


def _set_properties(artifact: types.Artifact, values: Dict[str, Any]) -> None:
  for key, value in values.items():
    if isinstance(value, bool):
      artifact.set_int_custom_property(key, int(value))
    elif isinstance(value, (int, np.integer)):
      artifact.set_int_custom_property(key, int(value))
    elif isinstance(value, (float, np.floating)):
      artifact.set_float_custom_property(key, float(value))
    else:
      artifact.set_string_custom_property(key, str(value))


def write_report(report: Dict[str, Any], directory: str, open_fn=open) -> Dict[str, str]:
  """Writes the report's JSON and its HTML page into `directory`; returns their paths."""
  paths = {'json': hlp_report.write_json(report, directory, open_fn),
           'html': os.path.join(directory, hlp_report.REPORT_HTML)}
  with open_fn(paths['html'], 'w') as f:
    f.write(reports.render('hlp_report.html.j2', **hlp_view.page(report)))
  return paths


class Executor(base_executor.BaseExecutor):
  """Joins the labels with the examples, predicts, and writes the report."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    spec = description.from_exec_property(exec_properties[description.EXEC_PROPERTY])
    check_spec(spec)
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    baseline = (input_dict.get(BASELINE_MODEL_KEY) or [None])[0]
    output = artifact_utils.get_single_instance(output_dict[OUTPUT_KEY])
    split = exec_properties['example_split']

    span = examples_span(examples)
    path = labelers_path(spec, exec_properties['data_root'], span)
    where = f'{path} (span {span})'
    labels = hlp_data.read_labelers_file(
        path, spec, span, exists=tf.io.gfile.exists, open_fn=_open_text)
    evaluation, serialized, train, labeled_examples = read_examples(
        examples, spec, split, set(labels[spec.id_column]),
        int(exec_properties['max_baseline_train_rows']))
    labeled = hlp_data.join_labels(
        labeled_examples, labels, spec, where,
        float(exec_properties['max_unjoined_fraction']))

    predictions = {baselines.NEW_MODEL: predict_classes(model, serialized, spec, 'model')}
    if baseline is not None:
      predictions[baselines.BLESSED_MODEL] = predict_classes(
          baseline, serialized, spec, 'last blessed model')

    context = {
        'span': span, 'split': split, 'labelers_file': path,
        'unjoined_label_ids': int(labeled.attrs.get('unjoined_ids', 0)),
        'examples_uri': examples.uri, 'model_uri': model.uri,
        'baseline_model_uri': baseline.uri if baseline is not None else None,
        'n_train_for_baselines': int(len(train)),
    }
    report = hlp_report.build_report(
        spec, labeled, evaluation, predictions, train=train,
        use_ground_truth=bool(exec_properties['use_ground_truth']),
        min_slice_examples=int(exec_properties['min_slice_examples']),
        context=context)
    paths = write_report(report, output.uri, open_fn=tf.io.gfile.GFile)
    properties = hlp_view.mlmd_properties(report)
    properties.update({'span': span, 'split': split, 'labelers_file': path})
    _set_properties(output, properties)
    logging.info('HumanLevelAnalysis wrote %s\n%s', paths['html'],
                 '\n'.join(hlp_view.headline_lines(report)))


def check_spec(spec: description.DatasetSpec) -> None:
  problems = []
  if not spec.labeler_pattern:
    problems.append('labelers.pattern is not set')
  if len(spec.labeler_columns) < 2:
    problems.append(f'labelers.columns lists {list(spec.labeler_columns)}, at least 2 are needed')
  if not spec.id_column:
    problems.append('id_column is not set (labels are joined to examples on it)')
  if problems:
    raise description.DatasetSpecError(
        f'{spec.source}: HumanLevelAnalysis needs labelers: ' + '; '.join(problems))
