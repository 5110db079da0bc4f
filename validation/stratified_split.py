"""Stratified train/eval/test splits for small data.

Hash splitting gives each split the right share of rows only on average: with
100 rows of which 30 positive, a 60/20/20 hash split can give 21/2/7
positives, and an eval split with 2 positives measures nothing. Below the
description's `splits.stratify_below_rows`, ExampleGen therefore splits each
class separately with exact quotas: every split gets each class's share to
within one example (the 100-row example gets 18/6/6 positives and 42/14/14
negatives).

Within a class, rows are ordered by a hash of their content, so the split is
random-looking but the same for the same data (reruns and caching agree).
"""

import hashlib
from typing import Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf

import description

MISSING_CLASS = '(missing)'


def quotas(count: int, weights: Sequence[int], offset: int = 0) -> List[int]:
  """Splits `count` items by `weights`: each part is the floor or the ceiling
  of its exact share (largest remainders get the extra items; `offset`
  rotates ties so that, over several classes, no split always wins them)."""
  total = float(sum(weights))
  exact = [count * w / total for w in weights]
  parts = [int(np.floor(e)) for e in exact]
  left = count - sum(parts)
  n = len(weights)
  order = sorted(range(n), key=lambda i: (-(exact[i] - parts[i]), (i - offset) % n))
  for i in order[:left]:
    parts[i] += 1
  return parts


def assign(keys: Sequence[bytes], weights: Sequence[int],
           offset: int = 0) -> List[int]:
  """Split index per item of one class, given each item's ordering key."""
  order = sorted(range(len(keys)), key=lambda i: keys[i])
  parts = quotas(len(keys), weights, offset)
  result = [0] * len(keys)
  position = 0
  for split, size in enumerate(parts):
    for i in order[position:position + size]:
      result[i] = split
    position += size
  return result


def example_class(example: tf.train.Example, spec: description.DatasetSpec) -> str:
  """The label class of a raw example (derived labels computed as Transform does)."""
  feature = example.features.feature
  if spec.label_rule:
    column, factor, times = spec.label_rule
    value = _number(feature.get(column))
    if value is None:
      return spec.classes[0]
    threshold = factor
    if times:
      base = _number(feature.get(times))
      if base is None:
        return spec.classes[0]
      threshold = factor * base
    return spec.classes[1] if value > threshold else spec.classes[0]
  f = feature.get(spec.label)
  if f is None:
    return MISSING_CLASS
  kind = f.WhichOneof('kind')
  values = getattr(f, kind).value if kind else []
  if not values:
    return MISSING_CLASS
  v = values[0]
  return v.decode('utf-8', 'replace') if isinstance(v, bytes) else str(v)


def _number(f):
  if f is None:
    return None
  kind = f.WhichOneof('kind')
  if kind not in ('float_list', 'int64_list'):
    return None
  values = getattr(f, kind).value
  return float(values[0]) if values else None


def _content_key(example: tf.train.Example) -> bytes:
  return hashlib.sha256(example.SerializeToString(deterministic=True)).digest()


class _AssignClass(beam.DoFn):

  def __init__(self, weights: Sequence[int], class_order: Dict[str, int]):
    self._weights = list(weights)
    self._class_order = class_order

  def process(self, element: Tuple[str, Iterable[Tuple[bytes, tf.train.Example]]]):
    label, keyed = element
    keyed = list(keyed)
    offset = self._class_order.get(label, len(self._class_order))
    for (_, example), split in zip(keyed, assign([k for k, _ in keyed],
                                                 self._weights, offset)):
      yield split, example


@beam.ptransform_fn
def StratifiedSplit(examples, spec: description.DatasetSpec,  # pylint: disable=invalid-name
                    weights: Sequence[int]):
  """PCollection[tf.Example] -> list of PCollections, one per split.

  Groups each class on one worker: meant for data below the stratification
  threshold (10,000 rows by default), where that is cheap.
  """
  class_order = {c: i for i, c in enumerate(spec.classes)}
  assigned = (
      examples
      | 'KeyByClass' >> beam.Map(
          lambda ex: (example_class(ex, spec), (_content_key(ex), ex)))
      | 'GroupByClass' >> beam.GroupByKey()
      | 'AssignSplits' >> beam.ParDo(_AssignClass(weights, class_order)))
  parts = assigned | 'Partition' >> beam.Partition(
      lambda kv, n: kv[0], len(weights))
  return tuple(part | f'Values[{i}]' >> beam.Map(lambda kv: kv[1])
               for i, part in enumerate(parts))
