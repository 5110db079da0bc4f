"""Degrees of automation on a running server, with models the Trainer's code exported.

The versions are scoring/conftest.py's (models/model.py export_model, the
Pusher's layout); the policy file is the AutomationPolicy executor's band
properties, as UniquePusher pushes it next to the model.
"""

import json
import os
import re
import shutil

import numpy as np
import pytest

from analysis import automation_band
from components.automation_policy import executor as policy_executor
import description
from scoring.conftest import HEADER, random_rows  # noqa: F401
from scoring.conftest import serving_dir  # noqa: F401 pylint: disable=unused-import
from models.conftest import tiny_spec, tiny_transform  # noqa: F401 pylint: disable=unused-import
from serving import automation
from serving import routing_store
from serving.request_log import read_records
from serving.server import ModelServer
from testing.serving_fixtures import Client

MODEL = 'tiny'


def _instances(n, seed=0):
  out = []
  for row in random_rows(n, seed):
    values = dict(zip(HEADER, row))
    out.append({'income': float(values['income']) if values['income'] else None,
                'city': values['city'], 'score': float(values['score'])})
  return out


def _probabilities(server, instances):
  # At level full the body is TF Serving's: no automation field anywhere.
  client = Client(server.port)
  status, body, _ = client.post(f'/v1/models/{MODEL}:predict', {'instances': instances})
  assert status == 200, body
  assert all('automation' not in p for p in body['predictions'])
  return np.array([p['probabilities'] for p in body['predictions']])


