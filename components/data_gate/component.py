"""DataValidationGate: the pipeline stops here on bad or drifted data.

Reads what the validators found and decides, by the dataset description's
policy, whether the span may go on to Transform and Trainer:

* schema anomalies (ExampleValidator: types, domains, ranges, presence,
  unknown or missing columns) always block: the schema is the data contract,
  and a tolerance is expressed in the schema itself (e.g. a new category is
  tolerated up to `distribution_constraints.min_domain_mass`);
* drift between this span and the previous good one (DistributionValidator
  with the schema's comparators) blocks or warns per column
  (`drift: block|warn` in the description);
* concept drift: P(label | feature bin) between the two spans
  (validation/label_drift.py), validation.label_drift in the description.

It always writes a report (report.txt, report.html, report.json) under
<pipeline root>/DataValidationGate/reports/<execution id>/ -- outside the
output artifact, whose directory TFX deletes when an execution fails. When
anything blocks, the execution FAILS with a message that summarises the
findings and names the report; MLMD keeps the message with the FAILED
execution, and nothing downstream runs. Otherwise it publishes a
DataValidationVerdict artifact (passed=1) carrying the report and the ids of
the statistics it judged, which is how PreviousSpanStrategy finds the last
good span.
"""

import json
import os
import time
from typing import Any, Dict, List, Optional

from absl import logging
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from tensorflow_metadata.proto.v0 import anomalies_pb2

from components import executor_failure
from validation import label_drift as label_drift_lib
from metadata import artifacts
from validation import report as vr
import description
from metadata.artifacts import DataValidationVerdict

# Drift is measured on the training split: the largest, and the one the model
# learns from (eval/test are random samples of the same span).
DRIFT_SPLIT = 'train'
REPORTS_DIR = 'reports'

STATISTICS_KEY = 'statistics'
SCHEMA_KEY = 'schema'
ANOMALIES_KEY = 'anomalies'
DRIFT_ANOMALIES_KEY = 'drift_anomalies'
BASELINE_STATISTICS_KEY = 'baseline_statistics'
EXAMPLES_KEY = 'examples'
BASELINE_EXAMPLES_KEY = 'baseline_examples'
DESCRIPTION_KEY = 'description'
VERDICT_KEY = 'verdict'




class DataValidationGateSpec(ComponentSpec):
  PARAMETERS = {DESCRIPTION_KEY: ExecutionParameter(type=str)}
  INPUTS = {
      STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
      SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
      ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      # From the previous span (absent for the first span).
      DRIFT_ANOMALIES_KEY: ChannelParameter(
          type=standard_artifacts.ExampleAnomalies, optional=True),
      BASELINE_STATISTICS_KEY: ChannelParameter(
          type=standard_artifacts.ExampleStatistics, optional=True),
      BASELINE_EXAMPLES_KEY: ChannelParameter(
          type=standard_artifacts.Examples, optional=True),
  }
  OUTPUTS = {VERDICT_KEY: ChannelParameter(type=DataValidationVerdict)}


# --- reading artifacts ---------------------------------------------------------
def _single(input_dict, key) -> Optional[types.Artifact]:
  found = input_dict.get(key) or []
  return found[0] if found else None


def _read_anomalies(path: str) -> Optional[anomalies_pb2.Anomalies]:
  if not fileio.exists(path):
    return None
  with fileio.open(path, 'rb') as f:
    return anomalies_pb2.Anomalies.FromString(f.read())


def _statistics(artifact: types.Artifact, split: str):
  return stats_artifact_utils.load_statistics(artifact, split).proto()


def _span(artifact: Optional[types.Artifact]) -> Optional[int]:
  if artifact is None:
    return None
  try:
    return int(artifact.span)
  except (AttributeError, KeyError, TypeError, ValueError):
    return None


def _source_files(examples: types.Artifact) -> List[str]:
  try:
    return json.loads(examples.get_string_custom_property('source_files') or '[]')
  except ValueError:
    return []


