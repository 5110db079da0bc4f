"""Rollouts over real HTTP on 127.0.0.1 with real (toy and fault-injected) SavedModels."""

import csv
import json
import os
import subprocess
import sys

import pytest

from rollout import client as client_lib
from rollout import config as config_lib
from rollout import engine
from rollout import replay
from rollout import report
from rollout import state as state_lib
from testing import rollout_fixtures as tu
from rollout.guardrails import Thresholds
from serving.request_log import RequestLogReader
from serving import routing_store
from serving.server import ModelServer
from testing.serving_fixtures import Client

MODEL = tu.MODEL
SPEC = tu.toy_spec()
ADMIN = f'/v1/admin/models/{MODEL}'


def config(**kw):
  # 600 replayed rows: at 5% the canary answers ~30 of them, enough here.
  kw.setdefault('thresholds', Thresholds(min_samples=25))
  kw.setdefault('concurrency', 2)
  kw.setdefault('max_seconds_per_step', 60.0)
  return config_lib.RolloutConfig(**kw)


@pytest.fixture(scope='module')
def bank():
  return tu.shared_bank()


@pytest.fixture
def root(tmp_path, bank):
  models, _ = bank

  def make(versions):
    return tu.serving_root_with(str(tmp_path / 'serving'), models, versions)

  return make


@pytest.fixture
def live_server(tmp_path):
  servers = []

  def start(serving_root, stable=1):
    srv = ModelServer(serving_root, MODEL, request_log_dir=str(tmp_path / 'live_log'),
                      sticky_field=tu.ID).serve_in_background()
    servers.append(srv)
    # An operator's choice (the first deployment labelled the newest stable).
    srv.set_labels(MODEL, {'stable': stable})
    return srv

  yield start
  for srv in servers:
    srv.shutdown()


def served_versions(port, rows, n=40):
  c = Client(port)
  try:
    out = set()
    for r in rows[:n]:
      status, _, headers = c.predict(
          {'instances': [replay.make_instance(r.values, {k: 'float' for k in (
              'annual_income', 'loan_amount', 'credit_score')} | {
                  'home_ownership': 'string', 'employment_type': 'string'})]},
          headers={'X-Request-Key': r.key})
      assert status == 200
      out.add(headers['x-model-version'])
    return out
  finally:
    c.close()


