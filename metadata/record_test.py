"""The one rule for Python values in ML Metadata, and the one execution writer."""

import numpy as np
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from metadata import record
from metadata import values


def _store():
  config = mlmd.ConnectionConfig()
  config.fake_database.SetInParent()
  return metadata_store.MetadataStore(config)


def test_values_become_properties_by_one_rule():
  node = mlmd.Artifact()
  node.custom_properties['stale'].string_value = 'old'
  record.set_properties(node, {'blessed': True, 'off': False, 'n': np.int64(3), 'x': 0.5,
                               'y': np.float32(0.25), 's': 'text', 'p': ['a'], 'stale': None,
                               'missing': None})
  found = values.properties_of(node)
  assert found == {'blessed': 1, 'off': 0, 'n': 3, 'x': 0.5, 'y': 0.25, 's': 'text',
                   'p': "['a']"}
  assert node.custom_properties['blessed'].WhichOneof('value') == 'int_value'


def test_one_execution_with_its_events_and_contexts():
  store = _store()
  context_type = store.put_context_type(mlmd.ContextType(name='pipeline'))
  [context_id] = store.put_contexts([mlmd.Context(type_id=context_type, name='p')])
  used = record.new_artifact(store, 'PushedModel', '/pushed', {'pushed': True})
  [used.id] = store.put_artifacts([used])
  made = record.new_artifact(store, 'Thing', '/made/', {'rows': 4})
  done = record.record_execution(store, 'Step', properties={'who': 'Ada'},
                                 inputs=[(used, 'pushed_model')], outputs=[(made, None)],
                                 contexts=store.get_contexts_by_id([context_id]))
  assert done.input_ids == [used.id]
  [execution] = store.get_executions_by_id([done.execution_id])
  assert values.property_value(execution, 'who') == 'Ada'
  assert values.EXECUTION_STATES[execution.last_known_state] == 'COMPLETE'
  events = store.get_events_by_execution_ids([done.execution_id])
  assert {(e.artifact_id, e.type, values.event_key(e)) for e in events} == {
      (used.id, mlmd.Event.INPUT, 'pushed_model'), (done.output_ids[0], mlmd.Event.OUTPUT, '')}
  assert [c.name for c in store.get_contexts_by_execution(done.execution_id)] == ['p']
  assert [a.id for a in record.artifacts_with_uri(store, 'Thing', '/made')] == done.output_ids
  assert record.artifacts_with_uri(store, 'Nothing', '/made') == []
