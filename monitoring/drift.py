"""Drift of every model input in a window against the served version's training data.

The same computation as the skew command (validation/skew.py): the window's
records become tf.Examples, TFDV computes their statistics with the schema
(validation/example_stats.py), and TFDV's validate_statistics compares them
with the training statistics through the schema's skew comparators:
L-infinity distance for categorical inputs, Jensen-Shannon divergence for
numeric ones. A threshold the description's `monitoring.thresholds.drift`
sets replaces the schema's for that feature (on a copy of the schema).
"""

import copy
import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence

from description import monitoring as policy_lib
from tensorflow_metadata.proto.v0 import schema_pb2

JENSEN_SHANNON, L_INFINITY = 'jensen_shannon', 'l_infinity'
_MEASURE_NAMES = {'Jensen-Shannon divergence': JENSEN_SHANNON,
                  'L-infinity distance': L_INFINITY}


@dataclasses.dataclass(frozen=True)
class Measurement:
  feature: str
  measure: str  # jensen_shannon | l_infinity
  value: float
  threshold: float

  @property
  def drifted(self) -> bool:
    return self.value > self.threshold

  def to_json(self) -> Dict[str, Any]:
    return dict(dataclasses.asdict(self), drifted=self.drifted)


def comparator_thresholds(schema: schema_pb2.Schema) -> Dict[str, tuple]:
  """feature -> (measure, threshold) of the schema's skew comparators."""
  out = {}
  for feature in schema.feature:
    comparator = feature.skew_comparator
    if comparator.HasField('jensen_shannon_divergence'):
      out[feature.name] = (JENSEN_SHANNON, comparator.jensen_shannon_divergence.threshold)
    elif comparator.HasField('infinity_norm'):
      out[feature.name] = (L_INFINITY, comparator.infinity_norm.threshold)
  return out


def effective_schema(schema: schema_pb2.Schema, features: Sequence[str],
                     thresholds: policy_lib.FeatureThresholds) -> schema_pb2.Schema:
  """The schema with the description's drift thresholds, and comparators only
  on model inputs (slices and ids are not what the model sees)."""
  out = copy.deepcopy(schema)
  wanted = set(features)
  for feature in out.feature:
    if feature.name not in wanted:
      feature.ClearField('skew_comparator')
      continue
    threshold = thresholds.get(feature.name)
    if threshold is None:
      continue
    comparator = feature.skew_comparator
    if comparator.HasField('jensen_shannon_divergence'):
      comparator.jensen_shannon_divergence.threshold = threshold
    else:
      comparator.infinity_norm.threshold = threshold
  return out


def measure(records: Sequence[Mapping[str, Any]], spec, schema: schema_pb2.Schema,
            training_statistics) -> tuple:
  """(measurements, problems): the window against the training statistics.

  `problems` are inputs that do not parse as their declared type (reported,
  not fatal: the rest of the record still counts).
  """
  # TFDV and TensorFlow load here, not at import: generating rules and
  # dashboards needs only the thresholds above.
  from validation import example_stats  # pylint: disable=g-import-not-at-top
  from validation import skew  # pylint: disable=g-import-not-at-top
  types = {c.name: c.type for c in spec.columns}
  problems: List[Any] = []
  examples = []
  for r in records:
    inputs = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v)
              for k, v in (r.get('inputs') or {}).items() if k in types}
    where = f'request {r.get("request_id", "?")}'
    examples.append(skew._example(inputs, types, where, problems, None))  # pylint: disable=protected-access
  if not examples:
    return [], problems
  serving_stats = example_stats.statistics(examples, schema)
  _, comparisons = skew.distribution_skew(training_statistics, serving_stats, schema)
  measurements = [Measurement(c.feature, _MEASURE_NAMES.get(c.measure, c.measure),
                              float(c.value), float(c.threshold)) for c in comparisons]
  return sorted(measurements, key=lambda m: m.feature), problems


def drifted_features(measurements: Sequence[Measurement]) -> List[str]:
  return sorted({m.feature for m in measurements if m.drifted})


def from_json(items: Optional[Sequence[Mapping[str, Any]]]) -> List[Measurement]:
  return [Measurement(i['feature'], i['measure'], i['value'], i['threshold'])
          for i in items or ()]
