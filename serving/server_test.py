"""End-to-end tests of the model server over real HTTP on 127.0.0.1."""

import base64
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testing import toy_model
from testing.serving_fixtures import CLASS_OF, MODEL, Client, add_version, rows
from serving.request_log import RequestLogReader

LOW, HIGH = CLASS_OF['low'], CLASS_OF['high']
ADMIN = f'/v1/admin/models/{MODEL}'


def metric_samples(client):
  status, text, _ = client.get('/metrics')
  assert status == 200
  out = {}
  for fam in text_string_to_metric_families(text):
    for s in fam.samples:
      out[(s.name, tuple(sorted(s.labels.items())))] = s.value
  return out


def metric(samples, name, **labels):
  return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metric_sum(samples, name, **labels):
  return sum(v for (n, ls), v in samples.items()
             if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


# ----------------------------------------------------------------- predict
def test_predict_row_and_columnar_formats(make_root, serve):
  srv, c = serve(make_root({1: 'mixed'}))
  batch = rows(3)
  batch[1]['loan_amount'] = None  # null -> NaN (missing)
  batch[2]['home_ownership'] = None  # null -> "" (missing)
  status, body, headers = c.predict({'instances': batch})
  assert status == 200, body
  assert headers['x-model-version'] == '1' and headers['x-model-role'] == 'stable'
  preds = body['predictions']
  assert len(preds) == 3 and set(preds[0]) == {'probabilities', 'class_ids', 'classes'}
  assert all(abs(sum(p['probabilities']) - 1) < 1e-5 for p in preds)
  assert all(p['classes'] == toy_model.CLASSES[p['class_ids']] for p in preds)

  columns = {k: [r[k] for r in batch] for k in batch[0]}
  status, body, _ = c.predict({'inputs': columns})
  assert status == 200, body
  assert body['outputs']['class_ids'] == [p['class_ids'] for p in preds]
  np.testing.assert_allclose(body['outputs']['probabilities'],
                             [p['probabilities'] for p in preds], rtol=1e-6)

  # The same answers as a direct in-process call of the signature.
  model = srv.model(MODEL).store.get(1)
  direct = model.predict('serving_default', {
      'annual_income': np.array([r['annual_income'] for r in batch], np.float32),
      'loan_amount': np.array([np.nan if r['loan_amount'] is None else r['loan_amount']
                               for r in batch], np.float32),
      'credit_score': np.array([r['credit_score'] for r in batch], np.float32),
      'home_ownership': np.array([(r['home_ownership'] or '').encode() for r in batch],
                                 dtype=object),
      'employment_type': np.array([r['employment_type'].encode() for r in batch], dtype=object),
  })
  assert direct['class_ids'].tolist() == body['outputs']['class_ids']

  # serving_examples: serialized tf.Example as {"b64": ...}, selected by signature_name.
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  exs = []
  for r in batch:
    ex = example_pb2.Example()
    for k, v in r.items():
      if isinstance(v, float):
        ex.features.feature[k].float_list.value.append(v)
      elif isinstance(v, str):
        ex.features.feature[k].bytes_list.value.append(v.encode())
    exs.append({'b64': base64.b64encode(ex.SerializeToString()).decode()})
  status, body, _ = c.predict({'signature_name': 'serving_examples', 'instances': exs})
  assert status == 200, body
  assert [p['class_ids'] for p in body['predictions']] == [p['class_ids'] for p in preds]


def test_status_and_metadata(make_root, serve):
  _, c = serve(make_root({1: 'mixed', 2: 'mixed'}))
  status, body, _ = c.get(f'/v1/models/{MODEL}')
  assert status == 200
  assert [(s['version'], s['state'], s['status']['error_code'])
          for s in body['model_version_status']] == [('2', 'AVAILABLE', 'OK'),
                                                     ('1', 'AVAILABLE', 'OK')]
  status, body, _ = c.get(f'/v1/models/{MODEL}/versions/1')
  assert status == 200 and body['model_version_status'][0]['version'] == '1'
  status, body, _ = c.get(f'/v1/models/{MODEL}/labels/stable')
  assert status == 200 and body['model_version_status'][0]['version'] == '2'

  status, body, _ = c.get(f'/v1/models/{MODEL}/versions/1/metadata')
  assert status == 200
  assert body['model_spec'] == {'name': MODEL, 'signature_name': '', 'version': '1'}
  sigs = body['metadata']['signature_def']['signature_def']
  assert set(sigs) == {'serving_default', 'serving_examples'}
  default = sigs['serving_default']
  assert default['method_name'] == 'tensorflow/serving/predict'
  assert default['inputs']['annual_income']['dtype'] == 'DT_FLOAT'
  assert default['inputs']['home_ownership']['dtype'] == 'DT_STRING'
  assert default['inputs']['annual_income']['tensor_shape'] == {'dim': [{'size': '-1'}]}
  assert default['outputs']['probabilities']['tensor_shape']['dim'][1]['size'] == '3'
  assert default['outputs']['class_ids']['dtype'] == 'DT_INT64'
  assert sigs['serving_examples']['inputs']['examples']['dtype'] == 'DT_STRING'
  status, body, _ = c.get(f'/v1/models/{MODEL}/metadata')
  assert status == 200 and body['model_spec']['version'] == '2'

  for path in (f'/v1/models/{MODEL}/versions/9', f'/v1/models/{MODEL}/versions/9/metadata',
               f'/v1/models/{MODEL}/labels/nope', '/v1/models/other', '/v1/nothing'):
    status, body, _ = c.get(path)
    assert status == 404 and body['error'], path
  assert c.get('/healthz')[0] == 200 and c.get('/readyz')[1]['ready'] is True


def test_versions_and_labels(make_root, serve):
  _, c = serve(make_root({1: 'low', 2: 'high'}))
  # The first scan labels the newest version stable (policy "manual" afterwards).
  assert c.predict({'instances': rows(1)})[2]['x-model-version'] == '2'
  status, body, _ = c.post(f'{ADMIN}/labels', {'labels': {'stable': 1, 'canary': 2}})
  assert status == 200 and body['routing']['labels'] == {'stable': '1', 'canary': '2'}
  for route, version, cls in (('', '1', LOW), ('/labels/stable', '1', LOW),
                              ('/labels/canary', '2', HIGH), ('/versions/2', '2', HIGH),
                              ('/versions/1', '1', LOW)):
    status, body, headers = c.predict({'instances': rows(2)}, route)
    assert status == 200, (route, body)
    assert headers['x-model-version'] == version, route
    assert {p['classes'] for p in body['predictions']} == {cls}, route
  assert c.predict({'instances': rows(1)}, '/labels/blue')[0] == 404
  assert c.predict({'instances': rows(1)}, '/versions/7')[0] == 404
  status, body, _ = c.post(f'{ADMIN}/labels', {'label': 'blue', 'version': 7})
  assert status == 400 and 'not available' in body['error']
  status, body, _ = c.post(f'{ADMIN}/labels', {'label': 'blue', 'version': 1})
  assert status == 200 and body['routing']['labels']['blue'] == '1'
  assert c.predict({'instances': rows(1)}, '/labels/blue')[2]['x-model-version'] == '1'
  status, body, _ = c.post(f'{ADMIN}/labels', {'labels': {'blue': None}})
  assert status == 200 and 'blue' not in body['routing']['labels']
  # A labelled version cannot be unloaded; an unlabelled one can.
  assert c.post(f'{ADMIN}/versions/1:unload')[0] == 409
  c.post(f'{ADMIN}/labels', {'labels': {'canary': None}})
  status, body, _ = c.post(f'{ADMIN}/versions/2:unload')
  assert status == 200 and body['available_versions'] == ['1']
  assert c.predict({'instances': rows(1)}, '/versions/2')[0] == 404


# ----------------------------------------------------------------- routing
def test_sticky_canary_split_tracks_weight(make_root, serve):
  srv, c = serve(make_root({1: 'low', 2: 'high'}), sticky_field='application_id')
  srv.set_labels(MODEL, {'stable': 1})
  status, _, _ = c.post(f'{ADMIN}/canary', {'version': 2, 'weight': 30})
  assert status == 200
  router = srv.model(MODEL).router
  first = {}
  for i in range(300):
    key = f'customer-{i}'
    status, body, headers = c.predict({'instances': rows(1, i)},
                                      headers={'X-Request-Key': key})
    assert status == 200
    v = headers['x-model-version']
    assert body['predictions'][0]['classes'] == (HIGH if v == '2' else LOW)
    assert (v == '2') == router.would_route_to_canary(key)
    first[key] = v
  share = sum(v == '2' for v in first.values()) / len(first)
  assert 0.22 < share < 0.38, share
  for key in list(first)[:40]:  # sticky: same key, same version
    assert c.predict({'instances': rows(1)},
                     headers={'X-Request-Key': key})[2]['x-model-version'] == first[key]
  # The key can also come from an instance field (not a model input).
  by_field = [c.predict({'instances': rows(1, i, key_field='application_id')})[2]
              ['x-model-version'] for i in range(60)]
  assert by_field == ['2' if router.would_route_to_canary(f'app-{i}') else '1'
                      for i in range(60)]
  # Runtime weight change: 0% sends everyone to stable, 100% everyone to canary.
  for weight, want in ((0, {'1'}), (100, {'2'})):
    assert c.post(f'{ADMIN}/canary', {'weight': weight})[0] == 200
    assert {c.predict({'instances': rows(1)}, headers={'X-Request-Key': k})[2]
            ['x-model-version'] for k in list(first)[:30]} == want
  status, body, _ = c.post(f'{ADMIN}/canary', {'weight': 150})
  assert status == 400 and '[0, 100]' in body['error']


def test_shadow_is_never_returned_and_is_logged(make_root, serve, tmp_path):
  srv, c = serve(make_root({1: 'low', 2: 'high'}))
  srv.set_labels(MODEL, {'stable': 1})
  assert c.post(f'{ADMIN}/shadow', {'version': 2})[0] == 200
  for i in range(20):
    status, body, headers = c.predict({'instances': rows(2, i)},
                                      headers={'X-Request-Key': f'k{i}'})
    assert status == 200 and headers['x-model-version'] == '1'
    assert {p['classes'] for p in body['predictions']} == {LOW}
  assert srv.wait_for_shadow(10)
  reader = RequestLogReader(str(tmp_path / 'requests'))
  shadow = list(reader.records(model=MODEL, version=2))
  primary = list(reader.records(model=MODEL, version=1))
  assert len(shadow) == len(primary) == 40
  assert {r['role'] for r in shadow} == {'shadow'} and {r['role'] for r in primary} == {'stable'}
  assert {r['outputs']['classes'] for r in shadow} == {HIGH}
  assert all(r['primary_version'] == 1 for r in shadow)
  assert {r['request_id'] for r in shadow} == {r['request_id'] for r in primary}
  assert shadow[0]['inputs'] == primary[0]['inputs']

  # A failing shadow never affects the answer.
  def boom(*_a, **_k):
    raise RuntimeError('shadow exploded')

  srv.model(MODEL).store.get(2).predict = boom
  for i in range(5):
    status, body, headers = c.predict({'instances': rows(1, i)})
    assert status == 200 and headers['x-model-version'] == '1'
  assert srv.wait_for_shadow(10)
  samples = metric_samples(c)
  assert metric(samples, 'serving_shadow_requests_total', model=MODEL, version='2',
                outcome='ok') == 20
  assert metric(samples, 'serving_shadow_requests_total', model=MODEL, version='2',
                outcome='error') == 5
  assert c.post(f'{ADMIN}/shadow', {'version': None})[0] == 200


def test_blue_green_switch_is_atomic_under_load(make_root, serve):
  srv, c = serve(make_root({1: 'low', 2: 'high'}))
  srv.set_labels(MODEL, {'stable': 1})
  results, errors = [], []
  stop = threading.Event()

  def client_loop(tid):
    cl = Client(srv.port)
    n = 0
    while not stop.is_set() and n < 400:
      sent = time.monotonic()
      status, body, headers = cl.predict({'instances': rows(2, n)},
                                         headers={'X-Request-Key': f'{tid}-{n}'})
      got = time.monotonic()
      if status != 200:
        errors.append((status, body))
        continue
      classes = {p['classes'] for p in body['predictions']}
      results.append((sent, got, headers['x-model-version'], classes))
      n += 1
    cl.close()

  threads = [threading.Thread(target=client_loop, args=(t,)) for t in range(6)]
  for t in threads:
    t.start()
  switches = []  # (started, finished, new stable)
  # Windows of 0.1 s between switches: wide enough that requests fall wholly
  # inside them even on a loaded machine.
  deadline = time.monotonic() + 6.0
  target = 2
  while time.monotonic() < deadline and len(switches) < 40:
    time.sleep(0.1)
    t0 = time.monotonic()
    status, body, _ = c.post(f'{ADMIN}/promote', {'version': target})
    assert status == 200 and body['routing']['labels']['stable'] == str(target)
    switches.append((t0, time.monotonic(), target))
    target = 1 if target == 2 else 2
  stop.set()
  for t in threads:
    t.join(30)
  assert not errors, errors[:3]
  assert len(switches) >= 10 and len(results) > 100
  # Every answer comes wholly from the version it names ...
  for _, _, version, classes in results:
    assert classes == {HIGH if version == '2' else LOW}
  # ... and a request sent after a switch completed (and answered before the next
  # one started) always sees the new version: no half-switched state.
  checked = 0
  for k, (_, done, new) in enumerate(switches):
    next_start = switches[k + 1][0] if k + 1 < len(switches) else float('inf')
    for sent, got, version, _ in results:
      if sent > done and got < next_start:
        assert version == str(new)
        checked += 1
  assert checked > 50
  assert {v for _, _, v, _ in results} == {'1', '2'}


def test_rollback_is_instant(make_root, serve):
  srv, c = serve(make_root({1: 'low', 2: 'high'}))
  srv.set_labels(MODEL, {'stable': 1})
  keys = [f'k{i}' for i in range(20)]

  def versions():
    return {c.predict({'instances': rows(1)}, headers={'X-Request-Key': k})[2]
            ['x-model-version'] for k in keys}

  assert c.post(f'{ADMIN}/canary', {'version': 2, 'weight': 100})[0] == 200
  assert versions() == {'2'}
  status, body, _ = c.post(f'{ADMIN}/abort_canary')
  assert status == 200 and body['routing']['canary_weight'] == 0
  assert versions() == {'1'}
  assert c.post(f'{ADMIN}/rollback')[0] == 200  # undo the abort: canary 100% again
  assert versions() == {'2'}
  status, body, _ = c.post(f'{ADMIN}/promote')  # blue-green: the canary becomes stable
  assert body['routing']['labels'] == {'stable': '2', 'previous': '1'}
  assert versions() == {'2'}
  status, body, _ = c.post(f'{ADMIN}/rollback')
  assert status == 200 and body['routing']['labels']['stable'] == '1'
  assert versions() == {'1'}
  status, body, _ = c.get(f'{ADMIN}/routing')
  assert status == 200 and body['routing']['generation'] >= 5


# ----------------------------------------------------------------- failures
def test_malformed_and_oversized_requests(make_root, serve):
  srv, c = serve(make_root({1: 'mixed'}), max_body_bytes=4096)
  good = rows(1)[0]
  cases = [
      (dict(raw=b'{"instances": [}'), 400, 'malformed JSON'),
      (dict(raw=b''), 400, 'empty request body'),
      (dict(body={'instances': [good], 'inputs': {}}), 400, 'not both'),
      (dict(body={'signature_name': 'serving_default'}), 400, 'must contain "instances"'),
      (dict(body={'instances': [dict(good, annual_income='rich')]}), 400, 'expected a number'),
      (dict(body={'instances': [{k: v for k, v in good.items() if k != 'loan_amount'}]}),
       400, "missing input(s) ['loan_amount']"),
      (dict(body={'instances': [dict(good, zipcode='x')]}), 400, "unknown input(s) ['zipcode']"),
      (dict(body={'instances': [good], 'signature_name': 'nope'}), 400, 'not found'),
      (dict(body={'signature_name': 'serving_examples', 'instances': ['not an example']}),
       400, 'rejected the input'),
      (dict(body={'instances': rows(60)}), 413, 'exceeds the limit of 4096 bytes'),
  ]
  for kw, want, fragment in cases:
    status, body, _ = c.predict(**kw)
    assert status == want, (kw, body)
    assert fragment in body['error'], (fragment, body)
  assert c.post('/v1/models/nope:predict', {'instances': [good]})[0] == 404
  assert c.post(f'/v1/models/{MODEL}:classify', {'examples': []})[0] == 400
  assert c.post(f'/v1/models/{MODEL}:predict/extra', {})[0] == 404
  # No Content-Length and no chunks: an empty body -> 400, on a raw socket.
  with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
    s.sendall(f'POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n\r\n'.encode())
    answer = s.recv(4096)
    assert answer.split(b' ')[1] == b'400' and b'empty request body' in answer
  # The server still works and counted the errors by code.
  assert c.predict({'instances': [good]})[0] == 200
  samples = metric_samples(c)
  assert metric_sum(samples, 'serving_request_errors_total', model=MODEL, code='400') >= 8
  assert metric_sum(samples, 'serving_request_errors_total', code='413') == 1
  assert metric_sum(samples, 'serving_requests_total', code='500') == 0


def test_unloadable_versions_never_replace_stable(make_root, serve, model_bank):
  root = make_root({1: 'low'})
  srv, c = serve(root)
  add_version(root, 2, 'corrupt', model_bank)
  add_version(root, 3, 'nan_output', model_bank)
  status, body, _ = c.post(f'{ADMIN}/scan')
  assert status == 200
  assert set(body['scan']['failed']) == {'2', '3'} and body['scan']['loaded'] == []
  assert 'corrupt' in body['scan']['failed']['2'] and 'smoke test' in body['scan']['failed']['3']
  status, body, _ = c.get(f'/v1/models/{MODEL}/versions/3')
  st = body['model_version_status'][0]
  assert st['state'] == 'END' and st['status']['error_code'] == 'FAILED_PRECONDITION'
  assert 'NaN' in st['status']['error_message']
  status, body, _ = c.post(f'{ADMIN}/versions/2:load')
  assert status == 422 and 'not serving' in body['error']
  status, body, _ = c.post(f'{ADMIN}/promote', {'version': 3})
  assert status == 400 and 'not available' in body['error']
  status, body, _ = c.predict({'instances': rows(1)}, '/versions/3')
  assert status == 404 and 'smoke test' in body['error']
  status, body, headers = c.predict({'instances': rows(2)})
  assert status == 200 and headers['x-model-version'] == '1'
  assert {p['classes'] for p in body['predictions']} == {LOW}
  # A good new version loads but serves only once promoted (policy "manual").
  add_version(root, 4, 'high', model_bank)
  assert c.post(f'{ADMIN}/scan')[1]['scan']['loaded'] == ['4']
  assert c.predict({'instances': rows(1)})[2]['x-model-version'] == '1'
  assert c.post(f'{ADMIN}/promote', {'version': 4})[0] == 200
  assert c.predict({'instances': rows(1)})[2]['x-model-version'] == '4'
  samples = metric_samples(c)
  assert metric(samples, 'serving_model_loads_total', model=MODEL, outcome='failed') >= 3


def test_many_concurrent_clients_no_5xx_no_lost_records(make_root, serve, tmp_path):
  srv, _ = serve(make_root({1: 'low', 2: 'high'}))
  srv.set_labels(MODEL, {'stable': 1})
  srv.set_canary(MODEL, 2, 30)
  n_clients, per_client, batch = 120, 4, 2
  barrier = threading.Barrier(n_clients, timeout=30)
  statuses, tallies, failures = Counter(), Counter(), []
  lock = threading.Lock()

  def client(tid):
    cl = Client(srv.port, timeout=60)
    try:
      barrier.wait()
      for i in range(per_client):
        body = ({'instances': rows(batch, i)} if i % 2 else
                {'inputs': {k: [r[k] for r in rows(batch, i)] for k in rows(1)[0]}})
        status, _, headers = cl.predict(body, headers={'X-Request-Key': f'c{tid}-{i}'})
        with lock:
          statuses[status] += 1
          tallies[headers.get('x-model-version')] += batch
    except Exception as e:  # pylint: disable=broad-except
      with lock:
        failures.append(repr(e))
    finally:
      cl.close()

  start = time.monotonic()
  threads = [threading.Thread(target=client, args=(t,)) for t in range(n_clients)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  elapsed = time.monotonic() - start
  assert not failures, failures[:3]
  assert statuses == {200: n_clients * per_client}, statuses
  assert elapsed < 45
  srv.shutdown()  # flushes and closes the request log
  recs = list(RequestLogReader(str(tmp_path / 'requests')).records(model=MODEL))
  assert len(recs) == n_clients * per_client * batch
  assert len({(r['request_id'], r['index']) for r in recs}) == len(recs)
  assert Counter(str(r['version']) for r in recs) == tallies
  assert 0 < tallies['2'] < tallies['1']


def test_metrics_expose_software_input_and_output_series(make_root, serve):
  srv, c = serve(make_root({1: 'low', 2: 'high'}),
                 feature_ranges={'annual_income': [0, 1e6], 'home_ownership': list(
                     toy_model.HOME_OWNERSHIP)})
  srv.set_labels(MODEL, {'stable': 1})
  batch = rows(4)
  batch[0]['annual_income'] = None  # missing
  batch[1]['annual_income'] = 5e7  # out of range (high)
  batch[2]['home_ownership'] = 'CASTLE'  # unknown category
  batch[3]['employment_type'] = ''  # missing
  assert c.predict({'instances': batch})[0] == 200
  assert c.predict({'instances': rows(2)}, '/versions/2')[0] == 200
  assert c.predict({'instances': [{'bad': 1}]})[0] == 400
  s = metric_samples(c)
  m = dict(model=MODEL, version='1')
  assert metric(s, 'serving_request_latency_seconds_count', role='stable', **m) == 1
  assert 0 < metric(s, 'serving_request_latency_seconds_sum', role='stable', **m) < 5
  assert metric(s, 'serving_requests_total', role='stable', code='200', **m) == 1
  assert metric(s, 'serving_requests_total', model=MODEL, version='2', role='direct',
                code='200') == 1
  assert metric(s, 'serving_request_errors_total', code='400', **m) == 1
  assert metric(s, 'process_resident_memory_bytes') > 10e6
  assert metric(s, 'serving_process_memory_bytes', kind='rss') > 10e6
  assert metric(s, 'serving_input_values_total', feature='annual_income', **m) == 4
  assert metric(s, 'serving_input_missing_total', feature='annual_income', **m) == 1
  assert metric(s, 'serving_input_missing_total', feature='employment_type', **m) == 1
  assert metric(s, 'serving_input_out_of_range_total', feature='annual_income', side='high',
                **m) == 1
  assert metric(s, 'serving_input_out_of_range_total', feature='home_ownership',
                side='unknown_category', **m) == 1
  assert metric(s, 'serving_predicted_class_total', role='stable', **{'class': LOW}, **m) == 4
  assert metric(s, 'serving_predicted_class_total', model=MODEL, version='2', role='direct',
                **{'class': HIGH}) == 2
  assert metric(s, 'serving_prediction_confidence_count', role='stable', **m) == 4
  assert metric_sum(s, 'serving_invalid_outputs_total') == 0
  assert metric(s, 'serving_model_version_available', **m) == 1
  assert metric(s, 'serving_model_label_info', model=MODEL, label='stable', version='1') == 1
  assert metric(s, 'serving_request_log_records_total', role='stable', **m) == 4


def test_cli_serves_and_stops_on_sigterm(make_root, tmp_path):
  root = make_root({1: 'mixed'})
  env = dict(os.environ, TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.Popen(
      [sys.executable, '-m', 'cli.serve', '--model-name', MODEL, '--serving-root', root,
       '--port', '0', '--settle-seconds', '0', '--log-level', 'WARNING',
       '--feature-range', 'annual_income=0:1e7'],
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    line = proc.stdout.readline()  # "serving model credit_risk on http://127.0.0.1:PORT ..."
    assert 'serving model' in line, (line, proc.stderr.read() if proc.poll() else '')
    port = int(line.split('http://127.0.0.1:')[1].split()[0])
    c = Client(port)
    assert c.predict({'instances': rows(1)})[0] == 200
    c.close()
    proc.terminate()
    assert proc.wait(20) == 0
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait(10)
  shutil.rmtree(root)


def test_polling_latest_policy_and_admin_token(make_root, serve, model_bank):
  root = make_root({1: 'low'})
  srv, c = serve(root, poll_seconds=0.2, version_policy='latest', admin_token='s3cret')
  anonymous = Client(srv.port)
  assert anonymous.post(f'{ADMIN}/scan')[0] == 401
  assert anonymous.get(f'{ADMIN}/routing')[0] == 401
  assert anonymous.get(f'{ADMIN}/routing', headers={'X-Admin-Token': 's3cret'})[0] == 401
  assert anonymous.get(f'{ADMIN}/routing', headers={'Authorization': 'Bearer s3cret'})[0] == 200
  add_version(root, 2, 'high', model_bank)
  deadline = time.monotonic() + 10
  version = None
  while time.monotonic() < deadline:
    version = c.predict({'instances': rows(1)})[2]['x-model-version']
    if version == '2':
      break
    time.sleep(0.1)
  assert version == '2'  # picked up by the poller and, with policy "latest", made stable
  assert srv.routing_state(MODEL).labels['stable'] == 2
