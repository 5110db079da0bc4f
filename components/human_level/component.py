"""HumanLevelAnalysis: a TFX component that says what to work on next.

Inputs
  examples        ExampleGen's Examples (raw tf.Examples, every split; the
                  artifact's `span` picks the labelers file)
  model           the candidate Model (its `serving_examples` signature)
  baseline_model  optional: the last blessed Model from the Resolver
Execution properties
  custom_config   the dataset description, DatasetSpec.to_config() (JSON)
  data_root       the data root the description's labelers.pattern is under
  ... and the knobs below (see HumanLevelAnalysis.__init__).
Output
  hlp             a HumanLevelPerformance artifact: hlp_report.json (every
                  table), hlp_report.html, and the key numbers as MLMD custom
                  properties (hlp, model_accuracy, gap_to_hlp, fleiss_kappa,
                  top_slice, top_potential, ...).

What the tables are and which rows they use: analysis/hlp_report.py.
Print them: python -m analysis.hlp_report --mlmd <metadata.sqlite>
(or `python -m components.human_level.component ...`, slower to start).
"""

import hashlib
import io
import json
import os
import sys
from typing import Any, Dict, List, Optional

from absl import logging
import numpy as np
import pandas as pd
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import path_utils
from tfx_bsl.coders import example_coder

from analysis import baselines
from analysis import hlp_report
import description
from metadata.artifacts import HumanLevelPerformance

SIGNATURE = 'serving_examples'
PREDICT_BATCH = 1024
READ_BATCH = 2048
DEFAULT_MAX_BASELINE_TRAIN_ROWS = 100_000

EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
BASELINE_MODEL_KEY = 'baseline_model'
OUTPUT_KEY = 'hlp'




class HumanLevelAnalysisSpec(types.ComponentSpec):
  PARAMETERS = {
      'custom_config': ExecutionParameter(type=str),
      'data_root': ExecutionParameter(type=str),
      'example_split': ExecutionParameter(type=str),
      'use_ground_truth': ExecutionParameter(type=int),
      'min_slice_examples': ExecutionParameter(type=int),
      'max_baseline_train_rows': ExecutionParameter(type=int),
      'max_unjoined_fraction': ExecutionParameter(type=float),
      # Not read by the executor: it changes when a labelers file does, so
      # TFX's cache does not serve a report computed from old labels.
      'labelers_fingerprint': ExecutionParameter(type=str),
  }
  INPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
  }
  OUTPUTS = {
      OUTPUT_KEY: ChannelParameter(type=HumanLevelPerformance),
  }


# ---------------------------------------------------------------------------
# Reading the inputs.
# ---------------------------------------------------------------------------
def labelers_path(spec: description.DatasetSpec, data_root: str, span: int) -> str:
  return os.path.join(data_root, spec.labeler_pattern.replace('{SPAN}', str(span)))


def examples_span(examples: types.Artifact) -> int:
  # ExampleGen's driver records the span as a custom property; the `span`
  # property the Examples type declares stays unset (0).
  if examples.has_custom_property('span'):
    return int(examples.get_int_custom_property('span'))
  return int(examples.span or 0)


def labelers_fingerprint(spec: description.DatasetSpec, data_root: str) -> str:
  """A digest of every labelers file of the dataset (all spans)."""
  if not spec.labeler_pattern:
    return ''
  if not isinstance(data_root, str):
    # A runtime parameter (Kubeflow): the files are only known when the run
    # starts, so the cache key cannot include them.
    return 'runtime'
  pattern = os.path.join(data_root, spec.labeler_pattern.replace('{SPAN}', '*'))
  digest = hashlib.sha256()
  try:
    paths = sorted(tf.io.gfile.glob(pattern))
    for path in paths:
      digest.update(os.path.relpath(path, data_root).encode())
      with tf.io.gfile.GFile(path, 'rb') as f:
        digest.update(hashlib.sha256(f.read()).digest())
  except tf.errors.OpError as e:
    # Unreadable at pipeline-construction time (e.g. compiled away from the
    # data): the executor reports the real problem if it persists.
    logging.warning('cannot fingerprint labelers files %s: %s', pattern, e)
    return 'unreadable'
  return f'{len(paths)}:{digest.hexdigest()}' if paths else 'none'


def _split_files(examples: types.Artifact, split: str) -> List[str]:
  uri = artifact_utils.get_split_uri([examples], split)
  files = sorted(tf.io.gfile.glob(os.path.join(uri, '*')))
  if not files:
    raise hlp_report.HlpDataError(f'split {split!r} of {examples.uri} holds no file')
  return files


def _records(files: List[str]):
  compression = 'GZIP' if all(f.endswith('.gz') for f in files) else ''
  dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(READ_BATCH)
  for batch in dataset.as_numpy_iterator():
    yield batch.tolist()


def _decode(decoder, records: List[bytes], spec: description.DatasetSpec) -> pd.DataFrame:
  """Raw tf.Examples -> one row each; a missing value is None/NaN.

  Every `int` column of the description becomes float: a column with a gap in
  one split and none in another would otherwise be int in one frame and
  float in the other, and their values would not compare equal as strings.
  """
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


