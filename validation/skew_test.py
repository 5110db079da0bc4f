"""Training/serving skew on artifacts built without a pipeline (--statistics)."""

import contextlib
import io
import os

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from testing import span_artifacts
from cli import skew as skew_command
from validation import skew
from data import generator


@pytest.fixture(scope='module')
def training(tmp_path_factory, credit_spec, credit_schema_path):
  root = tmp_path_factory.mktemp('skew')
  generator.generate(str(root / 'data'), spans=1, rows_per_span=1500, seed=11,
                     verbose=False)
  maker = span_artifacts.SpanArtifacts(str(root / 'artifacts'), credit_spec,
                                 credit_schema_path)
  csv_path = str(root / 'data' / 'span-1' / 'data.csv')
  examples, statistics, _ = maker.span(csv_path, 1)
  return csv_path, examples, statistics


def _requests(csv_path, spec, path, edit=None):
  frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
  frame = frame[[spec.id_column] + spec.feature_names]
  if edit:
    edit(frame)
  frame.to_csv(path, index=False)
  return str(path)


def _main(argv):
  out = io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    code = skew_command.main(argv)
  return code, out.getvalue()


def test_serving_columns_are_the_inputs_and_the_id(credit_spec, credit_schema_path):
  schema = tfdv.load_schema_text(credit_schema_path)
  assert set(skew.serving_features(schema)) == set(credit_spec.feature_names) | {
      credit_spec.id_column}


def test_cells_that_do_not_parse_are_reported_not_fatal(tmp_path, credit_spec):
  path = tmp_path / 'r.csv'
  path.write_text('application_id,annual_income,credit_score\n'
                  'a1,12.5,700\na2,lots,710\na3,nan,n/a\na4,1\n')
  problems = []
  examples = skew.examples_from_csv(str(path), credit_spec, problems)
  assert len(examples) == 3
  assert [(p.line, p.column) for p in problems] == [
      (3, 'annual_income'), (4, 'annual_income'), (4, 'credit_score'), (5, None)]
  assert 'annual_income' not in examples[1].features.feature  # Dropped, reported.


def test_same_data_has_no_skew_and_a_unit_change_has_all_kinds(
    training, tmp_path, credit_spec):
  csv_path, examples, statistics = training
  args = ['--statistics', statistics.uri, '--examples', examples.uri,
          '--report-dir', str(tmp_path / 'report')]
  code, out = _main(['--serving', _requests(csv_path, credit_spec, tmp_path / 'a.csv')]
                    + args)
  assert code == 0, out
  assert 'none found' in out and 'feature skew: 1500 request(s) matched' in out

  def thousands(frame):
    income = pd.to_numeric(frame['annual_income'], errors='coerce') / 1000
    frame['annual_income'] = income.map(lambda v: '' if pd.isna(v) else f'{v:.3f}')
    frame['channel'] = 'online'

  code, out = _main(['--serving', _requests(csv_path, credit_spec, tmp_path / 'b.csv',
                                            thousands)] + args)
  assert code == 1
  assert 'schema skew       channel' in out
  assert 'distribution skew annual_income' in out
  assert 'feature skew      annual_income' in out
  assert os.path.exists(tmp_path / 'report' / 'report.html')


def test_missing_training_data_is_an_error_not_a_crash(tmp_path):
  code, out = _main(['--serving', str(tmp_path / 'x.csv'),
                     '--work-dir', str(tmp_path / 'nowhere')])
  assert code == 2 and out.startswith('skew: ')
