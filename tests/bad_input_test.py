"""Bad input ends in a clear error, and nothing is lost.

Every case runs the whole pipeline (local_runner.main) on a span 3 broken in
one way, after a good run on span 2 pushed a model (tests/conftest.py). Each
must: exit 3 with a message naming the file, the row or column and what is
wrong; stop before Transform (so nothing is trained or pushed); leave the
failed execution, with that message, in ML Metadata; and leave the serving
directory holding the last good model.
"""

import os
import re

import pytest

from pipeline import validation_outcome

pytestmark = pytest.mark.e2e

TRAINING_NODES = ('Transform', 'Trainer', 'Evaluator', 'Pusher')


def _lines(env):
  with open(env.clean_span(3)) as f:
    return f.read().splitlines()


def _with_cell(lines, line_number, column, value):
  """The CSV text with one cell replaced (line numbers count the header as 1)."""
  header = lines[0].split(',')
  out = list(lines)
  cells = out[line_number - 1].split(',')
  cells[header.index(column)] = value
  out[line_number - 1] = ','.join(cells)
  return '\n'.join(out) + '\n'


def _column_edit(lines, column, edit):
  header = lines[0].split(',')
  i = header.index(column)
  rows = [line.split(',') for line in lines]
  for n, row in enumerate(rows[1:], start=1):
    row[i] = edit(n, row[i])
  return '\n'.join(','.join(r) for r in rows) + '\n'


def assert_rejected(env, run, node, data_file, *expected):
  """The whole contract of a rejected input (see the module docstring)."""
  assert run.code == 3, run.text[-4000:]
  assert f'DATA REJECTED by {node}' in run.err
  component = run.summary.component(node)
  assert component is not None and component.state == 'FAILED'
  recorded = validation_outcome.recorded_message(env.metadata, component.execution_id)
  for text in (data_file,) + expected:
    assert text in recorded, (text, recorded)
    assert text in run.text, (text, run.text[-4000:])
  for later in TRAINING_NODES:
    assert run.summary.component(later) is None, f'{later} ran on bad data'
  assert run.summary.artifact('PushedModel') is None
  assert env.pushed() == env.pushed_before
  [version] = env.pushed_before
  assert os.path.exists(os.path.join(env.serving_dir, version, 'saved_model.pb'))
  if node == validation_outcome.GATE_NODE:
    report = re.search(r'see the report: (\S+\.html)', run.err).group(1)
    assert os.path.exists(report) and report in recorded
  return recorded


def test_the_good_run_pushed_one_model(validation_pipeline):
  env = validation_pipeline
  assert env.good.state('Pusher') == 'COMPLETE'
  assert env.good.state('DataValidationGate') == 'COMPLETE'
  assert env.good.summary.pushed_destination.startswith(env.serving_dir)


def test_malformed_row(validation_pipeline):
  env = validation_pipeline
  lines = _lines(env)
  lines[49] = ','.join(lines[49].split(',')[:-3])  # Line 50 loses 3 fields.
  root = env.case_root('malformed_row', '\n'.join(lines) + '\n')
  data = os.path.join(root, 'span-3', 'data.csv')
  assert_rejected(env, env.run(root), 'CsvExampleGen', data,
                  'line 50', 'malformed row: 21 field(s) where the header has 24')


def test_required_column_missing(validation_pipeline):
  env = validation_pipeline
  lines = _lines(env)
  i = lines[0].split(',').index('debt_to_income')
  text = '\n'.join(','.join(c for j, c in enumerate(l.split(',')) if j != i)
                   for l in lines) + '\n'
  root = env.case_root('missing_column', text)
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  "column 'debt_to_income'", 'required column is missing')


def test_string_in_a_numeric_column(validation_pipeline):
  env = validation_pipeline
  root = env.case_root('string_in_number', _with_cell(
      _lines(env), 20, 'annual_income', 'fifty thousand'))
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  "line 20, column 'annual_income'", "'fifty thousand' is not a number")


def test_new_category_beyond_the_schemas_tolerance(validation_pipeline):
  env = validation_pipeline
  # 10% of rows: the schema tolerates 1% outside loan_purpose's domain.
  text = _column_edit(_lines(env), 'loan_purpose',
                      lambda n, v: 'crypto' if n % 10 == 0 else v)
  root = env.case_root('new_category', text)
  assert_rejected(env, env.run(root), validation_outcome.GATE_NODE,
                  os.path.join(root, 'span-3', 'data.csv'),
                  'loan_purpose', 'crypto')


def test_empty_file(validation_pipeline):
  env = validation_pipeline
  root = env.case_root('empty_file', '')
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  'the file is empty: no header and no rows')


def test_label_outside_its_classes(validation_pipeline):
  env = validation_pipeline
  root = env.case_root('unknown_label', _with_cell(
      _lines(env), 30, 'outcome', 'written_off'))
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  "line 30, column 'outcome'", "label 'written_off' is not one of")


def test_all_null_feature(validation_pipeline):
  env = validation_pipeline
  text = _column_edit(_lines(env), 'annual_income', lambda n, v: '')
  root = env.case_root('all_null', text)
  recorded = assert_rejected(env, env.run(root), validation_outcome.GATE_NODE,
                             os.path.join(root, 'span-3', 'data.csv'),
                             'schema', 'annual_income')
  assert re.search(r'schema\s+annual_income', recorded)


def test_duplicated_header(validation_pipeline):
  env = validation_pipeline
  lines = _lines(env)
  lines.insert(99, lines[0])  # Two files concatenated: the header at line 100.
  root = env.case_root('duplicated_header', '\n'.join(lines) + '\n')
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  'line 100', 'the header line is repeated')


def test_nan_inf_and_huge_values(validation_pipeline):
  env = validation_pipeline
  lines = _lines(env)
  text = _with_cell(lines, 10, 'annual_income', 'nan')
  text = _with_cell(text.splitlines(), 11, 'loan_amount', 'inf')
  text = _with_cell(text.splitlines(), 12, 'interest_rate', '1e39')
  root = env.case_root('nan_inf_huge', text)
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  "line 10, column 'annual_income': 'nan' is not a finite number",
                  "line 11, column 'loan_amount': 'inf' is not a finite number",
                  "line 12, column 'interest_rate': '1e39' is too large")


def test_extra_unknown_column(validation_pipeline):
  env = validation_pipeline
  lines = _lines(env)
  text = '\n'.join([lines[0] + ',notes'] + [l + ',n/a' for l in lines[1:]]) + '\n'
  root = env.case_root('extra_column', text)
  assert_rejected(env, env.run(root), 'CsvExampleGen',
                  os.path.join(root, 'span-3', 'data.csv'),
                  "column 'notes'", 'unknown column')


def test_drifted_span(validation_pipeline):
  env = validation_pipeline
  run = env.drifted('data_drift')
  recorded = assert_rejected(
      env, run, validation_outcome.GATE_NODE,
      os.path.join(env.scenarios['data_drift'], 'span-3', 'data.csv'),
      'annual_income', 'Jensen-Shannon divergence', 'against span 2')
  assert re.search(r'BLOCK\s+drift\s+annual_income', recorded)
