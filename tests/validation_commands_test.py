"""The schema refresh and skew commands, against the good run's ML Metadata.

Here the training side is found through ML Metadata (the pushed model's
lineage); validation/skew_test.py covers the checks on their own.
"""

import contextlib
import io
import shutil

import pandas as pd
import pytest

from cli import schema_tool
from cli import skew as skew_command
import description
from pipeline import configs

pytestmark = pytest.mark.e2e


def _call(main, argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(argv)
  return code, out.getvalue() + err.getvalue()


def test_schema_refresh_of_an_unchanged_schema_reports_no_difference(
    validation_pipeline, tmp_path):
  env = validation_pipeline
  schema = tmp_path / 'schema.pbtxt'
  shutil.copy(configs.curated_schema_path('credit_risk'), schema)
  code, out = _call(schema_tool.main, [
      '--description', env.description, '--work-dir', env.work_dir,
      '--schema', str(schema)])
  assert code == 0, out
  assert 'No difference' in out


def test_schema_refresh_shows_the_difference_for_review(validation_pipeline, tmp_path):
  env = validation_pipeline
  schema = tmp_path / 'schema.pbtxt'
  text = open(configs.curated_schema_path('credit_risk')).read()
  # A checked-in schema that does not know one loan purpose the data has.
  schema.write_text(text.replace('value: "medical" ', ''))
  code, out = _call(schema_tool.main, [
      '--description', env.description, '--work-dir', env.work_dir,
      '--schema', str(schema)])
  assert code == 1
  assert "~ loan_purpose: domain gains ['medical']" in out
  assert '+  value: "medical"' in out  # The unified diff.
  assert open(schema).read().count('medical') == 0  # Not written without --write.
  code, out = _call(schema_tool.main, [
      '--description', env.description, '--work-dir', env.work_dir,
      '--schema', str(schema), '--write'])
  written = open(schema).read()
  assert 'value: "medical"' in written
  assert written.startswith('# Curated schema of the credit_risk dataset')


def _serving_csv(env, path, transform=None):
  spec = description.load(env.description)
  frame = pd.read_csv(env.clean_span(2), dtype=str, keep_default_na=False)
  # The whole span: the thresholds are for samples of thousands of rows.
  frame = frame[[spec.id_column] + spec.feature_names]
  if transform:
    frame = transform(frame)
  frame.to_csv(path, index=False)
  return str(path)


def test_skewed_serving_requests_show_all_three_kinds(validation_pipeline, tmp_path):
  env = validation_pipeline

  def break_it(frame):
    # Income sent in thousands, a column serving should not carry, and a
    # cell that is not a number.
    income = pd.to_numeric(frame['annual_income'], errors='coerce') / 1000
    frame['annual_income'] = income.map(lambda v: '' if pd.isna(v) else f'{v:.2f}')
    frame['gender'] = 'female'
    frame.loc[5, 'credit_score'] = 'n/a'
    return frame

  requests = _serving_csv(env, tmp_path / 'requests.csv', break_it)
  code, out = _call(skew_command.main, [
      '--serving', requests, '--description', env.description,
      '--work-dir', env.work_dir, '--report-dir', str(tmp_path / 'report')])
  assert code == 1, out
  assert 'schema skew' in out and 'gender' in out and 'SERVING' in out
  assert f"{requests}, line 7, column 'credit_score': 'n/a' is not an integer" in out
  assert 'distribution skew annual_income' in out
  assert 'feature skew      annual_income' in out
  page = open(tmp_path / 'report' / 'report.html').read()
  assert 'training' in page and 'serving' in page and '<svg' in page


def test_skew_reads_the_model_servers_request_log(validation_pipeline, tmp_path):
  env = validation_pipeline
  from serving import request_log  # pylint: disable=g-import-not-at-top
  spec = description.load(env.description)
  frame = pd.read_csv(env.clean_span(2), keep_default_na=False)
  log = request_log.RequestLog(str(tmp_path / 'log'))
  records = []
  for i, row in frame.iterrows():
    inputs = {c: (None if row[c] == '' else row[c]) for c in spec.feature_names}
    records.append({'request_id': f'q{i}', 'request_key': row[spec.id_column],
                    'model': 'credit_risk', 'version': 1, 'inputs': inputs})
  log.write('credit_risk', 1, records)
  log.close()
  code, out = _call(skew_command.main, [
      '--request-log', str(tmp_path / 'log'), '--description', env.description,
      '--work-dir', env.work_dir, '--report-dir', str(tmp_path / 'report')])
  assert code == 0, out
  assert 'none found' in out
  assert 'the data the latest pushed model was trained on' in out
  assert '5000 serving example(s)' in out
  assert 'feature skew: 5000 request(s) matched' in out
