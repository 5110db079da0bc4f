"""The canary lease keeper renews while a step runs and stops with it; admin
calls (a model load) wait longer than predictions."""

import http.server
import json
import threading
import time

import pytest

from rollout.client import CanaryLease
from rollout.client import ServerClient


class _FakeClient:

  def __init__(self):
    self.calls = []

  def set_canary(self, version, weight, lease_seconds=None):
    self.calls.append((time.monotonic(), version, weight, lease_seconds))
    return {'routing': {'generation': len(self.calls)}}

  def close(self):
    pass


def test_lease_is_renewed_until_stopped_then_left_to_expire():
  client = _FakeClient()
  lease = CanaryLease(client, 7, lease_seconds=0.3).start()
  lease.hold(25.0)
  time.sleep(0.55)
  lease.stop()
  renewals = len(client.calls)
  assert renewals >= 4  # the hold, then about every 0.1 s
  assert all(c[1:] == (7, 25.0, 0.3) for c in client.calls)
  time.sleep(0.3)
  assert len(client.calls) == renewals  # a dead controller renews nothing


class _SlowHandler(http.server.BaseHTTPRequestHandler):
  """Answers every request after DELAY seconds, as a server loading a model does."""
  DELAY = 0.6

  def _answer(self):
    length = int(self.headers.get('Content-Length') or 0)
    self.rfile.read(length)
    time.sleep(self.DELAY)
    body = json.dumps({'ok': True}).encode()
    self.send_response(200)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    self.wfile.write(body)

  do_GET = do_POST = _answer

  def log_message(self, *args):
    pass


def test_admin_calls_wait_longer_than_predictions():
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _SlowHandler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    client = ServerClient(f'http://127.0.0.1:{server.server_address[1]}', 'm',
                          timeout=0.2, admin_timeout=5.0, admin_token='t')
    # A load that takes longer than a prediction may is still answered...
    status, payload, _ = client.request('POST', '/v1/admin/models/m/versions/1:load', {})
    assert (status, payload) == (200, {'ok': True})
    # ...on the same kept-alive connection a slow prediction still times out.
    with pytest.raises(TimeoutError):
      client.request('POST', '/v1/models/m:predict', {'instances': []})
    client.close()
  finally:
    server.shutdown()
    server.server_close()
