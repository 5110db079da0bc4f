"""DataValidationGate's executor: judge the span, write the report, pass or fail.

The findings come from validation/gate_findings.py; this module reads the
input artifacts, writes the report outside the output artifact (whose
directory TFX deletes when an execution fails) and publishes the verdict.
"""

import json
import os
import time
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import artifact_utils

import description
from components import executor_failure
from metadata import artifacts
from validation import gate_findings
from validation import report as vr

REPORTS_DIR = 'reports'

STATISTICS_KEY = 'statistics'
SCHEMA_KEY = 'schema'
ANOMALIES_KEY = 'anomalies'
DRIFT_ANOMALIES_KEY = 'drift_anomalies'
BASELINE_STATISTICS_KEY = 'baseline_statistics'
EXAMPLES_KEY = 'examples'
BASELINE_EXAMPLES_KEY = 'baseline_examples'
VERDICT_KEY = 'verdict'


def _single(input_dict, key) -> Optional[types.Artifact]:
  found = input_dict.get(key) or []
  return found[0] if found else None


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


def reports_dir(verdict_uri: str) -> str:
  """<pipeline root>/<node>/reports/<execution id>, beside the output artifact."""
  output_dir = os.path.dirname(os.path.dirname(verdict_uri))
  return os.path.join(output_dir, REPORTS_DIR, os.path.basename(verdict_uri))


def _drift(input_dict, spec: description.DatasetSpec, baseline_stats,
           notes: List[str], seconds: Dict[str, float]):
  """(findings, comparisons) against the previous good span."""
  findings, comparisons = [], []
  started = time.time()
  split = gate_findings.DRIFT_SPLIT
  drift = _single(input_dict, DRIFT_ANOMALIES_KEY)
  if drift is not None:
    findings, comparisons = gate_findings.drift_findings(
        drift, spec, _statistics(baseline_stats, split),
        _statistics(_single(input_dict, STATISTICS_KEY), split))
  else:
    notes.append('no DistributionValidator output: feature drift was not checked')
  seconds['drift'] = time.time() - started
  baseline_examples = _single(input_dict, BASELINE_EXAMPLES_KEY)
  if baseline_examples is not None:
    started = time.time()
    findings += gate_findings.label_drift_findings(
        spec, baseline_examples, _single(input_dict, EXAMPLES_KEY))
    seconds['label_drift'] = time.time() - started
  else:
    notes.append('the previous span\'s examples were not found: concept '
                 '(label-given-feature) drift was not checked')
  return findings, comparisons


def evaluate(input_dict: Dict[str, List[types.Artifact]],
             spec: description.DatasetSpec) -> vr.Report:
  """Every finding about the span in `input_dict` (no side effects)."""
  statistics = _single(input_dict, STATISTICS_KEY)
  baseline_stats = _single(input_dict, BASELINE_STATISTICS_KEY)
  notes: List[str] = []
  seconds: Dict[str, float] = {}
  started = time.time()
  findings = gate_findings.schema_findings(_single(input_dict, ANOMALIES_KEY))
  seconds['schema'] = time.time() - started
  comparisons: List[vr.Comparison] = []
  if baseline_stats is None:
    notes.append('no earlier span has passed validation in this pipeline\'s '
                 'ML Metadata: drift was not checked')
  else:
    found, comparisons = _drift(input_dict, spec, baseline_stats, notes, seconds)
    findings += found
  return vr.Report(
      dataset=spec.name, span=_span(statistics),
      files=_source_files(_single(input_dict, EXAMPLES_KEY)),
      baseline_span=_span(baseline_stats), findings=findings,
      comparisons=comparisons, notes=notes,
      seconds={k: round(v, 3) for k, v in seconds.items()})


def _publish(verdict: types.Artifact, report: vr.Report, directory: str,
             input_dict) -> None:
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


class Executor(base_executor.BaseExecutor):
  """Writes the report; fails the execution if anything blocks."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]
         ) -> Optional[execution_result_pb2.ExecutorOutput]:
    self._log_startup(input_dict, output_dict, exec_properties)
    spec = description.from_exec_property(exec_properties[description.EXEC_PROPERTY])
    verdict = artifact_utils.get_single_instance(output_dict[VERDICT_KEY])
    report = evaluate(input_dict, spec)
    directory = reports_dir(verdict.uri)
    vr.write(report, directory)
    text = report.to_text()
    if not report.passed:
      logging.error('%s', text)
      return executor_failure.reject(executor_failure.FAILED_PRECONDITION, text)
    logging.info('%s', text)
    _publish(verdict, report, directory, input_dict)
    return None
