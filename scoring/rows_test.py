"""Reading input files by byte range: every line once, with its true line number."""

import pytest

from scoring import rows
from scoring.conftest import HEADER
from validation import csv_checks


def _read_all(path, spec, range_bytes, batch_size=3):
  headers = rows.check_headers([path], spec)
  batches, rejects = [], []
  for part in rows.plan_ranges([path], range_bytes):
    for item in rows.read_range(part, headers[path], spec, ['row_id', 'income'], batch_size):
      (rejects if isinstance(item, rows.Reject) else batches).append(item)
  return batches, rejects


@pytest.mark.parametrize('range_bytes', [1, 7, 19, 64, 10_000])
def test_every_line_is_read_once_whatever_the_ranges(tmp_path, tiny_spec, range_bytes):
  lines = [','.join(HEADER)] + [f'r{i},{i}.5,paris,1,f' for i in range(1, 30)]
  lines[10] = 'r10,oops,paris,1,f'  # line 11
  lines.insert(20, '')              # a blank line 21 shifts the rest down by one
  path = tmp_path / 'in.csv'
  path.write_bytes(('\r\n'.join(lines) + '\r\n').encode())
  batches, rejects = _read_all(str(path), tiny_spec, range_bytes)
  read = [(line, rid) for b in batches for line, rid in zip(b.lines, b.columns['row_id'])]
  # Line n holds r{n-1}, and r{n-2} after the blank line.
  expected = [(n, f'r{n - 2 if n > 21 else n - 1}') for n in range(2, 32) if n not in (11, 21)]
  assert sorted(read) == expected
  assert [(r.line, r.column, r.text) for r in rejects] == [(11, 'income', 'r10,oops,paris,1,f')]
  assert all(len(b) <= 3 for b in batches)


def test_undecodable_bytes_are_rejected_with_the_line(tmp_path, tiny_spec):
  path = tmp_path / 'in.csv'
  path.write_bytes(b'row_id,income,city,score,gender\nr1,1,paris,1,f\nr2,1,par\xffis,1,f\n')
  batches, rejects = _read_all(str(path), tiny_spec, 10_000)
  assert [b.lines for b in batches] == [[2]]
  [reject] = rejects
  assert reject.line == 3 and 'UTF-8' in reject.reason and 'par' in reject.text


def test_inputs_are_a_file_a_directory_or_a_pattern(tmp_path):
  (tmp_path / 'b.csv').write_text('x')
  (tmp_path / 'a.csv').write_text('x')
  (tmp_path / 'c.txt').write_text('x')
  assert rows.input_files(str(tmp_path)) == [str(tmp_path / 'a.csv'), str(tmp_path / 'b.csv')]
  assert rows.input_files(str(tmp_path / '*.txt')) == [str(tmp_path / 'c.txt')]
  with pytest.raises(csv_checks.InputDataError, match='no such file'):
    rows.input_files(str(tmp_path / 'missing.csv'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(csv_checks.InputDataError, match='no \\*.csv file'):
    rows.input_files(str(tmp_path / 'empty'))


def test_every_broken_header_is_named_with_file_line_and_column(tmp_path, tiny_spec):
  empty = tmp_path / 'empty.csv'
  empty.write_text('')
  twice = tmp_path / 'twice.csv'
  twice.write_text('row_id,income,city,score,gender,city\n')
  labelled = tmp_path / 'labelled.csv'  # the label may be there, or not
  labelled.write_text('row_id,income,city,score,gender,outcome\nr,1,a,1,f,good\n')
  with pytest.raises(csv_checks.InputDataError) as error:
    rows.check_headers([str(empty), str(twice), str(labelled)], tiny_spec)
  found = {(p.path, p.line, p.column) for p in error.value.problems}
  assert found == {(str(empty), None, None), (str(twice), 1, 'city')}
