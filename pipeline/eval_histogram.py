"""TFMA's calibration histogram (AUC, CalibrationPlot) counted with numpy, to the same buckets.

TFMA's _CalibrationHistogramCombiner (calibration_histogram.py) keeps a
dict of Bucket objects per accumulator. Beam encodes an accumulator
between stages item by item, pickling every Bucket: with AUC's 1,000
buckets per class and TFMA's hot-key fanout (8 accumulators per slice),
463,000 Bucket pickles for 2,000 examples on the default data, plus their
Python merges. Here an accumulator is a dense array of sums per bucket,
pickled as its non-empty rows, filled from buffered examples with
np.bincount; extract_output gives TFMA's sorted list of Buckets (a bucket
exists once an example fell in it, as in TFMA). The bucket index is TFMA's
formula in the same float64 operations; the sums differ from TFMA's only in
summation order.
"""

from typing import Any, Dict, List

import numpy as np
from tensorflow_model_analysis.metrics import calibration_histogram
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.metrics import metric_util

from pipeline import eval_extraction

# Examples buffered per accumulator before they are counted.
_FLUSH_EVERY = 1024


class _Histogram:
  """Per bucket: examples seen, weighted labels, predictions, examples; plus pending examples."""

  __slots__ = ('counts', 'sums', 'pending')

  def __init__(self, size: int):
    self.counts = np.zeros(size, np.int64)
    self.sums = np.zeros((size, 3))
    self.pending: List[tuple] = []

  def __getstate__(self):
    # Only the buckets an example fell in: most slices fill few of AUC's 1,002.
    used = np.flatnonzero(self.counts)
    return len(self.counts), used, self.counts[used], self.sums[used], self.pending

  def __setstate__(self, state):
    size, used, counts, sums, self.pending = state
    self.counts = np.zeros(size, np.int64)
    self.sums = np.zeros((size, 3))
    self.counts[used] = counts
    self.sums[used] = sums


class FastHistogram(calibration_histogram._CalibrationHistogramCombiner):  # pylint: disable=protected-access
  """TFMA's calibration histogram combiner, counting with numpy."""

  def __init__(self, original: Any):
    self.__dict__.update(original.__dict__)
    self._extraction = eval_extraction.Extraction(
        metric_util.to_label_prediction_example_weight, dict(
            eval_config=self._eval_config, model_name=self._key.model_name,
            output_name=self._key.output_name, sub_key=self._key.sub_key,
            fractional_labels=self._fractional_labels, flatten=True,
            aggregation_type=self._aggregation_type, class_weights=self._class_weights,
            example_weighted=self._example_weighted), eval_extraction.floats)

  def create_accumulator(self) -> _Histogram:
    # Buckets 0 and num_buckets + 1 take what falls left and right of the range.
    return _Histogram(self._num_buckets + 2)

  def add_input(self, accumulator: _Histogram, element) -> _Histogram:
    accumulator.pending.extend(eval_extraction.extracted(element, self._extraction))
    if len(accumulator.pending) >= _FLUSH_EVERY:
      self._count(accumulator)
    return accumulator

  def _bucket_indices(self, values: np.ndarray) -> np.ndarray:
    # TFMA's _bucket_index: ((v - left) / range * num_buckets) + 1, truncated,
    # below 0 -> 0, from num_buckets + 1 on -> num_buckets + 1.
    index = (values - self._left) / self._range * self._num_buckets + 1
    if np.isnan(index).any():
      raise ValueError('NaN label or prediction in a calibration histogram')  # int(nan) in TFMA
    last = self._num_buckets + 1
    return np.where(index < 0, 0, np.where(index >= last, last, np.trunc(index))).astype(np.int64)

  def _count(self, accumulator: _Histogram) -> None:
    if not accumulator.pending:
      return
    labels, predictions, weights = np.asarray(accumulator.pending, float).T
    index = self._bucket_indices(predictions if self._prediction_based_bucketing else labels)
    size = len(accumulator.counts)
    accumulator.counts += np.bincount(index, minlength=size)
    for column, weighted in enumerate((labels * weights, predictions * weights, weights)):
      accumulator.sums[:, column] += np.bincount(index, weights=weighted, minlength=size)
    accumulator.pending = []

  def merge_accumulators(self, accumulators) -> _Histogram:
    accumulators = iter(accumulators)
    result = next(accumulators)
    self._count(result)
    for accumulator in accumulators:
      self._count(accumulator)
      result.counts += accumulator.counts
      result.sums += accumulator.sums
    return result

  def compact(self, accumulator: _Histogram) -> _Histogram:
    self._count(accumulator)
    return accumulator

  def extract_output(self, accumulator: _Histogram) -> Dict[metric_types.PlotKey, Any]:
    self._count(accumulator)
    return {self._key: [
        calibration_histogram.Bucket(int(i), *(float(v) for v in accumulator.sums[i]))
        for i in np.flatnonzero(accumulator.counts)]}
