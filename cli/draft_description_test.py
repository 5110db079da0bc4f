"""The draft command: writes once, never over an edited file, and says why it
cannot draft."""

import yaml

import description
from cli import draft_description


def _csv(tmp_path):
  path = tmp_path / 'shop.csv'
  path.write_text('order_id,basket,channel,returned\n' + ''.join(
      f'{i},{10 + i % 17}.5,{"web" if i % 3 else "store"},{"yes" if i % 9 == 0 else "no"}\n'
      for i in range(120)))
  return str(path)


def test_writes_a_valid_description_and_never_overwrites_it(tmp_path, capsys):
  out = str(tmp_path / 'shop.yaml')
  assert draft_description.main([_csv(tmp_path), '--label', 'returned', '--out', out]) == 0
  printed = capsys.readouterr().out
  assert f'wrote {out}' in printed and 'local_runner.py --description' in printed
  spec = description.load(out)
  assert spec.label == 'returned' and spec.id_column == 'order_id'
  with open(out, 'a') as f:
    f.write('# my edit\n')
  assert draft_description.main([_csv(tmp_path), '--label', 'returned', '--out', out]) == 2
  assert 'not overwritten' in capsys.readouterr().err
  assert open(out).read().endswith('# my edit\n')


def test_prints_the_yaml_without_out_and_names_a_missing_label(tmp_path, capsys):
  assert draft_description.main([_csv(tmp_path), '--label', 'returned']) == 0
  assert yaml.safe_load(capsys.readouterr().out)['label']['column'] == 'returned'
  assert draft_description.main([_csv(tmp_path), '--label', 'refund']) == 2
  err = capsys.readouterr().err
  assert "shop.csv: label column 'refund' is not in the header" in err
