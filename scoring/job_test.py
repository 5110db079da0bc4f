"""Batch scoring end to end: the Beam job and the command, on exported models."""

import csv
import os

import numpy as np
import pytest
import tensorflow as tf

from cli import score as score_cli
from scoring import job
from scoring import versions
from serving import routing_store
from scoring.conftest import HEADER, random_rows, write_csv
from validation import csv_checks

BEAM = ['--runner=FnApiRunner', '--direct_running_mode=in_memory', '--direct_num_workers=1']


def _read(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def _signature_outputs(model_path, rows):
  """What the exported signature itself answers for these CSV rows."""
  fn = tf.saved_model.load(model_path).signatures['serving_default']
  columns = dict(zip(HEADER, zip(*rows)))
  outputs = fn(
      income=tf.constant([float(v) if v else np.nan for v in columns['income']], tf.float32),
      city=tf.constant(list(columns['city'])),
      score=tf.constant([float(v) for v in columns['score']], tf.float32))
  return {k: v.numpy() for k, v in outputs.items()}


def test_predictions_equal_the_signatures_own_outputs(tmp_path, tiny_spec, serving_dir):
  rows = random_rows(300)
  data = write_csv(str(tmp_path / 'in.csv'), rows)
  out = str(tmp_path / 'scored.csv')
  version = versions.resolve(serving_dir)
  result = job.run(data, out, tiny_spec, version, beam_args=BEAM, batch_size=64)

  assert (result.scored, result.rejected, result.files) == (300, 0, 1)
  scored = {r['row_id']: r for r in _read(out)}
  assert sorted(scored) == sorted(r[0] for r in rows)
  expected = _signature_outputs(version.path, rows)
  for i, row in enumerate(rows):
    got = scored[row[0]]
    probabilities = [float(got[f'probability_{c}']) for c in tiny_spec.classes]
    # Written as float32's shortest text; other batch sizes may move the last bit.
    np.testing.assert_allclose(np.float32(probabilities), expected['probabilities'][i],
                               rtol=1e-6, atol=1e-7)
    assert got['predicted_class'] == expected['classes'][i].decode()
    assert got['model_version'] == '2'
  assert _read(result.rejects) == []


def test_a_directory_of_csvs_cut_into_many_ranges_scores_every_row_once(
    tmp_path, tiny_spec, serving_dir):
  folder = tmp_path / 'monthly'
  expected_ids = []
  for n, name in enumerate(('a', 'b', 'c')):
    rows = random_rows(120, seed=n, prefix=name)
    expected_ids += [r[0] for r in rows]
    header = HEADER if name != 'b' else list(reversed(HEADER))  # order may differ
    if name == 'b':
      rows = [list(reversed(r)) for r in rows]
    write_csv(str(folder / f'{name}.csv'), rows, header)
  (folder / 'notes.txt').write_text('not a csv: ignored')
  out = str(tmp_path / 'scored.csv')
  # 300-byte ranges: every file is read by many workers' worth of ranges.
  result = job.run(str(folder), out, tiny_spec, versions.resolve(serving_dir),
                   beam_args=BEAM, batch_size=16, range_bytes=300)
  ids = [r['row_id'] for r in _read(out)]
  assert sorted(ids) == sorted(expected_ids)
  assert (result.files, result.scored, result.rejected) == (3, 360, 0)


def test_bad_rows_go_to_the_rejects_file_with_file_line_and_column(
    tmp_path, tiny_spec, serving_dir):
  good = random_rows(5)
  lines = [','.join(r) for r in good[:2]] + [
      'bad1,abc,paris,3,f',            # line 4: text in a float column
      'bad2,1.0,paris,3',              # line 5: a field short
      'bad3,nan,paris,3,f',            # line 6: NaN is not a value
      'bad4,1.0,"rome,3,f',            # line 7: unbalanced quote
      ','.join(HEADER),                # line 8: concatenated files
      'bad5,1.0,paris,2.5,f',          # line 9: not an int
  ] + [','.join(r) for r in good[2:]]
  data = tmp_path / 'in.csv'
  data.write_text(','.join(HEADER) + '\n' + '\n'.join(lines) + '\n')
  out = str(tmp_path / 'scored.csv')
  result = job.run(str(data), out, tiny_spec, versions.resolve(serving_dir), beam_args=BEAM)

  assert (result.scored, result.rejected) == (5, 6)
  assert sorted(r['row_id'] for r in _read(out)) == sorted(r[0] for r in good)
  rejects = {int(r['line']): r for r in _read(result.rejects)}
  assert sorted(rejects) == [4, 5, 6, 7, 8, 9]
  assert all(r['file'] == str(data) for r in rejects.values())
  assert rejects[4]['column'] == 'income' and 'not a number' in rejects[4]['reason']
  assert rejects[5]['column'] == '' and '4 field(s)' in rejects[5]['reason']
  assert rejects[6]['column'] == 'income' and 'finite' in rejects[6]['reason']
  assert 'malformed CSV' in rejects[7]['reason']
  assert 'header line is repeated' in rejects[8]['reason']
  assert rejects[9]['column'] == 'score' and 'integer' in rejects[9]['reason']
  # The row itself is kept, so it can be fixed and scored again.
  assert rejects[4]['row'] == 'bad1,abc,paris,3,f'
  assert result.rejects == str(tmp_path / 'scored.rejects.csv')


def test_a_broken_header_is_refused_before_anything_is_written(
    tmp_path, tiny_spec, serving_dir):
  folder = tmp_path / 'in'
  write_csv(str(folder / 'good.csv'), random_rows(3))
  write_csv(str(folder / 'bad.csv'), [r[:2] + r[3:] for r in random_rows(3)],
            header=['row_id', 'income', 'score', 'gender'])  # no city
  out = tmp_path / 'out' / 'scored.csv'
  out.parent.mkdir()
  with pytest.raises(csv_checks.InputDataError) as error:
    job.run(str(folder), str(out), tiny_spec, versions.resolve(serving_dir), beam_args=BEAM)
  [problem] = error.value.problems
  assert (problem.path, problem.line, problem.column) == (str(folder / 'bad.csv'), 1, 'city')
  assert f"{folder / 'bad.csv'}, line 1, column 'city'" in str(error.value)
  assert os.listdir(out.parent) == []


def test_the_command_scores_with_the_stable_version_or_a_named_one(
    tmp_path, tiny_spec, serving_dir, capsys):
  rows = random_rows(40)
  data = write_csv(str(tmp_path / 'in.csv'), rows)
  description = tmp_path / 'tiny.yaml'
  import yaml  # pylint: disable=g-import-not-at-top
  description.write_text(yaml.safe_dump(dict(tiny_spec.raw)))

  def score(out, *extra):
    code = score_cli.main(['--input', data, '--out', str(tmp_path / out), '--serving-dir',
                           serving_dir, '--description', str(description), *extra, *BEAM])
    assert code == 0, capsys.readouterr().err
    return _read(str(tmp_path / out))

  newest = score('newest.csv')
  assert {r['model_version'] for r in newest} == {'2'}
  assert 'the newest version' in capsys.readouterr().out
  state = versions.state_file(serving_dir)
  routing_store.write(state, routing_store.SavedRouting(labels={'stable': 1},
                                                        rejected={2: 'rolled back'}))
  try:
    stable = score('stable.csv')
    assert {r['model_version'] for r in stable} == {'1'}
    printed = capsys.readouterr().out
    assert 'stable, from' in printed and 'scored   : 40 row(s)' in printed
    named = score('named.csv', '--version', '2')
  finally:
    os.remove(state)
  assert {r['model_version'] for r in named} == {'2'}
  # Each version's own weights: same rows, the named run repeats the newest one.
  assert [r['probability_good'] for r in named] == [r['probability_good'] for r in newest]
  assert [r['probability_good'] for r in stable] != [r['probability_good'] for r in newest]
  expected = _signature_outputs(os.path.join(serving_dir, '1'), rows)
  by_id = {r['row_id']: r for r in stable}
  assert [by_id[r[0]]['predicted_class'] for r in rows] == [
      c.decode() for c in expected['classes']]


def test_the_command_refuses_an_unknown_version_and_a_broken_file(
    tmp_path, tiny_spec, serving_dir, capsys):
  import yaml  # pylint: disable=g-import-not-at-top
  description = tmp_path / 'tiny.yaml'
  description.write_text(yaml.safe_dump(dict(tiny_spec.raw)))
  data = write_csv(str(tmp_path / 'in.csv'), random_rows(3))
  base = ['--input', data, '--out', str(tmp_path / 'o.csv'), '--serving-dir', serving_dir,
          '--description', str(description), *BEAM]
  assert score_cli.main(base + ['--version', '7']) == 1
  assert 'no version 7' in capsys.readouterr().err
  broken = tmp_path / 'broken.csv'
  broken.write_text('row_id,income,city,score,gender,colour\nx,1,paris,1,f,red\n')
  assert score_cli.main(['--input', str(broken)] + base[2:]) == 1
  assert f"{broken}, line 1, column 'colour': unknown column" in capsys.readouterr().err
  assert not (tmp_path / 'o.csv').exists()


def test_the_command_finds_the_pushed_model_from_the_work_directory(
    tmp_path, tiny_spec, serving_dir, capsys):
  import yaml  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  description = tmp_path / 'tiny.yaml'
  description.write_text(yaml.safe_dump(dict(tiny_spec.raw)))
  work_dir = tmp_path / 'work'
  pushed = configs.serving_model_dir(str(work_dir), 'tiny')  # where local_runner pushes
  os.makedirs(os.path.dirname(pushed))
  os.symlink(serving_dir, pushed)
  data = write_csv(str(tmp_path / 'in.csv'), random_rows(4))
  out = tmp_path / 'o.csv'
  assert score_cli.main(['--input', data, '--out', str(out), '--work-dir', str(work_dir),
                         '--description', str(description), *BEAM]) == 0
  assert 'model tiny version 2' in capsys.readouterr().out
  assert len(_read(str(out))) == 4
