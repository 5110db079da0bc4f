"""Row-level CSV checks: every problem names file, line and column."""

import pytest

from validation import csv_checks
import description
from models.conftest import TINY_DESCRIPTION

HEADER = 'row_id,income,city,score,gender,outcome\n'
GOOD = 'r1,10.5,paris,1,f,good\nr2,,rome,2,m,bad\n'


@pytest.fixture
def spec():
  return description.parse(TINY_DESCRIPTION, source='tiny.yaml')


def _write(tmp_path, text, name='data.csv'):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def _problems(spec, tmp_path, text, **kwargs):
  with pytest.raises(csv_checks.InputDataError) as raised:
    csv_checks.check_files([_write(tmp_path, text)], spec, **kwargs)
  return raised.value


def test_good_file_passes_and_counts_rows(spec, tmp_path):
  [result] = csv_checks.check_files([_write(tmp_path, HEADER + GOOD + '\n')], spec)
  assert result.rows == 2  # The blank line is not a row.
  assert result.header == HEADER.strip().split(',')


@pytest.mark.parametrize('text, line, column, message', [
    (HEADER + 'r1,10.5,paris,1,f\n', 2, None, '5 field(s) where the header has 6'),
    (HEADER + 'r1,abc,paris,1,f,good\n', 2, 'income', "'abc' is not a number"),
    (HEADER + GOOD + 'r3,1,rome,2.5,f,good\n', 4, 'score', "'2.5' is not an integer"),
    (HEADER + 'r1,nan,paris,1,f,good\n', 2, 'income', 'not a finite number'),
    (HEADER + 'r1,-inf,paris,1,f,good\n', 2, 'income', 'not a finite number'),
    (HEADER + 'r1,1e39,paris,1,f,good\n', 2, 'income', 'too large'),
    (HEADER + 'r1,1,paris,99999999999999999999,f,good\n', 2, 'score', '64-bit'),
    (HEADER + GOOD + HEADER, 4, None, 'header line is repeated'),
    (HEADER + 'r1,1,paris,1,f,written_off\n', 2, 'outcome', "label 'written_off' is not one of"),
    (HEADER + 'r1,1,paris,1,f,\n', 2, 'outcome', 'the label is missing'),
    (HEADER + 'r1,1,"paris,1,f,good\n', 2, None, 'malformed CSV'),
])
def test_row_problems_name_file_line_and_column(spec, tmp_path, text, line, column,
                                                message):
  error = _problems(spec, tmp_path, text)
  [problem] = error.problems
  assert problem.path.endswith('data.csv')
  assert (problem.line, problem.column) == (line, column)
  assert message in problem.message
  assert f'line {line}' in str(error) and 'data.csv' in str(error)


@pytest.mark.parametrize('header, column, message', [
    ('row_id,income,city,score,gender\n', 'outcome', 'required column is missing'),
    ('row_id,income,city,score,gender,outcome,extra\n', 'extra', 'unknown column'),
    ('row_id,income,city,score,gender,outcome,city\n', 'city', 'names this column 2 times'),
])
def test_header_problems_name_the_column(spec, tmp_path, header, column, message):
  error = _problems(spec, tmp_path, header + 'r1,1,paris,1,f,good,x\n')
  found = [p for p in error.problems if p.column == column]
  assert found and message in found[0].message and found[0].line == 1
  assert 'tiny.yaml' in found[0].message or 'times' in message


def test_empty_and_header_only_files(spec, tmp_path):
  assert 'the file is empty' in str(_problems(spec, tmp_path, ''))
  assert 'header but no data rows' in str(_problems(spec, tmp_path, HEADER))


def test_serving_files_need_no_label(spec, tmp_path):
  header = 'row_id,income,city,score,gender\n'
  [result] = csv_checks.check_files([_write(tmp_path, header + 'r1,1,paris,1,f\n')],
                                    spec, serving=True)
  assert result.rows == 1


def test_files_of_a_span_must_share_their_header(spec, tmp_path):
  first = _write(tmp_path, HEADER + GOOD, 'a.csv')
  reordered = 'income,row_id,city,score,gender,outcome\n10,r9,paris,1,f,good\n'
  second = _write(tmp_path, reordered, 'b.csv')
  with pytest.raises(csv_checks.InputDataError, match='header differs from that of'):
    csv_checks.check_files([first, second], spec)


def test_many_problems_are_capped_but_counted(spec, tmp_path):
  rows = ''.join(f'r{i},x{i},paris,1,f,good\n' for i in range(50))
  error = _problems(spec, tmp_path, HEADER + rows)
  assert len(error.problems) == csv_checks.MAX_PROBLEMS_PER_FILE
  assert error.total == 50
  assert 'and 30 more' in str(error)