def _write_policy(version_dir, spec, probabilities):
  """The band at the median confidence of `probabilities`, written as the pipeline does."""
  confidence = np.sort(probabilities.max(axis=1))
  threshold = float(confidence[len(confidence) // 2])
  labels = probabilities.argmax(axis=1)  # any labels: the test is about the band
  band = automation_band.measure_band(probabilities, labels, threshold, 0.95, None)
  spec = description.DatasetSpec(**dict(spec.__dict__, automation=description.Automation(
      target_accuracy=0.5)))
  with open(os.path.join(version_dir, automation.POLICY_FILE), 'w') as f:
    json.dump({'blessed': True, 'band': policy_executor.policy(band, spec)}, f)
  return band.min_confidence


@pytest.fixture
def root(tmp_path, serving_dir):  # pylint: disable=redefined-outer-name
  """Version 1 (gets a policy in the tests) and version 2 (none)."""
  dest = tmp_path / 'serving' / MODEL
  for version in ('1', '2'):
    shutil.copytree(os.path.join(serving_dir, version), dest / version)
  return str(tmp_path / 'serving')


def _start(root, tmp_path):  # pylint: disable=redefined-outer-name
  return ModelServer(root, MODEL, request_log_dir=str(tmp_path / 'log'),
                     admin_token='secret').serve_in_background()


def test_partial_defers_exactly_the_cases_below_the_band_and_survives_a_restart(
    root, tmp_path, tiny_spec):  # pylint: disable=redefined-outer-name
  instances = _instances(60)
  server = _start(root, tmp_path)
  try:
    server.set_labels(MODEL, {'stable': 1})
    probabilities = _probabilities(server, instances)
  finally:
    server.shutdown()
  band = _write_policy(os.path.join(root, MODEL, '1'), tiny_spec, probabilities)

  server = _start(root, tmp_path)
  try:
    admin = Client(server.port, admin_token='secret')
    status, body, _ = admin.post(f'/v1/admin/models/{MODEL}/automation', {'level': 'partial'})
    assert status == 200, body
    assert body['routing']['automation_level'] == 'partial'
    assert body['automation_policies']['1']['min_confidence'] == band
    assert body['automation_policies']['2'] is None
    status, body, _ = admin.post(f'/v1/models/{MODEL}:predict', {'instances': instances})
    assert status == 200, body
    answered = np.array([p['probabilities'] for p in body['predictions']])
    np.testing.assert_allclose(answered, probabilities, rtol=1e-6)
    decisions = [p['automation'] for p in body['predictions']]
    deferred = np.array([d['decision'] == 'deferred' for d in decisions])
    np.testing.assert_array_equal(deferred, answered.max(axis=1) < band)
    assert 0 < deferred.sum() < len(instances)
    assert {d['rule'] for d in decisions} == {'confident', 'below_band'}

    # The first server logged at level full: no automation field in its records.
    logged = [r for r in read_records(str(tmp_path / 'log'), model=MODEL) if 'automation' in r]
    assert [r['automation']['decision'] for r in sorted(logged, key=lambda r: r['index'])] == [
        d['decision'] for d in decisions]
    assert {r['automation']['level'] for r in logged} == {'partial'}

    metrics = server.metrics.render().decode()
    count = re.search(r'serving_automation_decisions_total\{decision="deferred",level="partial",'
                      r'model="tiny",rule="below_band",version="1"\} (\S+)', metrics)
    assert count and float(count.group(1)) == deferred.sum(), metrics
    assert ('serving_automation_expected_deferral_rate{bound="high",model="tiny",'
            'version="1"}') in metrics
    assert 'serving_automation_level{level="partial",model="tiny"} 1.0' in metrics

    # Version 2 has no band: asked for directly under partial, a person decides.
    status, body, _ = admin.post(f'/v1/models/{MODEL}/versions/2:predict',
                                 {'instances': instances[:3]})
    assert [p['automation']['rule'] for p in body['predictions']] == ['no_band'] * 3
  finally:
    server.shutdown()
  saved = routing_store.read(routing_store.state_path(root, MODEL))
  assert saved.automation_level == 'partial'

  server = _start(root, tmp_path)  # the level is restored from the routing state
  try:
    assert server.routing_state(MODEL).automation_level == 'partial'
    status, body, _ = Client(server.port).post(f'/v1/models/{MODEL}:predict',
                                               {'instances': instances})
    assert [p['automation']['decision'] == 'deferred' for p in body['predictions']] == list(
        deferred)
  finally:
    server.shutdown()


def test_assist_and_shadow_defer_everything_with_the_models_answer(root, tmp_path):
  server = _start(root, tmp_path)
  try:
    admin = Client(server.port, admin_token='secret')
    for level in ('assist', 'shadow'):
      status, body, _ = admin.post(f'/v1/admin/models/{MODEL}/automation', {'level': level})
      assert status == 200, body
      status, body, _ = admin.post(f'/v1/models/{MODEL}:predict',
                                   {'instances': _instances(5)})
      assert status == 200
      assert {(p['automation']['decision'], p['automation']['rule'])
              for p in body['predictions']} == {('deferred', level)}
      assert all(len(p['probabilities']) == 3 for p in body['predictions'])
    # Columnar requests get one entry per instance under outputs.
    columns = {k: [i[k] for i in _instances(4)] for k in _instances(1)[0]}
    status, body, _ = admin.post(f'/v1/models/{MODEL}:predict', {'inputs': columns})
    assert status == 200, body
    assert [a['rule'] for a in body['outputs']['automation']] == ['shadow'] * 4
  finally:
    server.shutdown()


def test_bad_levels_and_partial_without_a_band_are_refused(root, tmp_path):
  server = _start(root, tmp_path)
  try:
    admin = Client(server.port, admin_token='secret')
    path = f'/v1/admin/models/{MODEL}/automation'
    assert Client(server.port).post(path, {'level': 'full'})[0] == 401
    status, body, _ = admin.post(path, {'level': 'autopilot'})
    assert status == 400 and '"level" must be one of' in body['error'], body
    status, body, _ = admin.post(path, {})
    assert status == 400 and '"level"' in body['error']
    # Version 2 (the newest, so stable at the first deployment) has no band.
    status, body, _ = admin.post(path, {'level': 'partial'})
    assert status == 409 and 'version(s) 2' in body['error'], body
    assert server.routing_state(MODEL).automation_level == 'full'
  finally:
    server.shutdown()


def test_a_broken_policy_file_keeps_the_version_from_serving(root, tmp_path):
  with open(os.path.join(root, MODEL, '2', automation.POLICY_FILE), 'w') as f:
    json.dump({'blessed': True, 'band': {'min_confidence': 1.5}}, f)
  server = _start(root, tmp_path)
  try:
    assert server.model(MODEL).store.available_versions() == [1]
    status = server.model(MODEL).store.status(2)
    assert 'band.min_confidence must be a number in [0, 1], got 1.5' in status.error_message
  finally:
    server.shutdown()
