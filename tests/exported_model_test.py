"""Serving and rollouts with a model the pipeline really exported (issue 14).

One small pipeline run per module (generated data, one span, two epochs)
pushes a real model; the tests serve it, shadow it, canary-promote a copy,
roll back a real bad candidate (`testing.faulty_model` wrapping the real
model), and `kill -9` the server process to find the decisions still in force.
"""

import copy
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import description
from data import generator
from pipeline import configs
from rollout import client as client_lib
from rollout import config as config_lib
from rollout import engine
from rollout import replay
from rollout.guardrails import Thresholds
from serving import routing_store
from serving.request_log import RequestLogReader
from serving.server import ModelServer
from testing import faulty_model

NAME = 'credit_risk'
ROWS = 2500
REPLAY_ROWS = 600  # rows of the trained span each rollout replays
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fast_description(path: str) -> str:
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = copy.deepcopy(yaml.safe_load(f))
  raw['protected_attributes'], raw['tags'] = [], []
  raw.pop('slices', None)
  raw.pop('labelers', None)
  raw['training'].update(epochs=2, early_stopping_patience=1)
  raw['evaluation'] = {'min_accuracy': 0.5, 'min_rare_class_recall': 0.0,
                       'fairness_thresholds': [0.5]}
  # Above the all-cases accuracy of two epochs on 2,500 rows, so the band
  # defers some cases; reachable by deferring at most 90% of them.
  raw['automation'] = {'level': 'partial', 'target_accuracy': 0.78, 'max_deferral_rate': 0.9}
  # The pipeline's own shadow rollout judges p99 latency against this budget; a
  # loaded test machine can take over a second, and latency is not under test.
  raw['monitoring'] = {'thresholds': {'latency_p99_seconds': 10.0}}
  with open(path, 'w') as f:
    yaml.safe_dump(raw, f, sort_keys=False)
  return path


class Exported:
  """What the one pipeline run left: the pushed version, the spec, replay rows."""

  def __init__(self, root: str):
    import local_runner  # pylint: disable=g-import-not-at-top
    data_root = os.path.join(root, 'data')
    generator.generate(data_root, spans=1, rows_per_span=ROWS, seed=11,
                       labeler_fraction=0.0, verbose=False)
    self.description = _fast_description(os.path.join(root, 'description.yaml'))
    work_dir = os.path.join(root, 'work')
    started = time.time()
    code = local_runner.main(['--description', self.description, '--data-root', data_root,
                              '--work-dir', work_dir, '--span', '1', '--allow-unblessed'])
    print(f'[exported model] pipeline run: exit {code} in {time.time() - started:.0f} s')
    model_dir = configs.serving_model_dir(work_dir, NAME)
    versions = sorted(int(v) for v in os.listdir(model_dir) if v.isdigit())
    assert code == 0 and versions, f'the pipeline pushed nothing (exit {code})'
    self.pushed_root = os.path.dirname(model_dir)
    self.metadata = configs.metadata_path(work_dir, NAME)
    self.version = versions[-1]
    self.version_dir = os.path.join(model_dir, str(self.version))
    self.spec = description.load(self.description)
    self.replay_dir = os.path.join(data_root, 'span-1')
    self.rows = replay.load_replay_csv(self.replay_dir, self.spec, REPLAY_ROWS)
    # The pipeline's own CanaryRollout decided about this first deployment.
    self.saved = routing_store.read(routing_store.state_path(self.pushed_root, NAME))

  def serving_root(self, dest: str, extra: dict = None) -> str:
    """A copy of the pipeline's serving root (its pushed version and routing
    state) plus candidates `extra` {version offset: dir} as version + offset."""
    os.makedirs(os.path.join(dest, NAME))
    shutil.copytree(self.version_dir, os.path.join(dest, NAME, str(self.version)))
    shutil.copy(routing_store.state_path(self.pushed_root, NAME), dest)
    for offset, path in (extra or {}).items():
      shutil.copytree(path, os.path.join(dest, NAME, str(self.version + offset)))
    return dest


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  return Exported(str(tmp_path_factory.mktemp('exported')))


@pytest.fixture(scope='module')
def bad_candidate(exported, tmp_path_factory):
  # A real model that always predicts the majority class: plausible, useless.
  return faulty_model.write_faulty_model(
      exported.version_dir, str(tmp_path_factory.mktemp('bad') / '1'), 'majority',
      classes=exported.spec.classes, majority_class=0)


