"""Helpers of the serving tests: toy-model bank names, a small HTTP client, rows.

Fixtures live in conftest.py; this module holds what tests import.
"""

import http.client
import json
import os
import shutil
from typing import Any, Dict, Optional, Tuple

from testing import toy_model

MODEL = 'credit_risk'

# name -> write_toy_model kwargs. `low` always predicts class 0 ("repaid"),
# `high` always class 2 ("default"), so an answer tells which one computed it.
BANK = {
    'mixed': {},
    'low': {'bias': -30.0},
    'high': {'bias': 30.0},
    'corrupt': {'broken': 'corrupt'},
    'nan_output': {'broken': 'nan_output'},
    'bad_outputs': {'broken': 'bad_outputs'},
}
CLASS_OF = {'low': 'repaid', 'high': 'default'}


def add_version(root: str, version: int, name: str, model_bank: Dict[str, str]) -> str:
  dest = os.path.join(root, MODEL, str(version))
  shutil.copytree(model_bank[name], dest)
  return dest


class Client:
  """Tiny keep-alive JSON client for one server (one connection, not thread-safe)."""

  def __init__(self, port: int, timeout: float = 30.0, admin_token: Optional[str] = None):
    """admin_token: sent as a bearer token with every /v1/admin/ call."""
    self.port = port
    self.admin_token = admin_token
    self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)

  def request(self, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
              headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any, Dict[str, str]]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = {'Content-Type': 'application/json'}
    if self.admin_token and path.startswith('/v1/admin/'):
      hdrs['Authorization'] = f'Bearer {self.admin_token}'
    hdrs.update(headers or {})
    self.conn.request(method, path, body=data, headers=hdrs)
    resp = self.conn.getresponse()
    payload = resp.read()
    if resp.getheader('Connection', '').lower() == 'close':
      self.conn.close()
    ctype = resp.getheader('Content-Type', '')
    parsed = json.loads(payload) if ctype.startswith('application/json') else payload.decode()
    return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}

  def get(self, path: str, **kw):
    return self.request('GET', path, **kw)

  def post(self, path: str, body: Any = None, **kw):
    return self.request('POST', path, body=body, **kw)

  def predict(self, body: Any = None, route: str = '', **kw):
    return self.post(f'/v1/models/{MODEL}{route}:predict', body, **kw)

  def close(self):
    self.conn.close()


def rows(n: int, start: int = 0, key_field: Optional[str] = None):
  out = []
  for i in range(start, start + n):
    r = toy_model.example_instance(i)
    if key_field:
      r[key_field] = f'app-{i}'
    out.append(r)
  return out
