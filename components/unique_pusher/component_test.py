"""UniquePusher: a blessed model is pushed once; the same model again is not."""

import os

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


def _push(tmp_path, model, run, blessed=1):
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / f'blessing{run}')
  blessing.set_int_custom_property('blessed', blessed)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / f'pushed{run}')
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(
          base_directory=str(tmp_path / 'serving')))
  executor.Executor().Do(
      {'model': [model], 'model_blessing': [blessing]}, {'pushed_model': [pushed]},
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
