"""What the data gate found: findings from the validators' outputs.

* schema_findings: ExampleValidator's anomalies, all blocking (the schema is
  the data contract);
* drift_findings: DistributionValidator's span-to-span comparisons, block or
  warn per column (`drift:` in the description);
* label_drift_findings: P(label | feature bin) between two spans' Examples
  (validation/label_drift.py), per validation.label_drift.
"""

import os
from typing import Dict, List, Optional

import numpy as np
from tfx import types
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from tensorflow_metadata.proto.v0 import anomalies_pb2

import description
from validation import example_columns
from validation import label_drift as label_drift_lib
from validation import report as vr

# Drift is measured on the training split: the largest, and the one the model
# learns from (eval/test are random samples of the same span).
DRIFT_SPLIT = 'train'


def _read_anomalies(path: str) -> Optional[anomalies_pb2.Anomalies]:
  if not fileio.exists(path):
    return None
  with fileio.open(path, 'rb') as f:
    return anomalies_pb2.Anomalies.FromString(f.read())


def schema_findings(anomalies_artifact: types.Artifact) -> List[vr.Finding]:
  """ExampleValidator's anomalies, one finding per column and problem, all blocking."""
  merged: Dict[tuple, vr.Finding] = {}
  for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
    anomalies = _read_anomalies(os.path.join(
        artifact_utils.get_split_uri([anomalies_artifact], split), 'SchemaDiff.pb'))
    if anomalies is None:
      continue
    infos = list(anomalies.anomaly_info.items())
    if anomalies.HasField('dataset_anomaly_info'):
      infos.append(('(dataset)', anomalies.dataset_anomaly_info))
    for name, info in infos:
      reasons = list(info.reason) or [info]
      for reason in reasons:
        message = (reason.description or reason.short_description or
                   info.description or 'anomaly')
        key = (name, reason.short_description or message)
        finding = merged.setdefault(key, vr.Finding(
            vr.SCHEMA, name, vr.BLOCK, message))
        finding.splits.append(split)
  return list(merged.values())


_MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: 'L-infinity distance',
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE:
        'Jensen-Shannon divergence',
}


def drift_findings(drift_artifact: types.Artifact, spec: description.DatasetSpec,
                   previous_stats, current_stats):
  """(findings, comparisons) from DistributionValidator's train-vs-train output."""
  split_pair = f'{DRIFT_SPLIT}_{DRIFT_SPLIT}'
  anomalies = _read_anomalies(os.path.join(
      drift_artifact.uri, f'SplitPair-{split_pair}', 'SchemaDiff.pb'))
  if anomalies is None:
    return [], []
  findings, comparisons = [], []
  for info in anomalies.drift_skew_info:
    name = '.'.join(info.path.step)
    for m in info.drift_measurements:
      measure = _MEASURES.get(m.type, anomalies_pb2.DriftSkewInfo.Measurement
                              .Type.Name(m.type))
      comparisons.append(vr.Comparison(name, measure, m.value, m.threshold,
                                       spec.drift_action(name)))
  for c in comparisons:
    if c.drifted:
      findings.append(vr.Finding(
          vr.DRIFT, c.feature, c.action,
          'distribution moved from the previous span',
          c.measure, c.value, c.threshold,
          chart=vr.chart_for(c.feature, previous_stats, current_stats)))
  compared = {c.feature for c in comparisons}
  for name, info in anomalies.anomaly_info.items():
    if name in compared:
      continue  # Already reported from its measurement above.
    for reason in info.reason:
      findings.append(vr.Finding(
          vr.DRIFT, name, spec.drift_action(name),
          reason.description or reason.short_description))
  return findings, comparisons


# --- concept drift ------------------------------------------------------------------
def _label_values(columns: Dict[str, np.ndarray], spec: description.DatasetSpec) -> np.ndarray:
  if not spec.label_rule:
    return columns[spec.label]
  column, factor, times = spec.label_rule
  values = columns[column]
  threshold = factor * columns[times] if times else factor
  positive = np.nan_to_num(values, nan=-np.inf) > np.nan_to_num(threshold, nan=np.inf)
  return np.where(positive, spec.classes[1], spec.classes[0]).astype(object)


def _finding(spec: description.DatasetSpec, result) -> vr.Finding:
  policy, w = spec.validation, result.worst
  return vr.Finding(
      vr.LABEL_DRIFT, result.feature, policy.label_drift_action,
      f'P({spec.label} = {w.label_class} | {result.feature} in {w.bin}) moved from '
      f'{w.previous_rate:.3f} to {w.current_rate:.3f} (z = {w.z:+.1f}, '
      f'{w.previous_rows} -> {w.current_rows} rows): the label depends on '
      f'this column differently than in the previous span',
      'class-rate difference', result.distance, policy.label_drift_threshold,
      chart=vr.label_chart(spec.label, result.feature, w.label_class,
                           [(b.bin, b.previous_rate, b.current_rate) for b in result.bins]))


def label_drift_findings(spec: description.DatasetSpec, previous: types.Artifact,
                         current: types.Artifact) -> List[vr.Finding]:
  policy = spec.validation
  numeric = [c.name for c in spec.features()
             if c.treatment in ('scale', 'bucketize') and c.type != 'string']
  categorical = [c.name for c in spec.features() if c.name not in numeric]
  label_columns = ([spec.label_rule[0]] + ([spec.label_rule[2]] if spec.label_rule[2] else [])
                   if spec.label_rule else [spec.label])
  names = sorted(set(numeric + categorical + label_columns))
  types_ = {c.name: c.type for c in spec.columns}
  prev = example_columns.read_columns(previous, names, types_,
                                      policy.label_drift_max_rows, DRIFT_SPLIT)
  cur = example_columns.read_columns(current, names, types_,
                                     policy.label_drift_max_rows, DRIFT_SPLIT)
  for columns in (prev, cur):
    columns['__label__'] = _label_values(columns, spec)
    for name in categorical:
      if types_[name] != 'string':  # An int category (e.g. a loan term).
        columns[name] = np.array(['' if np.isnan(v) else str(int(v))
                                  for v in columns[name]], dtype=object)
  results = label_drift_lib.label_drift(
      prev, cur, '__label__', spec.classes, numeric, categorical,
      num_bins=policy.label_drift_bins, min_bin_rows=policy.label_drift_min_bin_rows,
      min_z=policy.label_drift_min_z)
  return [_finding(spec, r) for r in results
          if r.worst is not None and r.distance > policy.label_drift_threshold]
