"""Which version scores: the routing state's stable one, else the newest not rolled back."""

import json
import os

import pytest

from scoring import versions

ROUTING, ROLLOUT = 0, 1  # indexes into versions.state_files()


def _model_dir(tmp_path, *numbers):
  model_dir = tmp_path / 'serving' / 'credit_risk'
  for n in numbers:
    (model_dir / str(n)).mkdir(parents=True)
    (model_dir / str(n) / 'saved_model.pb').write_bytes(b'')
  (model_dir / 'tmp-copy').mkdir(parents=True, exist_ok=True)  # not a version
  return str(model_dir)


def _state(model_dir, kind, stable=None, refused=()):
  """A state file in the server's routing format or the rollout's."""
  if kind == ROUTING:
    state = {'format': 1, 'labels': {} if stable is None else {'stable': stable},
             'rejected': {str(v): 'guardrail breached' for v in refused}}
  else:
    state = {'model': 'credit_risk', 'stable': stable, 'rolled_back': list(refused)}
  with open(versions.state_files(model_dir)[kind], 'w') as f:
    json.dump(state, f)


def test_the_newest_version_without_a_routing_state(tmp_path):
  model_dir = _model_dir(tmp_path, 100, 300, 200)
  chosen = versions.resolve(model_dir)
  assert (chosen.version, chosen.model_name) == (300, 'credit_risk')
  assert chosen.path == os.path.join(model_dir, '300')
  assert versions.state_files(model_dir) == [
      str(tmp_path / 'serving' / 'credit_risk.routing.json'),
      str(tmp_path / 'serving' / 'credit_risk.rollout.json')]


@pytest.mark.parametrize('kind', [ROUTING, ROLLOUT])
def test_the_stable_version_the_state_names(tmp_path, kind):
  model_dir = _model_dir(tmp_path, 100, 200, 300)
  _state(model_dir, kind, stable=200, refused=[300])
  assert versions.resolve(model_dir).version == 200
  assert versions.resolve(model_dir, 300).version == 300  # named: even a rolled-back one


@pytest.mark.parametrize('kind', [ROUTING, ROLLOUT])
def test_rolled_back_versions_are_skipped_when_none_is_stable(tmp_path, kind):
  model_dir = _model_dir(tmp_path, 100, 200)
  _state(model_dir, kind, refused=[200])
  assert versions.resolve(model_dir).version == 100
  _state(model_dir, kind, refused=[100, 200])
  with pytest.raises(versions.VersionError, match='rolled back'):
    versions.resolve(model_dir)


def test_the_servers_routing_state_wins_over_the_rollout_file(tmp_path):
  model_dir = _model_dir(tmp_path, 100, 200, 300)
  _state(model_dir, ROLLOUT, stable=100)
  _state(model_dir, ROUTING, stable=200)
  chosen = versions.resolve(model_dir)
  assert chosen.version == 200 and 'routing.json' in chosen.how


def test_errors_name_what_is_missing(tmp_path):
  model_dir = _model_dir(tmp_path, 100)
  with pytest.raises(versions.VersionError, match=r'no version 7 .*available: \[100\]'):
    versions.resolve(model_dir, 7)
  _state(model_dir, ROUTING, stable=555)
  with pytest.raises(versions.VersionError, match='routing.json names version 555 as stable'):
    versions.resolve(model_dir)
  with open(versions.state_files(model_dir)[ROUTING], 'w') as f:
    f.write('{not json')
  with pytest.raises(versions.VersionError, match='cannot read the routing state'):
    versions.resolve(model_dir)
  with open(versions.state_files(model_dir)[ROUTING], 'w') as f:
    f.write('{"labels": {"stable": "x"}}')
  with pytest.raises(versions.VersionError, match='not a routing state'):
    versions.resolve(model_dir)
  with pytest.raises(versions.VersionError, match='no pushed model'):
    versions.resolve(str(tmp_path / 'nothing'))
