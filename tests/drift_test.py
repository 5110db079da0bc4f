"""Drift between spans, on the default generator's scenarios, in the pipeline.

Span 2 (clean) passed the gate in the good run (tests/conftest.py); each
scenario's span 3 is compared with it, found through ML Metadata. Which
signal catches what:

* clean: nothing fires (every comparator below its threshold, no
  label-given-feature shift);
* data_drift: per-column distribution distance from DistributionValidator
  (annual_income and loan_amount JSD, loan_term_months and the label's
  L-infinity; channel only warns, being a tag);
* concept_drift: not the per-column distances (the class mix moves by ~1.5
  points, below the label's threshold) but the label given a feature:
  P(outcome | debt_to_income bin) moves by ~0.18.
"""

import json
import os

import pytest

from components.data_gate import component as data_gate
from pipeline import validation_outcome

pytestmark = pytest.mark.e2e


def _report(env, run):
  gate = run.summary.component(validation_outcome.GATE_NODE)
  directory = validation_outcome.report_dir(env.pipeline_root, gate.execution_id)
  with open(os.path.join(directory, 'report.json')) as f:
    return json.load(f)


def test_clean_span_passes_against_the_previous_span_from_mlmd(validation_pipeline):
  env = validation_pipeline
  run = env.run_to_gate(env.scenarios['clean'], span=3)
  assert run.state(validation_outcome.GATE_NODE) == 'COMPLETE'
  verdict = run.summary.artifact(data_gate.DataValidationVerdict.TYPE_NAME)
  assert verdict.custom_properties['passed'].int_value == 1
  # The baseline is the statistics artifact of the good run's span 2, which
  # the resolver found in ML Metadata.
  [good_stats] = [a for a in env.good.summary.artifacts['ExampleStatistics']
                  if '/StatisticsGen/' in a.uri]
  assert verdict.custom_properties['baseline_statistics_id'].int_value == good_stats.id
  assert verdict.custom_properties['baseline_span'].int_value == 2
  report = _report(env, run)
  assert report['passed'] and not report['findings']
  assert len(report['comparisons']) == 20
  assert all(not c['drifted'] for c in report['comparisons'])
  # Passing the gate alone trains nothing (this run stopped there).
  assert run.summary.component('Transform') is None


def test_data_drift_is_caught_by_column_distances(validation_pipeline):
  env = validation_pipeline
  run = env.drifted('data_drift')
  assert run.code == 3
  report = _report(env, run)
  assert report['baseline_span'] == 2 and not report['passed']
  blocking = {(f['kind'], f['feature']) for f in report['findings']
              if f['action'] == 'block'}
  assert {('drift', 'annual_income'), ('drift', 'loan_amount'),
          ('drift', 'outcome')} <= blocking
  warned = {(f['kind'], f['feature']) for f in report['findings']
            if f['action'] == 'warn'}
  assert ('drift', 'channel') in warned
  income = next(c for c in report['comparisons'] if c['feature'] == 'annual_income')
  assert income['value'] > income['threshold'] and income['drifted']


def test_concept_drift_is_caught_by_the_label_given_a_feature(validation_pipeline):
  env = validation_pipeline
  run = env.drifted('concept_drift')
  assert run.code == 3 and 'DATA REJECTED by DataValidationGate' in run.err
  report = _report(env, run)
  kinds = {(f['kind'], f['feature']) for f in report['findings']}
  assert ('label drift', 'debt_to_income') in kinds
  # The per-column comparators, the label's included, do not see it.
  assert not [f for f in report['findings'] if f['kind'] == 'drift']
  outcome = next(c for c in report['comparisons'] if c['feature'] == 'outcome')
  assert not outcome['drifted']
  html = open(os.path.join(os.path.dirname(run.summary.metadata_path),
                           'pipeline_root', 'DataValidationGate', 'reports',
                           str(run.summary.component('DataValidationGate').execution_id),
                           'report.html')).read()
  assert 'P(outcome = ' in html and '<svg' in html
