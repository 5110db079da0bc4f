"""The MLMD access layer on a small hand-built store: opening, values, walks."""

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from metadata import type_names
from metadata import connection
from metadata import values
from metadata import walks


def test_targets_become_the_right_connection_config(tmp_path):
  grpc = connection.connection_config('grpc://metadata-grpc-service.kubeflow:8080')
  assert (grpc.host, grpc.port) == ('metadata-grpc-service.kubeflow', 8080)
  mysql = connection.connection_config('mysql://ml%40x:p%2Fw@db:3307/mlmd')
  assert (mysql.mysql.host, mysql.mysql.port, mysql.mysql.database) == ('db', 3307, 'mlmd')
  assert (mysql.mysql.user, mysql.mysql.password) == ('ml@x', 'p/w')
  path = tmp_path / 'm.sqlite'
  path.write_bytes(b'')
  read = connection.connection_config(str(path))
  assert read.sqlite.filename_uri == str(path)
  assert read.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READONLY
  write = connection.connection_config(f'sqlite://{path}', writable=True)
  assert write.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READWRITE


def test_a_missing_file_or_a_bad_address_is_named(tmp_path):
  missing = str(tmp_path / 'nowhere.sqlite')
  with pytest.raises(connection.StoreNotFound, match='no metadata store at .*nowhere'):
    connection.open_store(missing)
  assert not (tmp_path / 'nowhere.sqlite').exists()  # MLMD did not create one
  with pytest.raises(ValueError, match='grpc://HOST:PORT'):
    connection.connection_config('grpc://localhost')
  with pytest.raises(ValueError, match='expected grpc'):
    connection.connection_config('http://localhost:8080')


def _artifact(**props):
  artifact = pb.Artifact()
  for key, value in props.items():
    if isinstance(value, int):
      artifact.custom_properties[key].int_value = value
    elif isinstance(value, float):
      artifact.custom_properties[key].double_value = value
    else:
      artifact.custom_properties[key].string_value = value
  return artifact


def test_values_are_plain_python_whatever_their_encoding():
  artifact = _artifact(span=3, kfp_span=2.0, config='{"a": [1, 2]}', name='x')
  artifact.custom_properties['wrapped'].struct_value.fields['__value__'].string_value = '[1]'
  assert values.property_value(artifact, 'span') == 3
  assert values.int_property(artifact, 'kfp_span') == 2  # KFP writes numbers as doubles
  assert values.int_property(artifact, 'name') is None
  assert values.json_property(artifact, 'config') == {'a': [1, 2]}
  assert values.property_value(artifact, 'wrapped') == [1]  # TFX's JSON wrapper
  assert values.property_value(artifact, 'absent', 'default') == 'default'


class _Store:
  """A writable store with TFX-shaped types, for the walks."""

  def __init__(self, path):
    self.store = connection.create_sqlite_store(path)
    self.types = {}

  def _type(self, name, kind):
    if name not in self.types:
      put = (self.store.put_artifact_type if kind == 'artifact'
             else self.store.put_execution_type)
      cls = pb.ArtifactType if kind == 'artifact' else pb.ExecutionType
      self.types[name] = put(cls(name=name))
    return self.types[name]

  def artifact(self, type_name, **props):
    artifact = _artifact(**props)
    artifact.type_id = self._type(type_name, 'artifact')
    artifact.state = pb.Artifact.LIVE
    [artifact.id] = self.store.put_artifacts([artifact])
    return artifact

  def execution(self, type_name, inputs=(), outputs=()):
    execution = pb.Execution(type_id=self._type(type_name, 'execution'))
    events = []
    for kind, artifacts_ in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
      for artifact in artifacts_:
        event = pb.Event(type=kind)
        event.path.steps.add().key = 'x'
        events.append((artifact, event))
    self.store.put_execution(execution, events, [])


def _span(store, span, passed):
  examples = store.artifact('Examples', span=span)
  statistics = store.artifact('ExampleStatistics', span=span)
  store.execution('tfx.components.StatisticsGen', [examples], [statistics])
  verdict = store.artifact(type_names.DATA_VALIDATION_VERDICT,
                           **{type_names.VERDICT_PASSED: int(passed),
                              type_names.VERDICT_STATISTICS_ID: statistics.id})
  return examples, statistics, verdict


def test_last_passed_skips_rejected_spans_and_honours_the_bound(tmp_path):
  store = _Store(str(tmp_path / 'm.sqlite'))
  assert walks.last_passed(store.store) is None  # no verdict type yet
  examples1, statistics1, _ = _span(store, 1, passed=True)
  _, statistics2, _ = _span(store, 2, passed=True)
  _span(store, 3, passed=False)
  found = walks.last_passed(store.store)
  assert found.statistics.id == statistics2.id and found.span == 2
  below = walks.last_passed(store.store, below_span=2)
  assert below.statistics.id == statistics1.id and below.examples.id == examples1.id
  assert walks.last_passed(store.store, below_span=1) is None
  assert walks.passed_statistics_ids(store.store) == {statistics1.id, statistics2.id}


def test_trained_on_follows_the_latest_push_back_to_its_statistics(tmp_path):
  store = _Store(str(tmp_path / 'm.sqlite'))
  assert walks.trained_on(store.store) is None
  raw, statistics, _ = _span(store, 1, passed=True)
  transformed = store.artifact('Examples')
  store.execution('tfx.components.Transform', [raw], [transformed])
  model = store.artifact('Model')
  store.execution('tfx.components.Trainer', [transformed], [model])
  push = store.artifact('PushedModel', pushed=1)
  store.execution('tfx.components.Pusher', [model], [push])
  found = walks.trained_on(store.store)
  assert (found.statistics.id, found.examples.id) == (statistics.id, raw.id)
  assert walks.latest_artifact(store.store, 'PushedModel').id == push.id
  assert walks.latest_artifact(store.store, 'PushedModel', 'no_such_pipeline') is None


def test_the_policy_of_a_served_version_is_the_one_chosen_for_its_model(tmp_path):
  from metadata import automation  # pylint: disable=g-import-not-at-top
  store = _Store(str(tmp_path / 'm.sqlite'))
  assert automation.policy_of_version(store.store, '7') is None
  models = []
  for version, band in (('7', 0.6), ('8', 0.7)):
    model = store.artifact('Model')
    unblessed = store.artifact(type_names.AUTOMATION_POLICY, blessed=0)
    store.execution('automation_policy.component.AutomationPolicy', [model], [unblessed])
    policy = store.artifact(type_names.AUTOMATION_POLICY, blessed=1,
                            min_confidence=band, level='partial')
    store.execution('automation_policy.component.AutomationPolicy', [model], [policy])
    push = store.artifact('PushedModel', pushed=1, pushed_destination=f'/serving/{version}')
    store.execution('tfx.components.Pusher', [model], [push])
    models.append(model)
  assert automation.policy_of_version(store.store, '7')['min_confidence'] == 0.6
  assert automation.policy_of_version(store.store, '8')['level'] == 'partial'
  assert 'uri' in automation.policy_of_version(store.store, '8')
  assert automation.policy_of_version(store.store, '9') is None
  bare = store.artifact('Model')
  assert automation.policy_of_model(store.store, bare.id) is None
