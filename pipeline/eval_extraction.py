"""Each example's label, prediction and weight, extracted once per example, not once per slice.

TFMA's evaluator computes each example's StandardMetricInputs once, fans
the same object out to every slice the example is in (slicer_lib.py,
_FanoutSlicesDoFn: one dict shared by all slice keys) and calls the
combiners on it slice after slice, before the next example. The shared
combiner (pipeline/eval_shared.py) would run to_label_prediction_example_weight
(key lookups, shape checks) once per slice; it asks here instead: the last
element's extractions are kept, per setting.
"""

import threading
from typing import Any, Dict, Tuple



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
