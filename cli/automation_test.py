"""python -m cli.automation: the level is set through the authenticated admin API."""

import json
import os

from cli import automation as automation_cli
from serving import automation
from serving.server import ModelServer
from testing import toy_model
from testing.serving_fixtures import MODEL


def test_the_level_is_set_shown_and_refused_with_reasons(tmp_path, capsys, monkeypatch):
  version_dir = toy_model.write_toy_model(str(tmp_path / 'serving' / MODEL), 1)
  with open(os.path.join(version_dir, automation.POLICY_FILE), 'w') as f:
    json.dump({'blessed': True, 'band': {
        'min_confidence': 0.7, 'expected_deferral_rate': 0.3, 'expected_deferral_rate_low': 0.25,
        'expected_deferral_rate_high': 0.35, 'expected_accuracy': 0.9}}, f)
  token_file = str(tmp_path / 'token')
  server = ModelServer(str(tmp_path / 'serving'), MODEL, admin_token_file=token_file)
  server.serve_in_background()
  try:
    common = ['--server-url', server.url, '--model-name', MODEL]
    monkeypatch.delenv('SERVING_ADMIN_TOKEN', raising=False)
    assert automation_cli.main(common + ['--level', 'partial']) == 2
    assert 'HTTP 401' in capsys.readouterr().err
    assert automation_cli.main(common + ['--level', 'partial',
                                         '--admin-token-file', token_file]) == 0
    out = capsys.readouterr().out
    assert 'automation level partial' in out
    assert 'version 1: band 0.7000, expected deferral 30.0% [25.0%, 35.0%]' in out
    assert server.routing_state(MODEL).automation_level == 'partial'
    assert automation_cli.main(common + ['--admin-token-file', token_file]) == 0
    assert 'automation level partial' in capsys.readouterr().out
  finally:
    server.shutdown()