def config(**kw):
  # Latency is not what these rollouts are about: on a shared 2-core machine the
  # canary's p99 can be 1.5x the stable's by scheduling alone. The latency check
  # still runs (and must pass); only a regression of a second counts.
  kw.setdefault('thresholds', Thresholds(min_samples=25, min_p99_increase_ms=1000.0))
  # What a rollout reads, and what a paused one reads again from its replay
  # source when it is signed off: the same rows as exported.rows.
  kw.setdefault('max_requests_per_step', REPLAY_ROWS)
  kw.setdefault('steps', (25.0, 100.0))
  kw.setdefault('concurrency', 2)
  kw.setdefault('max_seconds_per_step', 60.0)
  return config_lib.RolloutConfig(**kw)


def test_pipeline_pushed_and_its_rollout_decided_the_first_deployment(exported):
  # The e2e expectation: a first deployment is judged in shadow mode and, with
  # the pipeline's own blessing gates as its limits, promoted.
  assert exported.saved is not None
  assert exported.saved.labels.get('stable') == exported.version, exported.saved
  assert not exported.saved.rejected


def test_the_pushed_version_carries_its_band_and_partial_defers_below_it(exported, tmp_path):
  """Issue 21 end to end: AutomationPolicy -> UniquePusher -> the server's band."""
  import json  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from metadata import automation as metadata_automation  # pylint: disable=g-import-not-at-top
  from metadata import connection  # pylint: disable=g-import-not-at-top
  from serving import automation  # pylint: disable=g-import-not-at-top
  with open(os.path.join(exported.version_dir, automation.POLICY_FILE)) as f:
    pushed = json.load(f)['band']
  recorded = metadata_automation.policy_of_version(connection.open_store(exported.metadata),
                                                   str(exported.version))
  assert recorded['min_confidence'] == pytest.approx(pushed['min_confidence'], rel=1e-5)
  root = exported.serving_root(str(tmp_path / 'serving'))
  srv = ModelServer(root, NAME).serve_in_background()
  try:
    client = client_lib.ServerClient(srv.url, NAME, admin_token=srv.admin_token)
    assert client.set_automation_level('partial')['routing']['automation_level'] == 'partial'
    inputs = client.signature_inputs(exported.version)
    body = {'instances': [replay.make_instance(r.values, inputs) for r in exported.rows[:200]]}
    status, answer, _ = client.request('POST', f'/v1/models/{NAME}:predict', body)
    assert status == 200
    confidence = np.array([max(p['probabilities']) for p in answer['predictions']])
    deferred = np.array([p['automation']['decision'] == 'deferred'
                         for p in answer['predictions']])
    np.testing.assert_array_equal(deferred, confidence < pushed['min_confidence'])
    assert 0 < deferred.sum() < len(deferred)
    low, high = pushed['expected_deferral_rate_low'], pushed['expected_deferral_rate_high']
    print(f'[exported model] band {pushed["min_confidence"]:.4f}: {deferred.mean():.1%} of '
          f'200 replayed rows deferred, expected [{low:.1%}, {high:.1%}]')
  finally:
    srv.shutdown()