def test_good_candidate_is_promoted_in_process(root, bank, tmp_path):
  _, rows = bank
  serving_root = root({1: 'stable', 2: 'good'})
  log_dir = str(tmp_path / 'requests')
  result = engine.run_rollout(MODEL, 2, rows, SPEC, config(), serving_root=serving_root,
                               request_log_dir=log_dir, replay_source='test rows')
  assert result.decision == config_lib.PROMOTED, result.reason
  assert result.mode == 'canary' and result.in_process_server
  assert (result.stable_before, result.stable_after) == (1, 2)
  assert [s['weight'] for s in result.steps] == [5.0, 25.0, 50.0, 100.0]
  assert result.step == 4 and result.step_weight == 100.0
  for step in result.steps:
    assert {c['status'] for c in step['checks']} <= {'pass', 'insufficient', 'skipped'}
    assert step['requests'] == len(rows)
  # The canary's share of keys follows the weight (sticky hashing of the keys).
  shares = [s['canary']['requests'] / s['requests'] for s in result.steps]
  assert shares[0] < 0.12 and 0.15 < shares[1] < 0.35 and 0.4 < shares[2] < 0.6
  assert shares[3] == 1.0 and result.steps[3]['stable']['requests'] == 0
  # Labels were joined: accuracy was actually compared.
  acc = [c for c in result.steps[-1]['checks'] if c['name'] == 'accuracy'][0]
  assert acc['status'] == 'pass' and acc['metrics']['canary_n'] == len(rows)
  # Every answered request is in the server's request log, under its version.
  answered = {v: sum(s[role]['requests'] - s[role]['errors'] for s in result.steps)
              for v, role in ((1, 'stable'), (2, 'canary'))}
  reader = RequestLogReader(log_dir)
  assert {v: sum(1 for _ in reader.records(model=MODEL, version=v)) for v in (1, 2)} == answered
  # The server's durable routing state remembers the new stable for the next server.
  saved = routing_store.read(routing_store.state_path(serving_root, MODEL))
  assert saved.labels == {'stable': 2, 'previous': 1} and saved.reason == 'promote 2'
  assert state_lib.stable_from_disk(serving_root, MODEL, 3)[0] == 2
  paths = report.write_report(result, str(tmp_path / 'report'))
  with open(paths['png'], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(paths['json']) as f:
    assert json.load(f)['decision'] == 'promoted'
  with open(paths['html']) as f:
    assert 'promoted' in f.read()


@pytest.mark.parametrize('fault,guardrail', [
    ('majority', 'prediction_distribution'),
    ('slow', 'latency_p99'),
    ('flaky', 'error_rate'),
])
def test_bad_candidate_is_rolled_back_at_the_first_step(fault, guardrail, root, bank,
                                                        live_server):
  _, rows = bank
  # A running server (reached by URL) that serves stable 1 to other clients.
  srv = live_server(root({1: 'stable', 2: fault}))
  assert srv.routing_state(MODEL).labels == {'stable': 1}
  result = engine.run_rollout(MODEL, 2, rows, SPEC, config(), server_url=srv.url,
                              admin_token=srv.admin_token)
  assert result.decision == config_lib.ROLLED_BACK
  assert result.step == 1 and result.step_weight == 5.0, result.reason
  breached = {c['name'] for c in result.steps[0]['checks'] if c['status'] == 'breach'}
  assert guardrail in breached, result.reason
  assert result.reason.startswith(guardrail) or f'; {guardrail}:' in result.reason
  # Rolled back: no canary, weight 0, stable unchanged and answering everyone.
  state = srv.routing_state(MODEL)
  assert state.labels == {'stable': 1} and state.canary_weight == 0
  assert result.stable_after == 1
  assert served_versions(srv.port, rows) == {'1'}


def test_unloadable_candidate_leaves_stable_serving(root, bank, live_server):
  _, rows = bank
  srv = live_server(root({1: 'stable', 2: 'corrupt'}))
  result = engine.run_rollout(MODEL, 2, rows, SPEC, config(), server_url=srv.url,
                              admin_token=srv.admin_token)
  assert result.decision == config_lib.ROLLED_BACK and result.step == 0
  assert 'failed to load' in result.reason and 'corrupt' in result.reason
  assert srv.routing_state(MODEL).labels == {'stable': 1}
  assert served_versions(srv.port, rows, n=5) == {'1'}


def test_first_deployment_runs_in_shadow_mode(root, bank, tmp_path):
  _, rows = bank
  serving_root = root({7: 'good'})
  th = Thresholds(min_samples=25, min_accuracy=0.75)
  result = engine.run_rollout(MODEL, 7, rows, SPEC, config(thresholds=th),
                               serving_root=serving_root)
  assert result.decision == config_lib.PROMOTED, result.reason
  assert result.mode == 'shadow' and result.step_weight == 0.0
  assert (result.stable_before, result.stable_after) == (None, 7)
  checks = {c['name']: c['status'] for c in result.steps[0]['checks']}
  assert checks['accuracy'] == 'pass' and checks['error_rate'] == 'pass'
  saved = routing_store.read(routing_store.state_path(serving_root, MODEL))
  assert saved.labels['stable'] == 7 and not saved.rejected


def test_bad_first_deployment_never_serves(root, bank, live_server):
  _, rows = bank
  srv = live_server(root({3: 'flaky'}), stable=None)
  # The first version is stable from its load on (nothing else is); the
  # rollout must leave nothing of a rejected first candidate serving.
  result = engine.run_rollout(MODEL, 3, rows, SPEC, config(), server_url=srv.url,
                              admin_token=srv.admin_token)
  assert result.decision == config_lib.ROLLED_BACK and result.mode == 'shadow'
  assert 'error_rate' in result.reason
  state = srv.routing_state(MODEL)
  assert state.labels == {} and 3 in state.rejected and 'error_rate' in state.rejected[3]
  status, body, _ = Client(srv.port).predict({'instances': [{}]})
  assert status == 503, body
  status, body, _ = Client(srv.port).predict({'instances': [{}]}, '/versions/3')
  assert status == 409 and 'rejected' in body['error']


def test_rejected_version_is_not_picked_as_stable(root, bank, tmp_path):
  _, rows = bank
  serving_root = root({1: 'stable', 2: 'flaky', 3: 'good'})
  routing_store.write(routing_store.state_path(serving_root, MODEL),
                      routing_store.SavedRouting(labels={'stable': 1}))
  result = engine.run_rollout(MODEL, 2, rows, SPEC, config(steps=[50, 100]),
                              serving_root=serving_root)
  assert result.decision == config_lib.ROLLED_BACK
  saved = routing_store.read(routing_store.state_path(serving_root, MODEL))
  assert saved.labels == {'stable': 1} and list(saved.rejected) == [2]
  # Without the state's stable, the newest version no rollout rejected.
  os.remove(os.path.join(serving_root, MODEL, '1', 'saved_model.pb'))
  os.rename(os.path.join(serving_root, MODEL, '1'), os.path.join(serving_root, 'gone'))
  assert state_lib.stable_from_disk(serving_root, MODEL, 4) == (
      3, 'stable 3: the newest other version (no routing state)')


def test_replay_loaders_csv_and_examples(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'held_out.csv')
  with open(path, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['application_id', 'annual_income', 'loan_amount', 'credit_score',
                'home_ownership', 'employment_type', 'outcome'])
    w.writerow(['a1', '50000', '', '700', 'RENT', '', 'default'])
    w.writerow(['a2', '60000', '1000', '650', 'OWN', 'salaried', ''])
  rows = replay.load_replay_csv(path, SPEC)
  assert [(r.key, r.label) for r in rows] == [('a1', 2), ('a2', -1)]
  inputs = {'annual_income': 'float', 'loan_amount': 'float', 'employment_type': 'string'}
  assert replay.make_instance(rows[0].values, inputs) == {
      'annual_income': 50000.0, 'loan_amount': None, 'employment_type': ''}

  split = tmp_path / 'Split-test'
  split.mkdir()
  with tf.io.TFRecordWriter(str(split / 'data_tfrecord-00000-of-00001.gz'),
                            options='GZIP') as w:
    for i, (income, outcome) in enumerate([(50000.0, b'late'), (None, b'repaid')]):
      ex = tf.train.Example()
      ex.features.feature['application_id'].bytes_list.value.append(f'e{i}'.encode())
      ex.features.feature['credit_score'].int64_list.value.append(600 + i)
      ex.features.feature['annual_income'].float_list.value.extend(
          [] if income is None else [income])
      ex.features.feature['outcome'].bytes_list.value.append(outcome)
      w.write(ex.SerializeToString())
  rows = replay.load_replay_examples(str(split), SPEC)
  assert [(r.key, r.label) for r in rows] == [('e0', 1), ('e1', 0)]
  assert replay.make_instance(rows[1].values, {'annual_income': 'float',
                                                'credit_score': 'float'}) == {
      'annual_income': None, 'credit_score': 601.0}

  # A derived binary label (the taxi description's "tip > 20% of the fare").
  import description  # pylint: disable=g-import-not-at-top
  taxi = description.load(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data',
                                    'descriptions', 'taxi.yaml'))
  column, factor, times = taxi.label_rule
  big = {column: 5.0, times: 10.0}
  small = {column: 1.0, times: 10.0}
  assert [r.label for r in replay.rows_from_dicts([big, small, {times: 1.0}], taxi)] == [
      int(5.0 > factor * 10.0), int(1.0 > factor * 10.0), -1]


