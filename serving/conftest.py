"""Fixtures of the serving tests: toy SavedModels written once per session, servers."""

import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from typing import Dict  # noqa: E402

import pytest  # noqa: E402

from testing import toy_model  # noqa: E402
from serving.server import ModelServer  # noqa: E402
from testing.serving_fixtures import BANK, MODEL, Client, add_version  # noqa: E402


@pytest.fixture(scope='session')
def model_bank(tmp_path_factory) -> Dict[str, str]:
  """Writes each toy model once per session; name -> version directory."""
  root = tmp_path_factory.mktemp('bank')
  return {name: toy_model.write_toy_model(str(root / name), 1, **kwargs)
          for name, kwargs in BANK.items()}


@pytest.fixture
def make_root(tmp_path, model_bank):
  """make_root({1: 'low', 2: 'high'}) -> a serving root with those versions."""

  def make(versions: Dict[int, str]) -> str:
    root = tmp_path / 'serving'
    for version, name in versions.items():
      add_version(str(root), version, name, model_bank)
    return str(root)

  return make


@pytest.fixture
def serve(tmp_path):
  """serve(root, **kw) -> (a ModelServer in the background, an admin Client); shut down after."""
  servers = []

  def start(root, **kw):
    kw.setdefault('request_log_dir', str(tmp_path / 'requests'))
    srv = ModelServer(root, MODEL, **kw).serve_in_background()
    servers.append(srv)
    return srv, Client(srv.port, admin_token=srv.admin_token)

  yield start
  for srv in servers:
    srv.shutdown()