def read_examples(examples: types.Artifact, spec: description.DatasetSpec, eval_split: str,
                  label_ids: set, max_train_rows: int):
  """(evaluation frame, its serialized examples, train frame, frame of labeled ids).

  One pass over every split: the evaluation split is kept whole, the train
  split up to max_train_rows, and from every split the rows whose id is in
  label_ids.
  """
  splits = artifact_utils.decode_split_names(examples.split_names)
  if eval_split not in splits:
    raise hlp_report.HlpDataError(
        f'the examples {examples.uri} have no split {eval_split!r}; they have {splits}')
  if examples_utils.get_payload_format(examples) != example_gen_pb2.FORMAT_TF_EXAMPLE:
    raise hlp_report.HlpDataError(
        f'the examples {examples.uri} are not tf.Examples (payload format '
        f'{examples_utils.get_payload_format_string(examples)})')
  decoder = example_coder.ExamplesToRecordBatchDecoder()
  evaluation, serialized, train, labeled = [], [], [], []
  train_rows = 0
  for split in splits:
    for records in _records(_split_files(examples, split)):
      frame = _decode(decoder, records, spec)
      if spec.id_column not in frame.columns:
        raise hlp_report.HlpDataError(
            f'the examples of split {split!r} have no {spec.id_column!r} feature (the '
            f'description\'s id_column); labels cannot be joined')
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


def predict_classes(model: types.Artifact, serialized: List[bytes],
                    spec: description.DatasetSpec, role: str) -> np.ndarray:
  """Class names predicted by a Model artifact's serving_examples signature."""
  path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
  try:
    loaded = tf.saved_model.load(path)
  except (OSError, tf.errors.OpError) as e:
    raise hlp_report.HlpDataError(f'cannot load the {role} from {path}: {e}') from e
  if SIGNATURE not in loaded.signatures:
    raise hlp_report.HlpDataError(
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
        raise hlp_report.HlpDataError(
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


class Executor(base_executor.BaseExecutor):
  """Joins the labels with the examples, predicts, and writes the report."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    spec = description.DatasetSpec.from_config(json.loads(exec_properties['custom_config']))
    _check_spec(spec)
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    baseline = (input_dict.get(BASELINE_MODEL_KEY) or [None])[0]
    output = artifact_utils.get_single_instance(output_dict[OUTPUT_KEY])
    split = exec_properties['example_split']

    span = examples_span(examples)
    path = labelers_path(spec, exec_properties['data_root'], span)
    where = f'{path} (span {span})'
    labels = hlp_report.read_labelers_file(
        path, spec, span, exists=tf.io.gfile.exists, open_fn=_open_text)
    evaluation, serialized, train, labeled_examples = read_examples(
        examples, spec, split, set(labels[spec.id_column]),
        int(exec_properties['max_baseline_train_rows']))
    labeled = hlp_report.join_labels(
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
    paths = hlp_report.write_report(report, output.uri, open_fn=tf.io.gfile.GFile)
    properties = hlp_report.mlmd_properties(report)
    properties.update({'span': span, 'split': split, 'labelers_file': path})
    _set_properties(output, properties)
    logging.info('HumanLevelAnalysis wrote %s\n%s', paths['html'],
                 '\n'.join(hlp_report.headline_lines(report)))


def _check_spec(spec: description.DatasetSpec) -> None:
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


class HumanLevelAnalysis(base_component.BaseComponent):
  """Human-level performance per slice and what to work on next (see module doc)."""

  SPEC_CLASS = HumanLevelAnalysisSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(
      self,
      examples: types.BaseChannel,
      model: types.BaseChannel,
      custom_config: Dict[str, Any],
      data_root: str,
      baseline_model: Optional[types.BaseChannel] = None,
      example_split: str = 'eval',
      use_ground_truth: bool = True,
      min_slice_examples: int = hlp_report.DEFAULT_MIN_SLICE_EXAMPLES,
      max_baseline_train_rows: int = DEFAULT_MAX_BASELINE_TRAIN_ROWS,
      max_unjoined_fraction: float = 0.0,
  ):
    """Args:
      examples: ExampleGen's raw Examples.
      model: the candidate model (Trainer output).
      custom_config: DatasetSpec.to_config() of the dataset description; it
        must declare id_column and labelers (pattern, >= 2 columns).
      data_root: the data root; labelers.pattern is relative to it.
      baseline_model: the last blessed model (Resolver output), if any.
      example_split: the split the model is measured on (the Evaluator's).
      use_ground_truth: False when the label is not objective truth: labelers
        are then scored by leave-one-out agreement, and the report says so.
      min_slice_examples: slices with fewer labeled or evaluation examples
        are listed but not ranked.
      max_baseline_train_rows: training rows the logistic-regression
        baseline is fitted on (the first ones of the train split).
      max_unjoined_fraction: share of labelers-file ids allowed to match no
        example (0: any unmatched id is an error).
    """
    spec = description.DatasetSpec.from_config(custom_config)
    _check_spec(spec)
    super().__init__(spec=HumanLevelAnalysisSpec(
        examples=examples,
        model=model,
        baseline_model=baseline_model,
        custom_config=json.dumps(custom_config, sort_keys=True),
        data_root=data_root,
        example_split=example_split,
        use_ground_truth=int(bool(use_ground_truth)),
        min_slice_examples=int(min_slice_examples),
        max_baseline_train_rows=int(max_baseline_train_rows),
        max_unjoined_fraction=float(max_unjoined_fraction),
        labelers_fingerprint=labelers_fingerprint(spec, data_root),
        hlp=types.Channel(type=HumanLevelPerformance)))


if __name__ == '__main__':
  sys.exit(hlp_report.main())
