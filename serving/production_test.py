"""Issue 14, one test per finding: each failed against the http.server-based server.

Real HTTP on 127.0.0.1 with the toy models of `testing.toy_model`.
"""

import json
import os
import socket
import threading
import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving import routing_store
from serving.config import Limits
from serving.server import ModelServer
from testing import faulty_model
from testing import toy_model
from testing.serving_fixtures import MODEL, Client, add_version, rows

ADMIN = f'/v1/admin/models/{MODEL}'


@pytest.fixture(scope='module')
def slow_model(tmp_path_factory):
  base = toy_model.write_toy_model(str(tmp_path_factory.mktemp('base') / 'm'), 1)
  return faulty_model.write_faulty_model(base, str(tmp_path_factory.mktemp('slow') / '1'),
                                         'slow', classes=toy_model.CLASSES, delay_ms=400)


def raw_http(port, data, timeout=10.0):
  """Sends bytes, returns everything the server answers until it closes or idles."""
  with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
    s.sendall(data)
    chunks = []
    try:
      while True:
        chunk = s.recv(65536)
        if not chunk:
          break
        chunks.append(chunk)
        if b'"error"' in chunk or b'"predictions"' in chunk and chunk.endswith(b'}'):
          s.settimeout(0.5)
    except socket.timeout:
      pass
    return b''.join(chunks)


# ----------------------------------------------------------------- 1. durable routing
def test_rejected_candidate_and_stable_survive_a_restart(make_root, serve, model_bank):
  root = make_root({1: 'low'})
  srv, c = serve(root)
  add_version(root, 2, 'high', model_bank)
  assert c.post(f'{ADMIN}/scan')[0] == 200
  assert c.post(f'{ADMIN}/canary', {'version': 2, 'weight': 20})[0] == 200
  status, body, _ = c.post(f'{ADMIN}/reject', {'version': 2, 'reason': 'error_rate breach'})
  assert status == 200 and body['routing']['rejected'] == {'2': 'error_rate breach'}
  srv.shutdown()
  # A restart (the newest directory is the rejected candidate) and a new push.
  add_version(root, 3, 'high', model_bank)
  srv2, c2 = serve(root)
  state = srv2.routing_state(MODEL)
  assert state.labels == {'stable': 1} and 2 in state.rejected
  assert not srv2.model(MODEL).store.is_available(2)  # never even loaded
  assert srv2.model(MODEL).store.is_available(3)  # loaded and smoke-tested ...
  versions = {c2.predict({'instances': rows(1)}, headers={'X-Request-Key': f'k{i}'})[2][
      'x-model-version'] for i in range(30)}
  assert versions == {'1'}  # ... but stable only by promotion
  status, body, _ = c2.predict({'instances': rows(1)}, '/versions/2')
  assert status == 409 and 'rejected' in body['error']
  assert c2.post(f'{ADMIN}/promote', {'version': 3})[0] == 200
  assert c2.predict({'instances': rows(1)})[2]['x-model-version'] == '3'


def test_first_deployment_is_stable_and_state_file_is_atomic_and_private(make_root, serve):
  root = make_root({5: 'low'})
  srv, c = serve(root)
  assert srv.routing_state(MODEL).labels == {'stable': 5}
  path = routing_store.state_path(root, MODEL)
  assert os.stat(path).st_mode & 0o777 == 0o600
  assert [n for n in os.listdir(root) if n.startswith('.')] == []  # no temporary left
  assert routing_store.read(path).labels == {'stable': 5}
  with open(path, 'w') as f:
    f.write('{"format": 1, "labels": ')  # torn by hand: the server must refuse, not guess
  srv.shutdown()
  with pytest.raises(routing_store.RoutingStateError, match='routing.json'):
    ModelServer(root, MODEL)