def test_the_exported_signatures_are_called_flat_with_the_same_answers(exported, monkeypatch):
  """serving/signature_call.py's fast path applies to what the pipeline exports,
  the model server's predict takes it, and it answers what TensorFlow's own
  argument binding answers."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from serving import rest_codec  # pylint: disable=g-import-not-at-top
  from serving.model_store import ModelStore  # pylint: disable=g-import-not-at-top
  from serving.signature_call import SignatureCall  # pylint: disable=g-import-not-at-top
  model = ModelStore(NAME, os.path.dirname(exported.version_dir)).load_version(exported.version)
  fn = tf.saved_model.load(exported.version_dir).signatures['serving_default']
  inputs = {name: ('string' if info.dtype == 'string' else 'float')
            for name, info in model.signatures['serving_default'].inputs.items()}
  assert SignatureCall(fn).fast
  flat_calls = []
  flat_inputs = SignatureCall.flat_inputs

  def counted(self, tensors):
    flat = flat_inputs(self, tensors)
    flat_calls.append(flat is not None)
    return flat
  monkeypatch.setattr(SignatureCall, 'flat_inputs', counted)
  for rows in (exported.rows[:1], exported.rows[:100]):
    body = {'instances': [replay.make_instance(r.values, inputs) for r in rows]}
    tensors = rest_codec.decode_request(body, model.signatures).tensors
    expected = fn(**tensors)
    got = model.predict('serving_default', tensors)
    for name in expected:
      np.testing.assert_array_equal(got[name], expected[name].numpy())
  assert flat_calls == [True, True]  # both predicts took the flat call


def test_concurrent_single_row_requests_share_model_calls_and_keep_their_answers(
    exported, tmp_path):
  """Server-side batching (serving/batching.py) with the exported model: rows
  sent one per request from eight threads get what one 200-row request gets,
  in fewer model calls than requests."""
  import concurrent.futures  # pylint: disable=g-import-not-at-top
  root = exported.serving_root(str(tmp_path / 'serving'))
  srv = ModelServer(root, NAME).serve_in_background()
  try:
    client = client_lib.ServerClient(srv.url, NAME, admin_token=srv.admin_token)
    inputs = client.signature_inputs(exported.version)
    instances = [replay.make_instance(r.values, inputs) for r in exported.rows[:200]]
    path = f'/v1/models/{NAME}/versions/{exported.version}:predict'
    status, whole, _ = client.request('POST', path, {'instances': instances})
    assert status == 200
    model = srv.model(NAME).store.get(exported.version)
    calls_before = srv.predictor.batcher_of(model).calls

    def one(instance):
      return client.request('POST', path, {'instances': [instance]})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
      answers = list(pool.map(one, instances))
    assert [status for status, _, _ in answers] == [200] * len(instances)
    for (_, single, _), expected in zip(answers, whole['predictions']):
      got = single['predictions'][0]
      assert got['class_ids'] == expected['class_ids']
      np.testing.assert_allclose(got['probabilities'], expected['probabilities'], atol=1e-6)
    calls = srv.predictor.batcher_of(model).calls - calls_before
    print(f'[exported model] {len(instances)} concurrent single-row requests: {calls} model calls')
    assert calls < len(instances)
  finally:
    srv.shutdown()


def test_serve_shadow_canary_promote_and_roll_back_in_process(exported, bad_candidate,
                                                              tmp_path):
  v = exported.version
  root = exported.serving_root(str(tmp_path / 'serving'),
                               {1: exported.version_dir, 2: bad_candidate})
  log_dir = str(tmp_path / 'log')
  srv = ModelServer(root, NAME, request_log_dir=log_dir,
                    sticky_field=exported.spec.id_column).serve_in_background()
  try:
    assert srv.routing_state(NAME).labels == {'stable': v}  # the candidates only loaded
    client = client_lib.ServerClient(srv.url, NAME, admin_token=srv.admin_token)
    inputs = client.signature_inputs(v)
    body = {'instances': [replay.make_instance(r.values, inputs) for r in exported.rows[:20]]}
    status, answer, headers = client.request('POST', f'/v1/models/{NAME}:predict', body)
    assert status == 200 and headers['x-model-version'] == str(v)
    assert len(answer['predictions']) == 20
    assert {p['classes'] for p in answer['predictions']} <= set(exported.spec.classes)
    # Shadow: every routed request is mirrored to v+1, whose answers reach no client.
    client._admin('shadow', {'version': v + 1})
    for _ in range(5):
      assert client.request('POST', f'/v1/models/{NAME}:predict', body)[2][
          'x-model-version'] == str(v)
    assert srv.wait_for_shadow(30)
    shadowed = list(RequestLogReader(log_dir).records(model=NAME, version=v + 1,
                                                      role='shadow'))
    assert len(shadowed) == 5 * 20
    client._admin('shadow', {'version': None})
    # Canary -> promote: a retrained-looking copy of the real model.
    good = engine.run_rollout(NAME, v + 1, exported.rows, exported.spec, config(),
                              server_url=srv.url, admin_token=srv.admin_token)
    assert good.decision == config_lib.PROMOTED, good.reason
    assert srv.routing_state(NAME).labels == {'stable': v + 1, 'previous': v}
    # A real bad candidate: rolled back at the first step, stable untouched.
    bad = engine.run_rollout(NAME, v + 2, exported.rows, exported.spec, config(),
                             server_url=srv.url, admin_token=srv.admin_token)
    assert bad.decision == config_lib.ROLLED_BACK and bad.step == 1, bad.reason
    assert 'prediction_distribution' in bad.reason or 'accuracy' in bad.reason
    state = srv.routing_state(NAME)
    assert state.labels == {'stable': v + 1, 'previous': v} and v + 2 in state.rejected
  finally:
    srv.shutdown()


def test_signoff_pause_holds_the_weight_on_a_running_server_until_approved(exported,
                                                                         tmp_path):
  from rollout import signoff as signoff_lib  # pylint: disable=g-import-not-at-top
  from rollout import signoff_decision  # pylint: disable=g-import-not-at-top
  v = exported.version
  root = exported.serving_root(str(tmp_path / 'serving'), {1: exported.version_dir})
  srv = ModelServer(root, NAME, sticky_field=exported.spec.id_column).serve_in_background()
  try:
    plan = signoff_lib.SignoffPlan(
        policy=description.RolloutPolicy(signoff='always'), out_dir=str(tmp_path / 'decision'),
        replay_source=exported.replay_dir)
    paused = engine.run_rollout(NAME, v + 1, exported.rows, exported.spec, config(),
                                server_url=srv.url, serving_root=root,
                                admin_token=srv.admin_token, signoff=plan)
    assert paused.decision == config_lib.AWAITING_SIGNOFF, paused.reason
    assert os.path.exists(paused.audit['html'])
    # The controller is gone; the server still gives the canary its 25%.
    state = srv.routing_state(NAME)
    assert state.labels == {'stable': v, 'canary': v + 1} and state.canary_weight == 25.0
    client = client_lib.ServerClient(srv.url, NAME)
    inputs = client.signature_inputs(v)
    served = {client.request('POST', f'/v1/models/{NAME}:predict',
                             {'instances': [replay.make_instance(r.values, inputs)]},
                             headers={'X-Request-Key': r.key})[2]['x-model-version']
              for r in exported.rows[:80]}
    assert served == {str(v), str(v + 1)}
    decision = signoff_decision.decide(root, NAME, 'approve', 'Ada Product', 'audited',
                                       admin_token=srv.admin_token)
    assert decision.outcome == config_lib.PROMOTED, decision.outcome_reason
    assert srv.routing_state(NAME).labels == {'stable': v + 1, 'previous': v}
  finally:
    srv.shutdown()


def _start(root, token_file, log_dir):
  proc = subprocess.Popen(
      [sys.executable, '-m', 'cli.serve', '--serving-root', root, '--model-name', NAME,
       '--port', '0', '--settle-seconds', '0', '--admin-token-file', token_file,
       '--request-log-dir', log_dir, '--log-fsync-interval-ms', '20',
       '--log-level', 'WARNING'],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='2'))
  line = proc.stdout.readline()
  assert 'serving model' in line, (line, proc.stderr.read() if proc.poll() else '')
  url = 'http://127.0.0.1:' + line.split('http://127.0.0.1:')[1].split()[0]
  return proc, url


def test_kill_9_keeps_stable_serving_and_the_rejected_rejected(exported, bad_candidate,
                                                              tmp_path):
  v = exported.version
  root = exported.serving_root(str(tmp_path / 'serving'),
                               {1: exported.version_dir, 2: bad_candidate})
  token_file = str(tmp_path / 'admin.token')
  log_dir = str(tmp_path / 'log')
  proc, url = _start(root, token_file, log_dir)
  try:
    with open(token_file) as f:
      token = f.read().strip()
    good = engine.run_rollout(NAME, v + 1, exported.rows, exported.spec, config(),
                              server_url=url, admin_token=token)
    assert good.decision == config_lib.PROMOTED, good.reason
    bad = engine.run_rollout(NAME, v + 2, exported.rows, exported.spec, config(),
                             server_url=url, admin_token=token)
    assert bad.decision == config_lib.ROLLED_BACK, bad.reason
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
  # A version the Pusher drops in while the server is down must not become stable.
  shutil.copytree(exported.version_dir, os.path.join(root, NAME, str(v + 3)))
  proc, url = _start(root, token_file, log_dir)
  try:
    client = client_lib.ServerClient(url, NAME, admin_token=token)
    routing = client.routing()['routing']
    assert routing['labels'] == {'stable': str(v + 1), 'previous': str(v)}
    assert str(v + 2) in routing['rejected']
    inputs = client.signature_inputs(v + 1)
    versions = set()
    for r in exported.rows[:40]:
      status, _, headers = client.request(
          'POST', f'/v1/models/{NAME}:predict',
          {'instances': [replay.make_instance(r.values, inputs)]},
          headers={'X-Request-Key': r.key})
      assert status == 200
      versions.add(headers['x-model-version'])
    assert versions == {str(v + 1)}
    status, body, _ = client.request(
        'POST', f'/v1/models/{NAME}/versions/{v + 2}:predict',
        {'instances': [replay.make_instance(exported.rows[0].values, inputs)]})
    assert status == 409 and 'rejected' in body['error']
  finally:
    proc.terminate()
    assert proc.wait(30) == 0
