"""Each example's label, prediction and weight, extracted once per class, not per slice and metric.

TFMA's evaluator computes each example's StandardMetricInputs once, fans
the same object out to every slice the example is in (slicer_lib.py,
_FanoutSlicesDoFn: one dict shared by all slice keys) and calls every
combiner on it in turn (metrics_plots_and_validations_evaluator.py,
_ComputationsCombineFn.add_input), before the next example. Each of TFMA's
combiners runs to_label_prediction_example_weight itself (class
binarization, key lookups): on the default data, 8 slices x ~18 combiners
per example, half of the Evaluator's time. Our combiners
(pipeline/eval_metrics.py, pipeline/eval_histogram.py) ask here instead:
the last element's extractions are kept, per setting.
"""

import threading
from typing import Any, Dict, Tuple

from tensorflow_model_analysis.metrics import metric_util


class _LastElement(threading.local):
  """The element last extracted and its values per extraction setting (per thread)."""

  def __init__(self):
    super().__init__()
    # The element itself is held, so its id cannot be reused while cached.
    self.element = None
    self.values: Dict[Any, list] = {}


_LAST = _LastElement()


def _hashable(value) -> Any:
  if hasattr(value, 'SerializeToString'):  # eval_config
    return ('proto', type(value).__name__, value.SerializeToString(deterministic=True))
  if isinstance(value, dict):  # class_weights
    return ('dict', tuple(sorted(value.items())))
  return value


class Extraction:
  """One way of extracting (label, prediction, weight): function, its arguments, a conversion.

  Its key, by value, is computed once: a combiner extracts with the same
  settings for every element.
  """

  def __init__(self, function, kwargs: Dict[str, Any], convert):
    self.function, self.kwargs, self.convert = function, kwargs, convert
    self.key = (function, convert) + tuple(
        (k, _hashable(v)) for k, v in sorted(kwargs.items()))


def extracted(element, extraction: Extraction) -> list:
  """extraction.convert(label, prediction, weight) of what it yields for element.

  Cached for the last element (see the module docstring), per setting.
  """
  last = _LAST
  if last.element is not element:
    last.element, last.values = element, {}
  values = last.values.get(extraction.key)
  if values is None:
    convert = extraction.convert
    values = [convert(*v) for v in extraction.function(element, **extraction.kwargs)]
    last.values[extraction.key] = values
  return values


def scalars(label, prediction, weight) -> Tuple[float, float, float]:
  """As TFMA's explicit-threshold confusion matrices convert them."""
  return (metric_util.safe_to_scalar(label), metric_util.safe_to_scalar(prediction),
          metric_util.safe_to_scalar(weight))


def floats(label, prediction, weight) -> Tuple[float, float, float]:
  """As TFMA's calibration histogram converts them."""
  return float(label), float(prediction), float(weight)


def as_yielded(*values) -> tuple:
  return values