# ----------------------------------------------------------------- 2. admin security
def test_admin_needs_bearer_token_and_json(make_root, serve, tmp_path):
  srv, c = serve(make_root({1: 'low'}))
  assert srv.admin_token_path and os.stat(srv.admin_token_path).st_mode & 0o777 == 0o600
  with open(srv.admin_token_path) as f:
    assert f.read().strip() == srv.admin_token
  anonymous = Client(srv.port)
  assert anonymous.get(f'{ADMIN}/routing')[0] == 401
  bad = {'Authorization': 'Bearer ' + 'x' * len(srv.admin_token)}
  assert anonymous.post(f'{ADMIN}/rollback', {}, headers=bad)[0] == 401
  # A cross-site form POST carries no JSON content type: refused even with the token.
  good = {'Authorization': f'Bearer {srv.admin_token}'}
  status, body, _ = anonymous.post(f'{ADMIN}/labels', raw=b'label=stable&version=1',
                                   headers=dict(good, **{
                                       'Content-Type': 'application/x-www-form-urlencoded'}))
  assert status == 415 and 'application/json' in body['error']
  assert anonymous.post(f'{ADMIN}/scan', {}, headers=good)[0] == 200


def test_admin_on_its_own_port(make_root, serve):
  srv, c = serve(make_root({1: 'low'}), admin_port=0)
  admin_port = int(srv.admin_url.rsplit(':', 1)[1])
  assert admin_port != srv.port
  assert c.get(f'{ADMIN}/routing')[0] == 404  # not on the public port
  admin = Client(admin_port, admin_token=srv.admin_token)
  assert admin.get(f'{ADMIN}/routing')[0] == 200
  assert admin.predict({'instances': rows(1)})[0] == 404  # no predicts on the admin port
  assert c.predict({'instances': rows(1)})[0] == 200


# ----------------------------------------------------------------- 3. bounded metrics
def _series(c):
  _, text, _ = c.get('/metrics')
  out = set()
  for fam in text_string_to_metric_families(text):
    for s in fam.samples:
      out.add((s.name, tuple(sorted(s.labels.items()))))
  return out


def test_client_input_cannot_mint_metric_series(make_root, serve):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  srv, c = serve(make_root({1: 'mixed'}))
  for i in range(3):  # warm every series a normal request touches
    c.predict({'instances': rows(1)})
    c.predict({'instances': rows(1)}, '/versions/1')
  before = _series(c)
  for i in range(20):
    c.predict({'instances': rows(1)}, f'/versions/{1000 + i}')
    c.predict({'instances': rows(1)}, f'/labels/label{i}')
    c.post(f'/v1/models/model{i}:predict', {'instances': rows(1)})
    ex = tf.train.Example()
    for name, value in rows(1)[0].items():
      if isinstance(value, str):
        ex.features.feature[name].bytes_list.value.append(value.encode())
      else:
        ex.features.feature[name].float_list.value.append(value)
    ex.features.feature[f'invented_{i}'].float_list.value.append(1.0)
    import base64  # pylint: disable=g-import-not-at-top
    status, body, _ = c.predict({'signature_name': 'serving_examples', 'instances': [
        {'b64': base64.b64encode(ex.SerializeToString()).decode()}]})
    assert status == 200, body
  grown = {s for s in _series(c) - before}
  label_values = {v for _, labels in grown for _, v in labels}
  assert not any(v.startswith(('invented_', 'label', 'model')) or v.startswith('10')
                 for v in label_values), sorted(label_values)
  assert len(grown) < 20, sorted(grown)  # a fixed handful of "other" series, not one per request


