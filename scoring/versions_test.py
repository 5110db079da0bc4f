"""Which version scores: the routing state's stable one, else the newest not rejected."""

import os

import pytest

from scoring import versions
from serving import routing_store


def _model_dir(tmp_path, *numbers):
  model_dir = tmp_path / 'serving' / 'credit_risk'
  for n in numbers:
    (model_dir / str(n)).mkdir(parents=True)
    (model_dir / str(n) / 'saved_model.pb').write_bytes(b'')
  (model_dir / 'tmp-copy').mkdir(parents=True, exist_ok=True)  # not a version
  return str(model_dir)


def _state(model_dir, stable=None, refused=()):
  """The server's routing state, written by the server's own writer."""
  routing_store.write(versions.state_file(model_dir), routing_store.SavedRouting(
      labels={} if stable is None else {'stable': stable},
      rejected={v: 'guardrail breached' for v in refused}))


def test_the_newest_version_without_a_routing_state(tmp_path):
  model_dir = _model_dir(tmp_path, 100, 300, 200)
  chosen = versions.resolve(model_dir)
  assert (chosen.version, chosen.model_name) == (300, 'credit_risk')
  assert chosen.path == os.path.join(model_dir, '300')
  assert versions.state_file(model_dir) == str(tmp_path / 'serving' / 'credit_risk.routing.json')


def test_the_stable_version_the_state_names(tmp_path):
  model_dir = _model_dir(tmp_path, 100, 200, 300)
  _state(model_dir, stable=200, refused=[300])
  chosen = versions.resolve(model_dir)
  assert chosen.version == 200 and 'routing.json' in chosen.how
  assert versions.resolve(model_dir, 300).version == 300  # named: even a rejected one


def test_rejected_versions_are_skipped_when_none_is_stable(tmp_path):
  model_dir = _model_dir(tmp_path, 100, 200)
  _state(model_dir, refused=[200])
  assert versions.resolve(model_dir).version == 100
  _state(model_dir, refused=[100, 200])
  with pytest.raises(versions.VersionError, match='rolled back'):
    versions.resolve(model_dir)


def test_errors_name_what_is_missing(tmp_path):
  model_dir = _model_dir(tmp_path, 100)
  with pytest.raises(versions.VersionError, match=r'no version 7 .*available: \[100\]'):
    versions.resolve(model_dir, 7)
  _state(model_dir, stable=555)
  with pytest.raises(versions.VersionError, match='routing.json names version 555 as stable'):
    versions.resolve(model_dir)
  with open(versions.state_file(model_dir), 'w') as f:
    f.write('{not json')
  with pytest.raises(versions.VersionError, match='cannot read the routing state'):
    versions.resolve(model_dir)
  with open(versions.state_file(model_dir), 'w') as f:
    f.write('{"labels": {"stable": "x"}}')
  with pytest.raises(versions.VersionError, match='not a routing state'):
    versions.resolve(model_dir)
  with pytest.raises(versions.VersionError, match='no pushed model'):
    versions.resolve(str(tmp_path / 'nothing'))