# --- findings --------------------------------------------------------------------
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
def _split_files(examples: types.Artifact, split: str) -> List[str]:
  return sorted(fileio.glob(os.path.join(
      artifact_utils.get_split_uri([examples], split), '*')))


def read_columns(examples: types.Artifact, names: List[str], types_: Dict[str, str],
                 max_rows: int, split: str = DRIFT_SPLIT) -> Dict[str, np.ndarray]:
  """Columns of an Examples split: floats (NaN if missing) or strings ('' if missing)."""
  spec = {n: tf.io.VarLenFeature(tf.string if types_[n] == 'string' else
                                 tf.int64 if types_[n] == 'int' else tf.float32)
          for n in names}
  dataset = tf.data.TFRecordDataset(_split_files(examples, split),
                                    compression_type='GZIP').take(max_rows).batch(4096)
  parts: Dict[str, List[np.ndarray]] = {n: [] for n in names}
  for batch in dataset:
    parsed = tf.io.parse_example(batch, spec)
    for n in names:
      default = b'' if types_[n] == 'string' else (0 if types_[n] == 'int' else np.nan)
      dense = tf.sparse.to_dense(parsed[n], default_value=default).numpy()
      if dense.shape[1] == 0:
        dense = np.full((dense.shape[0], 1), default, dtype=dense.dtype)
      values = dense[:, 0]
      if types_[n] == 'string':
        values = np.array([v.decode('utf-8', 'replace') for v in values], dtype=object)
      else:
        present = tf.sparse.to_dense(tf.sparse.map_values(
            tf.ones_like, parsed[n]), default_value=0).numpy()
        present = present[:, 0] > 0 if present.shape[1] else np.zeros(len(values), bool)
        values = np.where(present, values.astype(np.float64), np.nan)
      parts[n].append(values)
  return {n: (np.concatenate(v) if v else np.array([])) for n, v in parts.items()}


def _label_values(columns: Dict[str, np.ndarray], spec: description.DatasetSpec) -> np.ndarray:
  if not spec.label_rule:
    return columns[spec.label]
  column, factor, times = spec.label_rule
  values = columns[column]
  threshold = factor * columns[times] if times else factor
  positive = np.nan_to_num(values, nan=-np.inf) > np.nan_to_num(threshold, nan=np.inf)
  return np.where(positive, spec.classes[1], spec.classes[0]).astype(object)


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
  prev = read_columns(previous, names, types_, policy.label_drift_max_rows)
  cur = read_columns(current, names, types_, policy.label_drift_max_rows)
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
  findings = []
  for r in results:
    if r.worst is None or r.distance <= policy.label_drift_threshold:
      continue
    w = r.worst
    findings.append(vr.Finding(
        vr.LABEL_DRIFT, r.feature, policy.label_drift_action,
        f'P({spec.label} = {w.label_class} | {r.feature} in {w.bin}) moved from '
        f'{w.previous_rate:.3f} to {w.current_rate:.3f} (z = {w.z:+.1f}, '
        f'{w.previous_rows} -> {w.current_rows} rows): the label depends on '
        f'this column differently than in the previous span',
        'class-rate difference', r.distance, policy.label_drift_threshold,
        chart=vr.label_chart(spec.label, r.feature, w.label_class,
                             [(b.bin, b.previous_rate, b.current_rate) for b in r.bins])))
  return findings


# --- the executor ---------------------------------------------------------------------
def reports_dir(verdict_uri: str) -> str:
  """<pipeline root>/<node>/reports/<execution id>, beside the output artifact."""
  output_dir = os.path.dirname(os.path.dirname(verdict_uri))
  return os.path.join(output_dir, REPORTS_DIR, os.path.basename(verdict_uri))