def test_config_validation_and_loopback_only():
  for steps in ([], [5, 50], [50, 25, 100], [0, 100], [5, 150]):
    with pytest.raises(config_lib.RolloutError):
      config_lib.RolloutConfig(steps=steps).validate()
  with pytest.raises(config_lib.RolloutError, match='not on loopback'):
    client_lib.ServerClient('http://10.1.2.3:8501', MODEL)
  with pytest.raises(config_lib.RolloutError, match='must look like'):
    client_lib.ServerClient('127.0.0.1:8501', MODEL)
  client_lib.ServerClient('http://localhost:8501', MODEL)
  client_lib.ServerClient('http://[::1]:8501', MODEL)


def test_cli_rolls_out_against_a_running_server(root, bank, live_server, tmp_path):
  _, rows = bank
  srv = live_server(root({1: 'stable', 2: 'good'}))
  # The requests carry no outcome; it arrives later, joined by application id.
  path, labels = str(tmp_path / 'replay.csv'), str(tmp_path / 'outcomes.csv')
  with open(path, 'w', newline='') as f, open(labels, 'w', newline='') as g:
    w = csv.DictWriter(f, fieldnames=[k for k in rows[0].values if k != 'outcome'])
    w.writeheader()
    lw = csv.writer(g)
    lw.writerow([tu.ID, 'outcome'])
    for r in rows:
      w.writerow({k: v for k, v in r.values.items() if k != 'outcome'})
      lw.writerow([r.key, r.values['outcome']])
  description = str(tmp_path / 'toy.json')  # JSON is YAML
  with open(description, 'w') as f:
    json.dump(tu.TOY_DESCRIPTION, f)
  out = str(tmp_path / 'out')
  proc = subprocess.run(
      [sys.executable, '-m', 'cli.rollout', '--model-name', MODEL, '--candidate', '2',
       '--replay', path, '--labels', labels, '--server-url', srv.url, '--description', description,
       '--steps', '25,100', '--thresholds', '{"min_samples": 25}', '--concurrency', '2',
       '--out', out, '--log-level', 'WARNING'],
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      capture_output=True, text=True, timeout=120,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', SERVING_ADMIN_TOKEN=srv.admin_token))
  assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
  assert 'candidate 2: promoted at step 2 (100%)' in proc.stdout
  assert srv.routing_state(MODEL).labels == {'stable': 2, 'previous': 1}
  assert sorted(os.listdir(out)) == ['rollout.html', 'rollout.json', 'rollout.png']
  with open(os.path.join(out, 'rollout.json')) as f:
    report = json.load(f)
  assert report['labelled_rows'] == len(rows)
  accuracy = [c for c in report['steps'][-1]['checks'] if c['name'] == 'accuracy'][0]
  assert accuracy['status'] == 'pass' and accuracy['metrics']['canary_n'] == len(rows)


def _write_band(version_dir, min_confidence, expected_rate):
  from serving import automation  # pylint: disable=g-import-not-at-top
  with open(os.path.join(version_dir, automation.POLICY_FILE), 'w') as f:
    json.dump({'blessed': True, 'band': {
        'min_confidence': min_confidence, 'expected_deferral_rate': expected_rate,
        'expected_deferral_rate_low': expected_rate, 'expected_deferral_rate_high': expected_rate,
        'expected_accuracy': 0.9}}, f)


def test_a_candidate_deferring_far_more_than_stable_is_rolled_back(root, bank, live_server):
  _, rows = bank
  serving_root = root({1: 'stable', 2: 'good'})
  srv = live_server(serving_root)
  inputs = {k: 'float' for k in ('annual_income', 'loan_amount', 'credit_score')} | {
      'home_ownership': 'string', 'employment_type': 'string'}
  confidences = sorted(
      max(srv.predict(MODEL, {'instances': [replay.make_instance(r.values, inputs)]},
                      version=1).payload['predictions'][0]['probabilities'])
      for r in rows[:300])
  srv.shutdown()
  # The same model under two bands: stable defers its least confident 10%,
  # the candidate its least confident 60%.
  _write_band(os.path.join(serving_root, MODEL, '1'), confidences[30], 0.1)
  _write_band(os.path.join(serving_root, MODEL, '2'), confidences[180], 0.6)
  srv = live_server(serving_root)
  client = client_lib.ServerClient(srv.url, MODEL, admin_token=srv.admin_token)
  assert client.set_automation_level('partial')['routing']['automation_level'] == 'partial'
  client.close()
  result = engine.run_rollout(MODEL, 2, rows, SPEC, config(), server_url=srv.url,
                              admin_token=srv.admin_token)
  assert result.decision == config_lib.ROLLED_BACK
  assert result.step == 1, result.reason
  checks = {c['name']: c for c in result.steps[0]['checks']}
  assert checks['deferral_rate']['status'] == 'breach'
  assert checks['prediction_distribution']['status'] != 'breach'  # the same model
  assert result.reason.startswith('deferral_rate: canary defers'), result.reason
  assert srv.routing_state(MODEL).labels == {'stable': 1}