# ----------------------------------------------------------------- 4. bad input -> 4xx
def test_bad_input_is_a_clear_4xx_never_500(make_root, serve, model_bank):
  root = make_root({1: 'mixed'})
  srv, c = serve(root)
  add_version(root, 2, 'corrupt', model_bank)
  good = rows(1)[0]
  huge = b'{"instances": [' + json.dumps(good).replace(
      str(good['annual_income']), '9' * 400).encode() + b']}'
  cases = [
      (dict(raw=huge), 400, 'too large'),
      (dict(raw=b'{"instances": ' + b'[' * 900 + b']' * 900 + b'}'), 400, 'nested deeper'),
      (dict(raw=b'[' * 100000 + b']' * 100000), 400, 'nested deeper'),
      (dict(raw=json.dumps({'instances': [good]}).replace(
          str(good['loan_amount']), 'NaN').encode()), 400, 'NaN'),
      (dict(raw=json.dumps({'instances': [good]}).replace(
          str(good['loan_amount']), '-Infinity').encode()), 400, 'Infinity'),
      (dict(raw=json.dumps({'instances': [good]}).replace(
          str(good['loan_amount']), '1e999').encode()), 400, 'not finite'),
      (dict(raw=b'\xff\xfe{}'), 400, 'UTF-8'),
      (dict(body={'instances': [good]}, route='/versions/%D9%A1'), 404, 'ASCII digits'),
  ]
  for kw, want, fragment in cases:
    status, body, _ = c.predict(**kw)
    assert status == want, (kw.get('route'), body)
    assert fragment in body['error'], (fragment, body)
  status, body, _ = c.post(f'{ADMIN}/versions/%D9%A1:load')
  assert status == 400 and 'ASCII' in body['error'], body
  # Raw UTF-8 digits in the request line (no client library sends those).
  answer = raw_http(srv.port, f'GET /v1/models/{MODEL}/versions/\u0661\u0662 HTTP/1.1\r\n'
                              f'Host: x\r\nConnection: close\r\n\r\n'.encode('utf-8'))
  assert answer.startswith(b'HTTP/1.1 404') and b'ASCII digits' in answer, answer[:300]
  status, body, _ = c.post(f'{ADMIN}/labels', {'labels': {'stable': '\u0661'}})
  assert status == 400 and 'ASCII' in body['error']
  # No filesystem path in any answer, even where TensorFlow's messages quote one.
  answers = [c.post(f'{ADMIN}/versions/2:load'), c.get(f'/v1/models/{MODEL}'),
             c.get(f'/v1/models/{MODEL}/versions/2'), c.get(f'{ADMIN}/routing'),
             c.predict({'instances': [good]}, '/versions/2'),
             c.predict({'instances': [good]}, '/versions/77'), c.post(f'{ADMIN}/scan')]
  assert answers[0][0] == 422
  for status, body, _ in answers:
    text = json.dumps(body)
    assert root not in text and os.path.realpath(root) not in text, text
    assert str(srv.state_dir) not in text
  samples = _series(c)
  assert not [s for s in samples if ('code', '500') in s[1]]


def test_non_finite_numbers_as_missing_values_with_the_flag(make_root, serve):
  srv, c = serve(make_root({1: 'mixed'}), limits=Limits(allow_non_finite=True))
  good = rows(1)[0]
  raw = json.dumps({'instances': [good]}).replace(str(good['loan_amount']), 'NaN')
  status, body, _ = c.predict(raw=raw.encode())
  assert status == 200 and all(p is not None for p in body['predictions'][0]['probabilities'])


# ----------------------------------------------------------------- 5. limits
def test_batch_limit_and_chunked_bodies(make_root, serve):
  srv, c = serve(make_root({1: 'mixed'}), limits=Limits(max_instances=5, max_body_bytes=8192))
  status, body, _ = c.predict({'instances': rows(6)})
  assert status == 413 and 'max_instances' in body['error']
  token = srv.admin_token
  # A chunked admin POST followed by a second request on the same connection:
  # both are read whole and answered (the old server parsed the body as a request).
  chunk = b'{"label": "stable", "version": 1}'
  req = (f'POST {ADMIN}/labels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n'
         f'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'
         f'{len(chunk):x}\r\n').encode() + chunk + b'\r\n0\r\n\r\n'
  req += f'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode()
  answer = raw_http(srv.port, req)
  assert answer.count(b'HTTP/1.1 200') == 2 and b'"status":"ok"' in answer, answer[:500]
  # A chunked body over the limit: 413 with the reason.
  big = json.dumps({'instances': rows(200)}).encode()
  req = (f'POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n'
         f'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n').encode()
  for i in range(0, len(big), 1000):
    part = big[i:i + 1000]
    req += f'{len(part):x}\r\n'.encode() + part + b'\r\n'
  answer = raw_http(srv.port, req + b'0\r\n\r\n')
  assert answer.startswith(b'HTTP/1.1 413') and b'max_body_bytes' in answer, answer[:300]


