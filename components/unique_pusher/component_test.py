"""UniquePusher: a blessed model is pushed once; the same model again is not."""

import json
import os

from metadata.artifacts import AutomationPolicy
from tfx.proto import pusher_pb2
from tfx.types import channel
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.unique_pusher import component
from components.unique_pusher import executor


def _model(tmp_path, name, weights=b'w1'):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / name)
  serving = tmp_path / name / 'Format-Serving'
  (serving / 'variables').mkdir(parents=True)
  (serving / 'saved_model.pb').write_bytes(b'graph')
  (serving / 'variables' / 'variables.data-00000-of-00001').write_bytes(weights)
  (serving / 'variables' / 'variables.index').write_bytes(b'index')
  return model


def _push(tmp_path, model, run, blessed=1, policy=None):
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / f'blessing{run}')
  blessing.set_int_custom_property('blessed', blessed)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / f'pushed{run}')
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(
          base_directory=str(tmp_path / 'serving')))
  inputs = {'model': [model], 'model_blessing': [blessing]}
  if policy is not None:
    inputs['automation_policy'] = [policy]
  executor.Executor().Do(
      inputs, {'pushed_model': [pushed]},
      {'push_destination': proto_utils.proto_to_json(destination)})
  return pushed


def _versions(tmp_path):
  return sorted(os.listdir(tmp_path / 'serving'))


def test_the_second_blessing_of_the_same_model_creates_no_new_version(tmp_path):
  model = _model(tmp_path, 'model')
  first = _push(tmp_path, model, 1)
  assert first.get_int_custom_property('pushed') == 1
  [version] = _versions(tmp_path)
  second = _push(tmp_path, model, 2)
  assert second.get_int_custom_property('pushed') == 0
  assert second.get_string_custom_property('duplicate_of_version') == version
  assert (second.get_string_custom_property('model_fingerprint') ==
          first.get_string_custom_property('model_fingerprint'))
  assert _versions(tmp_path) == [version]


def test_an_identical_retrained_model_is_a_duplicate_a_changed_one_is_not(tmp_path):
  _push(tmp_path, _model(tmp_path, 'a'), 1)
  assert _push(tmp_path, _model(tmp_path, 'b'), 2).get_int_custom_property('pushed') == 0
  changed = _push(tmp_path, _model(tmp_path, 'c', weights=b'w2'), 3)
  assert changed.get_int_custom_property('pushed') == 1
  assert not changed.has_custom_property('duplicate_of_version')


def test_an_unblessed_model_is_not_pushed(tmp_path):
  pushed = _push(tmp_path, _model(tmp_path, 'm'), 1, blessed=0)
  assert pushed.get_int_custom_property('pushed') == 0
  assert not (tmp_path / 'serving').exists()


def test_fingerprint_covers_graph_and_variables_only(tmp_path):
  model_dir = _model(tmp_path, 'm').uri + '/Format-Serving'
  before = executor.model_fingerprint(model_dir)
  open(os.path.join(model_dir, 'fingerprint.pb'), 'wb').write(b'other')
  assert executor.model_fingerprint(model_dir) == before
  open(os.path.join(model_dir, 'variables', 'variables.index'), 'wb').write(b'x')
  assert executor.model_fingerprint(model_dir) != before
  assert executor.model_fingerprint(str(tmp_path / 'nothing')) is None


def test_the_component_is_a_pusher_with_the_dedup_executor():
  pusher = component.UniquePusher(
      model=channel.Channel(type=standard_artifacts.Model),
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(base_directory='/s')))
  assert set(pusher.outputs) == {'pushed_model'}
  assert pusher.executor_spec.executor_class is executor.Executor


def _policy(tmp_path, band):
  policy = AutomationPolicy()
  policy.uri = str(tmp_path / 'policy')
  os.makedirs(policy.uri)
  with open(os.path.join(policy.uri, 'automation_policy.json'), 'w') as f:
    json.dump({'blessed': True, 'band': band}, f)
  return policy


def test_the_policy_is_pushed_into_the_version_directory_before_the_graph(tmp_path,
                                                                         monkeypatch):
  band = {'min_confidence': 0.123456789, 'expected_deferral_rate': 0.2,
          'expected_deferral_rate_low': 0.18, 'expected_deferral_rate_high': 0.22}
  copied = []
  real_copy = executor.io_utils.copy_file
  monkeypatch.setattr(executor.io_utils, 'copy_file',
                      lambda src, dst, *a, **k: (copied.append(os.path.basename(dst)),
                                                 real_copy(src, dst, *a, **k)))
  pushed = _push(tmp_path, _model(tmp_path, 'm'), 1, policy=_policy(tmp_path, band))
  assert pushed.get_int_custom_property('pushed') == 1
  [version] = _versions(tmp_path)
  version_dir = tmp_path / 'serving' / version
  assert pushed.get_string_custom_property('pushed_destination') == str(version_dir)
  with open(version_dir / 'automation_policy.json') as f:
    assert json.load(f)['band'] == band  # every digit: not MLMD's 6
  assert (version_dir / 'variables' / 'variables.index').exists()
  assert copied == ['automation_policy.json', 'saved_model.pb']
  # The same model with its policy is still a duplicate of the pushed version.
  again = _push(tmp_path, _model(tmp_path, 'm2'), 2, policy=_policy(tmp_path / 'x', band))
  assert again.get_int_custom_property('pushed') == 0


def test_the_component_takes_the_policy_channel():
  pusher = component.UniquePusher(
      model=channel.Channel(type=standard_artifacts.Model),
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(base_directory='/s')),
      automation_policy=channel.Channel(type=AutomationPolicy))
  assert set(pusher.inputs) == {'model', 'automation_policy'}
