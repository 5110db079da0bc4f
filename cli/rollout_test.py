"""The rollout command refuses a remote server unless told so on purpose."""

import json

import pytest

from cli import rollout as rollout_cli
from testing import rollout_fixtures as tu


@pytest.mark.parametrize('url', ['http://192.0.2.10:8501', 'http://example.internal:8501'])
def test_non_loopback_server_needs_the_explicit_flag(url, tmp_path, capsys, monkeypatch):
  description = tmp_path / 'toy.json'  # JSON is YAML
  description.write_text(json.dumps(tu.TOY_DESCRIPTION))
  replay = tmp_path / 'replay.csv'
  replay.write_text('application_id,annual_income\na1,50000\n')
  monkeypatch.setenv('SERVING_ADMIN_TOKEN', 't0ken')
  code = rollout_cli.main(['--model-name', tu.MODEL, '--candidate', '2', '--replay',
                           str(replay), '--server-url', url, '--description',
                           str(description)])
  err = capsys.readouterr().err
  assert code == 2 and 'not on loopback' in err and '--allow-non-loopback' in err


def test_token_comes_from_the_environment_or_a_file(tmp_path, monkeypatch):
  args = rollout_cli._parser().parse_args(['--candidate', '1', '--replay', 'x'])
  monkeypatch.setenv('SERVING_ADMIN_TOKEN', 'from-env')
  assert rollout_cli._admin_token(args) == 'from-env'
  token_file = tmp_path / 'admin.token'
  token_file.write_text('from-file\n')
  args = rollout_cli._parser().parse_args(['--candidate', '1', '--replay', 'x',
                                           '--admin-token-file', str(token_file)])
  assert rollout_cli._admin_token(args) == 'from-file'
  with pytest.raises(SystemExit):  # never on the command line, where `ps` shows it
    rollout_cli._parser().parse_args(['--candidate', '1', '--replay', 'x',
                                      '--admin-token', 'secret'])