def test_saturation_is_503_with_retry_after_and_deadline_is_enforced(make_root, serve,
                                                                      slow_model, tmp_path):
  root = str(tmp_path / 'slow_root')
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(slow_model, os.path.join(root, MODEL, '1'))
  srv, c = serve(root, limits=Limits(max_concurrent_requests=2, worker_threads=2,
                                     request_deadline_seconds=3.0))
  statuses, retry = Counter(), []
  lock = threading.Lock()

  def one():
    cl = Client(srv.port)
    status, _, headers = cl.predict({'instances': rows(1)})
    with lock:
      statuses[status] += 1
      if status == 503:
        retry.append(headers.get('retry-after'))

  threads = [threading.Thread(target=one) for _ in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(30)
  assert statuses[200] >= 2 and statuses[503] >= 1 and set(statuses) <= {200, 503}, statuses
  assert retry and all(r == '1' for r in retry)
  srv2, c2 = serve(root, limits=Limits(request_deadline_seconds=0.2))
  status, body, _ = c2.predict({'instances': rows(1)})
  assert status == 503 and 'deadline' in body['error']


def test_slow_client_is_cut_off_by_the_body_deadline(make_root, serve):
  srv, _ = serve(make_root({1: 'mixed'}), limits=Limits(request_deadline_seconds=0.5))
  with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
    s.sendall(f'POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n'
              f'Content-Length: 1000\r\n\r\n{{"inst'.encode())
    start = time.monotonic()
    assert s.recv(100) == b''  # the server closed the connection ...
    assert time.monotonic() - start < 5  # ... soon after the deadline, not never


def test_graceful_shutdown_readyz_first_inflight_finishes_log_flushed(serve, slow_model,
                                                                      tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / 'root')
  shutil.copytree(slow_model, os.path.join(root, MODEL, '1'))
  log_dir = str(tmp_path / 'log')
  srv, c = serve(root, request_log_dir=log_dir,
                 limits=Limits(ready_grace_seconds=0.6, drain_seconds=5))
  result = {}

  def slow_request():
    result['answer'] = Client(srv.port).predict({'instances': rows(1)})

  t = threading.Thread(target=slow_request)
  t.start()
  time.sleep(0.15)  # the request is in flight (the model sleeps 400 ms)
  stopper = threading.Thread(target=srv.shutdown)
  stopper.start()
  time.sleep(0.1)
  ready = Client(srv.port).get('/readyz')
  assert ready[0] == 503 and ready[1]['reason'] == 'shutting down'
  t.join(10)
  stopper.join(15)
  assert result['answer'][0] == 200
  from serving.request_log import count_records  # pylint: disable=g-import-not-at-top
  assert count_records(log_dir) == 1


# ----------------------------------------------------------------- 7. canary lease
def test_canary_weight_expires_unless_renewed(make_root, serve):
  srv, c = serve(make_root({1: 'low', 2: 'high'}))
  srv.set_labels(MODEL, {'stable': 1})
  status, body, _ = c.post(f'{ADMIN}/canary', {'version': 2, 'weight': 100,
                                               'lease_seconds': 0.5})
  assert status == 200 and body['routing']['canary_lease_until'] is not None
  assert c.predict({'instances': rows(1)})[2]['x-model-version'] == '2'
  time.sleep(0.7)
  assert c.predict({'instances': rows(1)})[2]['x-model-version'] == '1'
  deadline = time.monotonic() + 5
  while srv.routing_state(MODEL).canary_weight and time.monotonic() < deadline:
    time.sleep(0.1)
  assert srv.routing_state(MODEL).canary_weight == 0  # the reaper saved it durably too
  saved = routing_store.read(routing_store.state_path(os.path.dirname(
      srv.model(MODEL).store.base_path), MODEL))
  assert saved.canary_weight == 0
