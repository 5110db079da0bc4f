"""DataValidationGate: decisions, report, verdict, on generator spans."""

import copy
import json
import os

import pytest
from tfx import types
from tfx.types import standard_artifacts

from testing import span_artifacts
from components.data_gate import component as data_gate
from components.data_gate import executor as gate_executor
from components import executor_failure
from validation import csv_examples
from validation import report as validation_report
from data import generator
import description

ROWS = 3000


@pytest.fixture(scope='module')
def spans(tmp_path_factory):
  """Span 2 and three versions of span 3 (clean, data drift, concept drift)."""
  root = tmp_path_factory.mktemp('gate_data')
  paths = {}
  for scenario in ('clean', 'data_drift', 'concept_drift'):
    out = root / scenario
    generator.generate(str(out), spans=3, rows_per_span=ROWS, scenario=scenario,
                       seed=42, verbose=False)
    paths[scenario] = str(out / 'span-3' / 'data.csv')
  paths['previous'] = str(root / 'clean' / 'span-2' / 'data.csv')
  return paths


@pytest.fixture(scope='module', autouse=True)
def examples_as_example_gen_writes_them(credit_spec):
  """The gate sees what CheckedCsvExampleGen writes: personal data dropped.

  SpanArtifacts (testing/) reads CSVs without that treatment (yet), so it is
  applied here, as ExampleGen applies it.
  """
  redactor = description.redactor(credit_spec)
  read = csv_examples.read_examples
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(csv_examples, 'read_examples',
                  lambda path, types, given=None: read(path, types, given or redactor))
    yield


@pytest.fixture(scope='module')
def built(tmp_path_factory, spans, credit_spec, credit_schema_path,
          examples_as_example_gen_writes_them):  # pylint: disable=unused-argument
  maker = span_artifacts.SpanArtifacts(str(tmp_path_factory.mktemp('gate_artifacts')),
                                 credit_spec, credit_schema_path)
  return maker, {name: maker.span(path, 2 if name == 'previous' else 3)
                 for name, path in spans.items()}


def _run(maker, spec, inputs, tmp_path):
  verdict = data_gate.DataValidationVerdict()
  verdict.uri = str(tmp_path / 'DataValidationGate' / 'verdict' / '7')
  os.makedirs(verdict.uri)
  result = gate_executor.Executor().Do(
      inputs, {'verdict': [verdict]},
      {description.EXEC_PROPERTY: description.to_exec_property(spec)})
  return result, verdict


def test_clean_span_passes_and_publishes_a_verdict(built, credit_spec, tmp_path):
  maker, span = built
  result, verdict = _run(maker, credit_spec,
                         maker.gate_inputs(span['clean'], span['previous']), tmp_path)
  assert result is None
  assert verdict.get_int_custom_property('passed') == 1
  assert verdict.get_int_custom_property('statistics_id') == span['clean'][1].id
  assert verdict.get_int_custom_property('baseline_span') == 2
  report = json.load(open(os.path.join(verdict.uri, 'report.json')))
  assert report['passed'] and report['baseline_span'] == 2
  # Every comparator of the schema was measured, none above its threshold.
  assert len(report['comparisons']) == 20
  assert not [c for c in report['comparisons'] if c['drifted']]


def test_data_drift_fails_the_execution_naming_columns_and_report(
    built, credit_spec, tmp_path):
  maker, span = built
  result, verdict = _run(maker, credit_spec,
                         maker.gate_inputs(span['data_drift'], span['previous']),
                         tmp_path)
  assert result.execution_result.code == executor_failure.FAILED_PRECONDITION
  message = result.execution_result.result_message
  assert 'BLOCKED' in message and 'span 3 against span 2' in message
  assert 'annual_income' in message and 'Jensen-Shannon divergence' in message
  assert 'WARN' in message and 'channel' in message  # A tag: warns only.
  report_html = os.path.join(gate_executor.reports_dir(verdict.uri), 'report.html')
  assert f'report: {report_html}' in message
  page = open(report_html).read()
  assert '<svg' in page and 'annual_income: share in each tenth' in page
  # Nothing was published in the output artifact (TFX deletes it on failure).
  assert not os.listdir(verdict.uri)


def test_concept_drift_is_caught_by_the_label_given_a_feature(
    built, credit_spec, tmp_path):
  maker, span = built
  inputs = maker.gate_inputs(span['concept_drift'], span['previous'])
  report = gate_executor.evaluate(inputs, credit_spec)
  kinds = {(f.kind, f.feature) for f in report.blocking}
  # The marginals barely move (the label's class mix by ~1.5 points); the
  # label's dependence on debt_to_income does.
  assert (validation_report.LABEL_DRIFT, 'debt_to_income') in kinds
  assert not [f for f in report.findings if f.kind == validation_report.DRIFT]


def test_warn_policy_lets_drift_through_with_warnings(built, credit_spec, tmp_path):
  maker, span = built
  raw = copy.deepcopy(credit_spec.raw)
  raw['validation'] = {'drift_default': 'warn', 'label_drift': {'action': 'warn'}}
  lenient = description.parse(raw, 'lenient.yaml')
  result, verdict = _run(maker, lenient,
                         maker.gate_inputs(span['data_drift'], span['previous']),
                         tmp_path)
  assert result is None
  assert verdict.get_int_custom_property('warnings') >= 4
  assert 'WARN' in open(os.path.join(verdict.uri, 'report.txt')).read()


def test_schema_anomaly_blocks_and_names_the_column(built, spans, credit_spec,
                                                   tmp_path):
  maker, span = built
  path = tmp_path / 'span-3.csv'
  lines = open(spans['clean']).read().splitlines()
  header = lines[0].split(',')
  column = header.index('loan_purpose')
  rows = [line.split(',') for line in lines[1:]]
  for row in rows[:300]:  # 10% of rows: beyond the 1% the schema tolerates.
    row[column] = 'crypto'
  path.write_text('\n'.join([lines[0]] + [','.join(r) for r in rows]) + '\n')
  inputs = maker.gate_inputs(maker.span(str(path), 3), span['previous'])
  report = gate_executor.evaluate(inputs, credit_spec)
  schema = [f for f in report.blocking if f.kind == validation_report.SCHEMA]
  assert [f.feature for f in schema] == ['loan_purpose']
  assert 'crypto' in schema[0].message


def test_first_span_has_nothing_to_compare(built, credit_spec, tmp_path):
  maker, span = built
  result, verdict = _run(maker, credit_spec, maker.gate_inputs(span['previous']),
                         tmp_path)
  assert result is None
  assert verdict.get_int_custom_property('baseline_span') == -1
  assert 'drift was not checked' in open(os.path.join(verdict.uri, 'report.txt')).read()


def test_gate_component_declares_its_inputs(credit_spec):
  channel = types.Channel
  gate = data_gate.DataValidationGate(
      spec=credit_spec,
      statistics=channel(type=standard_artifacts.ExampleStatistics),
      schema=channel(type=standard_artifacts.Schema),
      anomalies=channel(type=standard_artifacts.ExampleAnomalies),
      examples=channel(type=standard_artifacts.Examples))
  assert gate.outputs['verdict'].type is data_gate.DataValidationVerdict
  spec = data_gate.DataValidationGateSpec
  assert all(spec.INPUTS[k].optional for k in
             ('drift_anomalies', 'baseline_statistics', 'baseline_examples'))
  assert description.from_exec_property(
      gate.exec_properties[description.EXEC_PROPERTY]) == credit_spec
