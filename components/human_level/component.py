"""HumanLevelAnalysis: a TFX component that says what to work on next.

Inputs
  examples        ExampleGen's Examples (raw tf.Examples, every split; the
                  artifact's `span` picks the labelers file)
  model           the candidate Model (its `serving_examples` signature)
  baseline_model  optional: the last blessed Model from the Resolver
Execution properties
  dataset_description  the dataset description (description.EXEC_PROPERTY,
                  description.to_exec_property)
  data_root       the data root the description's labelers.pattern is under
  ... and the knobs below (see HumanLevelAnalysis.__init__).
Output
  hlp             a HumanLevelPerformance artifact: hlp_report.json (every
                  table), hlp_report.html, and the key numbers as MLMD custom
                  properties (hlp, model_accuracy, gap_to_hlp, fleiss_kappa,
                  top_slice, top_potential, ...).

The work: executor.py. What the tables are and which rows they use:
analysis/hlp_report.py. Print them: python -m cli.hlp_report.
"""

import hashlib
import os
from typing import Any, Dict, Optional, Union

from absl import logging
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

import description
from analysis import hlp_report
from components.human_level import executor
from components.human_level.executor import (BASELINE_MODEL_KEY, EXAMPLES_KEY, MODEL_KEY,
                                             OUTPUT_KEY)  # The channels' names, one home.
from metadata.artifacts import HumanLevelPerformance

DEFAULT_MAX_BASELINE_TRAIN_ROWS = 100_000


class HumanLevelAnalysisSpec(types.ComponentSpec):
  PARAMETERS = {
      description.EXEC_PROPERTY: ExecutionParameter(type=str),
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


class HumanLevelAnalysis(base_component.BaseComponent):
  """Human-level performance per slice and what to work on next (see module doc)."""

  SPEC_CLASS = HumanLevelAnalysisSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(
      self,
      examples: types.BaseChannel,
      model: types.BaseChannel,
      spec: Union[description.DatasetSpec, Dict[str, Any]],
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
      spec: the dataset description (or its to_config() dict); it must
        declare id_column and labelers (pattern, >= 2 columns).
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
    if not isinstance(spec, description.DatasetSpec):
      spec = description.from_exec_property(spec)
    executor.check_spec(spec)
    super().__init__(spec=HumanLevelAnalysisSpec(
        examples=examples,
        model=model,
        baseline_model=baseline_model,
        **{description.EXEC_PROPERTY: description.to_exec_property(spec)},
        data_root=data_root,
        example_split=example_split,
        use_ground_truth=int(bool(use_ground_truth)),
        min_slice_examples=int(min_slice_examples),
        max_baseline_train_rows=int(max_baseline_train_rows),
        max_unjoined_fraction=float(max_unjoined_fraction),
        labelers_fingerprint=labelers_fingerprint(spec, data_root),
        hlp=types.Channel(type=HumanLevelPerformance)))