def evaluate(input_dict: Dict[str, List[types.Artifact]],
             spec: description.DatasetSpec) -> vr.Report:
  """Every finding about the span in `input_dict` (no side effects)."""
  statistics = _single(input_dict, STATISTICS_KEY)
  examples = _single(input_dict, EXAMPLES_KEY)
  baseline_stats = _single(input_dict, BASELINE_STATISTICS_KEY)
  baseline_examples = _single(input_dict, BASELINE_EXAMPLES_KEY)
  drift = _single(input_dict, DRIFT_ANOMALIES_KEY)
  notes: List[str] = []
  seconds: Dict[str, float] = {}
  started = time.time()
  findings = schema_findings(_single(input_dict, ANOMALIES_KEY))
  seconds['schema'] = time.time() - started
  comparisons: List[vr.Comparison] = []
  if baseline_stats is None:
    notes.append('no earlier span has passed validation in this pipeline\'s '
                 'ML Metadata: drift was not checked')
  else:
    previous = _statistics(baseline_stats, DRIFT_SPLIT)
    current = _statistics(statistics, DRIFT_SPLIT)
    if drift is not None:
      found, comparisons = drift_findings(drift, spec, previous, current)
      findings += found
    else:
      notes.append('no DistributionValidator output: feature drift was not checked')
    seconds['drift'] = time.time() - started - seconds['schema']
    if baseline_examples is not None:
      started = time.time()
      findings += label_drift_findings(spec, baseline_examples, examples)
      seconds['label_drift'] = time.time() - started
    else:
      notes.append('the previous span\'s examples were not found: concept '
                   '(label-given-feature) drift was not checked')
  return vr.Report(
      dataset=spec.name, span=_span(statistics), files=_source_files(examples),
      baseline_span=_span(baseline_stats), findings=findings,
      comparisons=comparisons, notes=notes,
      seconds={k: round(v, 3) for k, v in seconds.items()})


class Executor(base_executor.BaseExecutor):
  """Writes the report; fails the execution if anything blocks."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]
         ) -> Optional[execution_result_pb2.ExecutorOutput]:
    self._log_startup(input_dict, output_dict, exec_properties)
    spec = description.DatasetSpec.from_config(json.loads(exec_properties[DESCRIPTION_KEY]))
    verdict = artifact_utils.get_single_instance(output_dict[VERDICT_KEY])
    report = evaluate(input_dict, spec)
    directory = reports_dir(verdict.uri)
    vr.write(report, directory)
    text = report.to_text()
    if not report.passed:
      logging.error('%s', text)
      return executor_failure.reject(executor_failure.FAILED_PRECONDITION, text)
    logging.info('%s', text)
    # The published artifact carries a copy of its report.
    for name in vr.REPORT_FILES:
      fileio.copy(os.path.join(directory, name), os.path.join(verdict.uri, name),
                  overwrite=True)
    statistics = _single(input_dict, STATISTICS_KEY)
    baseline = _single(input_dict, BASELINE_STATISTICS_KEY)
    verdict.set_int_custom_property(artifacts.VERDICT_PASSED, 1)
    verdict.set_int_custom_property(artifacts.VERDICT_STATISTICS_ID, statistics.id)
    verdict.set_int_custom_property('baseline_statistics_id',
                                    baseline.id if baseline else -1)
    verdict.set_int_custom_property('span', report.span if report.span is not None else -1)
    verdict.set_int_custom_property(
        'baseline_span', report.baseline_span if report.baseline_span is not None else -1)
    verdict.set_int_custom_property('blocking', 0)
    verdict.set_int_custom_property('warnings', len(report.warnings))
    verdict.set_string_custom_property('report', report.html_path)
    return None


class DataValidationGate(base_component.BaseComponent):
  """Stops the pipeline on blocking anomalies or drift (see module docstring)."""

  SPEC_CLASS = DataValidationGateSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, spec: description.DatasetSpec, statistics, schema, anomalies,
               examples, drift_anomalies=None, baseline_statistics=None,
               baseline_examples=None):
    super().__init__(spec=DataValidationGateSpec(
        description=json.dumps(spec.to_config()),
        statistics=statistics, schema=schema, anomalies=anomalies,
        examples=examples, drift_anomalies=drift_anomalies,
        baseline_statistics=baseline_statistics,
        baseline_examples=baseline_examples,
        verdict=types.Channel(type=DataValidationVerdict)))
