"""Every base output of our metrics from one combiner: one append per (slice, example).

TFMA runs each metric's combiner on every (slice, example) pair
(metrics_plots_and_validations_evaluator.py, _ComputationsCombineFn): on the
default data 18 combiners (example counts, accuracy, the multi-class
confusion matrix, per class the thresholded confusion matrices, calibration
histogram and totals) times 8 slicing specs per example, each extracting
and binarizing its own label and prediction in Python: most of the
Evaluator's time at a million rows.

Here the base computations of all our metrics become tasks of one combiner
(pipeline/eval_tasks.py). Per (slice, example) it keeps the example's
label, probability vector and weight (extracted once per example and model
by TFMA's own to_label_prediction_example_weight, cached across the
example's slices); every 1,024 rows the tasks count them with numpy. Each
task answers under its original computation's keys and in its
original output types, so TFMA's derived metrics (precision, recall, F1,
AUC, Fairness Indicators, calibration, plots), thresholds and blessing read
them unchanged. Sums differ from TFMA's only in summation order
(benchmarks/evaluation_equality.py compares whole evaluations).

How it plugs in: our metric classes (pipeline/eval_metrics.py) return
TFMA's derived computations plus this one shared computation, built from the
whole EvalConfig and so identical for every metric; TFMA keeps one copy of
identical computations (_filter_and_separate_computations). A base
computation this module cannot vectorise (top-k, aggregation, class weights,
example ids, a custom extractor) stays TFMA's own.
"""

import contextlib
import importlib
import threading
from typing import Any, Dict, List, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util

from pipeline import eval_extraction
from pipeline import eval_tasks

# Rows kept per accumulator before the tasks count them.
FLUSH_EVERY = 1024


class _Pending:
  """An accumulator: each task's state, and rows per source not yet counted."""

  __slots__ = ('states', 'rows')

  def __init__(self, states: List[Any], sources: int):
    self.states = states
    self.rows: List[list] = [[] for _ in range(sources)]


class SharedCombiner(beam.CombineFn):
  """All tasks of an EvalConfig in one combiner (see the module docstring)."""

  def __init__(self, tasks: List[eval_tasks.Task], eval_config):
    self._tasks = tasks
    self._sources = sorted({task.source for task in tasks})
    # Labels, probability vectors and weights as TFMA's multi-class combiner
    # extracts them: unflattened, one example weight.
    self._extractions = [eval_extraction.Extraction(
        metric_util.to_label_prediction_example_weight, dict(
            eval_config=eval_config, model_name=model_name, output_name=output_name,
            example_weighted=True, flatten=False, require_single_example_weight=True),
        _row) for model_name, output_name in self._sources]
    self._task_source = [self._sources.index(task.source) for task in tasks]

  def create_accumulator(self) -> _Pending:
    return _Pending([task.create() for task in self._tasks], len(self._sources))

  def add_input(self, accumulator: _Pending, element) -> _Pending:
    for rows, extraction in zip(accumulator.rows, self._extractions):
      rows.extend(eval_extraction.extracted(element, extraction))
    if len(accumulator.rows[0]) >= FLUSH_EVERY:
      self._count(accumulator)
    return accumulator

  def _count(self, accumulator: _Pending) -> None:
    if not accumulator.rows[0]:
      return
    batches = []
    for rows in accumulator.rows:
      labels, predictions, weights = zip(*rows)
      batches.append(eval_tasks.Rows(np.asarray(labels, np.float64),
                                     np.asarray(predictions, np.float64),
                                     np.asarray(weights, np.float64)))
    for i, (task, source) in enumerate(zip(self._tasks, self._task_source)):
      accumulator.states[i] = task.add(accumulator.states[i], batches[source])
    accumulator.rows = [[] for _ in self._sources]

  def merge_accumulators(self, accumulators) -> _Pending:
    accumulators = iter(accumulators)
    result = next(accumulators)
    self._count(result)
    for accumulator in accumulators:
      self._count(accumulator)
      result.states = [task.merge(state, other) for task, state, other
                       in zip(self._tasks, result.states, accumulator.states)]
    return result

  def compact(self, accumulator: _Pending) -> _Pending:
    self._count(accumulator)
    return accumulator

  def extract_output(self, accumulator: _Pending) -> Dict[Any, Any]:
    self._count(accumulator)
    output = {}
    for task, state in zip(self._tasks, accumulator.states):
      output.update(task.output(state))
    return output


