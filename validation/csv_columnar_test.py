"""The column-at-a-time checks and encoding agree with the row reader exactly."""

import copy

import pytest

import description
from models.conftest import TINY_DESCRIPTION
from validation import csv_checks
from validation import csv_columnar
from validation import csv_examples

HEADER = 'row_id,income,city,score,gender,outcome\n'
# Negative, zero, exponent and float32-rounded numbers, empty cells in every
# type, non-ASCII text, an 18-digit int, a line-ending mix and a blank line.
VARIED = ('r1,10.5,paris,1,f,good\n'
          'r2,,rome,-2,m,bad\n'
          'r3,-0.0,,0,,late\n'
          'r4,3.4e38,Zürich,-999999999999999999,f,good\r\n'
          '\n'
          'r5,.25,x,7,m,good\n'
          'r6,1e-45,"",123456789012345678,f,bad\n'.replace('""', 'y')
          + 'r7,0.1,rome,,m,late\n')


@pytest.fixture
def spec():
  return description.parse(TINY_DESCRIPTION, source='tiny.yaml')


def _write(tmp_path, text):
  path = tmp_path / 'data.csv'
  path.write_bytes(text.encode('utf-8'))
  return str(path)


def _row_reader_bytes(path, spec, redactor=None):
  types = {c.name: c.type for c in spec.columns}
  return [e.SerializeToString(deterministic=True)
          for e in csv_examples.read_examples(path, types, redactor)]


def test_columnar_bytes_equal_the_row_readers(spec, tmp_path):
  path = _write(tmp_path, HEADER + VARIED)
  [checked] = csv_checks.check_files([path], spec)
  assert checked.columnar and checked.rows == 7
  types = {c.name: c.type for c in spec.columns}
  columnar = list(csv_examples.read_serialized(path, types, None, columnar=True))
  assert columnar == _row_reader_bytes(path, spec)


def test_personal_data_is_dropped_and_hashed_as_the_row_reader_does(tmp_path):
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw['columns'].update({'name': {'type': 'string', 'treatment': 'exclude'},
                         'email': {'type': 'string', 'treatment': 'exclude'}})
  raw['pii'] = {'key_env': 'TINY_KEY', 'columns': {'name': 'hash', 'email': 'drop'}}
  spec = description.parse(raw, source='tiny.yaml')
  redactor = description.redactor(spec, {'TINY_KEY': 'secret'})
  path = _write(tmp_path, 'name,email,' + HEADER + ''.join(
      f'Ann Lee,ann@example.com,{line}\n' if i % 2 else f',,{line}\n'
      for i, line in enumerate(VARIED.replace('\r', '').replace('\n\n', '\n').splitlines())))
  [checked] = csv_checks.check_files([path], spec)
  assert checked.columnar
  types = {c.name: c.type for c in spec.columns}
  columnar = list(csv_examples.read_serialized(path, types, redactor, columnar=True))
  assert columnar == _row_reader_bytes(path, spec, redactor)
  assert b'ann@' not in b''.join(columnar) and b'Ann Lee' not in b''.join(columnar)


@pytest.mark.parametrize('row', [
    'r9,1_000.5,rome,1,f,good\n',      # Python reads it; not a canonical form
    'r9, 5,rome,1,f,good\n',           # spaces around a number
    'r9,+5,rome,+1,f,good\n',          # a plus sign (Arrow's casts refuse it)
    'r9,5,rome,1234567890123456789,f,good\n',  # 19 digits
    'r9,5,"rome",1,f,good\n',          # a quote anywhere
])
def test_forms_only_the_row_reader_judges_are_left_to_it(spec, tmp_path, row):
  path = _write(tmp_path, HEADER + VARIED + row)
  types = {c.name: c.type for c in spec.columns}
  header = HEADER.strip().split(',')
  assert csv_columnar.check_rows(path, header, types, 'outcome', spec.classes) is None
  [checked] = csv_checks.check_files([path], spec)  # The row reader accepts them.
  assert not checked.columnar and checked.rows == 8
  assert (list(csv_examples.read_serialized(path, types, None, checked.columnar))
          == _row_reader_bytes(path, spec))


@pytest.mark.parametrize('row, message', [
    ('r9,abc,rome,1,f,good\n', "'abc' is not a number"),
    ('r9,1e39,rome,1,f,good\n', 'too large'),
    ('r9,1,rome,1,f\n', '5 field(s) where the header has 6'),
    ('r9,1,rome,1,f,written_off\n', "label 'written_off' is not one of"),
])
def test_a_problem_gets_the_row_readers_message(spec, tmp_path, row, message):
  path = _write(tmp_path, HEADER + VARIED + row)
  with pytest.raises(csv_checks.InputDataError) as raised:
    csv_checks.check_files([path], spec)
  [problem] = raised.value.problems
  assert problem.line == 10 and message in problem.message


@pytest.mark.parametrize('text', [
    HEADER + VARIED.replace('\n', '\r'),                       # CR-only line ends
    HEADER + VARIED + 'r9,1,ro\x00me,1,f,good\n',              # a NUL byte
    HEADER + VARIED + f'r9,1,{"x" * 140_000},1,f,good\n',      # over csv's field limit
])
def test_files_the_two_readers_split_or_refuse_differently_go_to_the_row_reader(
    spec, tmp_path, text):
  """Review finding: pyarrow read these where the row reader refuses or splits otherwise."""
  path = _write(tmp_path, text)
  types = {c.name: c.type for c in spec.columns}
  header = HEADER.strip().split(',')
  assert csv_columnar.check_rows(path, header, types, 'outcome', spec.classes) is None
  with pytest.raises(csv_checks.InputDataError):  # the row reader names what is wrong
    csv_checks.check_files([path], spec)
