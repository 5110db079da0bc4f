"""Serving and rollouts with a model the pipeline really exported (issue 14).

The session's small pipeline run (tests/conftest.py's validation_pipeline:
generated data, the clean span 2, two epochs) pushed a real model and its
CanaryRollout decided that first deployment; the tests serve copies of that
serving root, shadow the model, canary-promote a copy, roll back a real bad
candidate (`testing.faulty_model` wrapping the real model), and `kill -9` the
server process to find the decisions still in force. They only read the
run's directories: every server gets its own copy.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest

import description
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
REPLAY_ROWS = 600  # rows of the trained span each rollout replays
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Exported:
  """What the shared pipeline run left: the pushed version, the spec, replay rows."""

  def __init__(self, env):
    model_dir = env.serving_dir
    versions = sorted(int(v) for v in os.listdir(model_dir) if v.isdigit())
    assert versions, f'the pipeline pushed nothing to {model_dir}'
    self.pushed_root = os.path.dirname(model_dir)
    self.version = versions[-1]
    self.version_dir = os.path.join(model_dir, str(self.version))
    self.spec = description.load(env.description)
    # The span the run trained on: rows the model has answered well enough to be blessed.
    self.replay_dir = os.path.dirname(env.clean_span(2))
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
def exported(validation_pipeline):
  return Exported(validation_pipeline)


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
  kw.setdefault('steps', (25.0, 100.0))
  # What a rollout reads, and what a paused one reads again from its replay
  # source when it is signed off: the same rows as exported.rows.
  kw.setdefault('max_requests_per_step', REPLAY_ROWS)
  kw.setdefault('concurrency', 2)
  kw.setdefault('max_seconds_per_step', 60.0)
  return config_lib.RolloutConfig(**kw)


def test_pipeline_pushed_and_its_rollout_decided_the_first_deployment(exported):
  # The e2e expectation: a first deployment is judged in shadow mode and, with
  # the pipeline's own blessing gates as its limits, promoted.
  assert exported.saved is not None
  assert exported.saved.labels.get('stable') == exported.version, exported.saved
  assert not exported.saved.rejected


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