def _row(label, prediction, weight) -> Tuple[float, np.ndarray, float]:
  """An example as the tasks count it: its class id, its probability vector, its weight."""
  label, prediction = np.asarray(label), np.asarray(prediction)
  if label.size != 1 or prediction.ndim != 1 or prediction.size < 2:
    raise ValueError(
        'the Evaluator\'s shared metrics expect one class id per example and a vector of '
        f'class probabilities (the models models/model.py exports); got label {label!r} '
        f'and prediction {prediction!r}')
  return float(label.reshape(-1)[0]), prediction, float(weight)


class _Building(threading.local):
  active = False


_BUILDING = _Building()


@contextlib.contextmanager
def _unshared():
  """While building the shared computation, our metrics give TFMA's base computations."""
  _BUILDING.active = True
  try:
    yield
  finally:
    _BUILDING.active = False


def _shares(metric_config) -> bool:
  if not metric_config.module:
    return False
  cls = getattr(importlib.import_module(metric_config.module), metric_config.class_name, None)
  return bool(getattr(cls, 'shares_base_computations', False))


# Per EvalConfig (its bytes): every metric of a config asks, the Evaluator has one config.
_SHARED: Dict[bytes, Tuple[metric_types.MetricComputation, frozenset]] = {}


def _shared_computation(eval_config) -> Tuple[metric_types.MetricComputation, frozenset]:
  """The one computation of every task in the EvalConfig's metrics of ours; and its tasks' ids."""
  cache_key = eval_config.SerializeToString(deterministic=True)
  if cache_key not in _SHARED:
    specs = []
    for spec in eval_config.metrics_specs:
      ours = type(spec)()
      ours.CopyFrom(spec)
      del ours.metrics[:]
      # Only metrics that give their base computations up: another metric's
      # would be counted twice, here and by TFMA.
      ours.metrics.extend(m for m in spec.metrics if _shares(m))
      specs.append(ours)
    with _unshared():
      computations = metric_specs.to_computations(specs, eval_config=eval_config)
    _SHARED[cache_key] = _combined(computations, eval_config)
  return _SHARED[cache_key]


def _combined(computations, eval_config) -> Tuple[metric_types.MetricComputation, frozenset]:
  """One computation counting every task among computations; and the ids of those it replaces."""
  tasks, ids = [], set()
  for computation in computations:
    task = eval_tasks.task(computation)
    if task is not None and computation._computation_id() not in ids:  # pylint: disable=protected-access
      ids.add(computation._computation_id())  # pylint: disable=protected-access
      tasks.append(task)
  keys = sorted({key for task in tasks for key in task.keys})
  return (metric_types.MetricComputation(
      keys=keys, preprocessors=None, combiner=SharedCombiner(tasks, eval_config)),
          frozenset(ids))


def share(computations, eval_config) -> list:
  """A metric's computations with its base computations replaced by the shared one.

  Without an EvalConfig (a metric used on its own), the shared combiner holds
  this metric's tasks only.
  """
  if _BUILDING.active:
    return list(computations)
  computations = list(computations)
  shared, ids = (_combined(computations, None) if eval_config is None
                 else _shared_computation(eval_config))
  out = []
  for computation in computations:
    if eval_tasks.task(computation) is None:
      out.append(computation)
    elif computation._computation_id() not in ids:  # pylint: disable=protected-access
      raise ValueError(f'a base computation of ours is missing from the shared one: '
                       f'{computation.keys}')
  if ids:
    out.append(shared)
  return out
