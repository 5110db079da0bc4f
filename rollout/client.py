"""JSON over HTTP to one model server: predict, routing and the admin API.

Admin calls carry `Authorization: Bearer <token>` (the server refuses admin
calls without it). Only loopback servers are reached unless the caller says
`allow_non_loopback=True` on purpose: a rollout moves production traffic.
"""

import http.client
import ipaddress
import json
import threading
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Tuple

from rollout.config import RolloutError


def is_loopback(host: str) -> bool:
  if host == 'localhost':
    return True
  try:
    return ipaddress.ip_address(host.strip('[]')).is_loopback
  except ValueError:
    return False


class AdminError(RolloutError):

  def __init__(self, status: int, message: str, action: str):
    super().__init__(f'{action}: HTTP {status}: {message}')
    self.status = status
    self.message = message


def error_text(payload: Any) -> str:
  if isinstance(payload, dict) and 'error' in payload:
    return str(payload['error'])
  return str(payload)[:500]


def labels_of(routing: Mapping[str, Any]) -> Dict[str, int]:
  return {k: int(v) for k, v in routing['routing']['labels'].items()}


# Seconds an admin call (load, route, promote) may take to answer.
DEFAULT_ADMIN_TIMEOUT = 600.0


class ServerClient:
  """One keep-alive connection per thread to one server, for one model."""

  def __init__(self, url: str, model: str, timeout: float = 30.0,
               admin_token: Optional[str] = None, allow_non_loopback: bool = False,
               admin_timeout: float = DEFAULT_ADMIN_TIMEOUT):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != 'http' or not parts.hostname or not parts.port:
      raise RolloutError(f'server URL must look like http://127.0.0.1:8501, got {url!r}')
    if not allow_non_loopback and not is_loopback(parts.hostname):
      raise RolloutError(f'server {url} is not on loopback; pass --allow-non-loopback '
                         f'(allow_non_loopback=True) to roll out to a remote server on '
                         f'purpose')
    self.url = url.rstrip('/')
    self.host, self.port = parts.hostname, parts.port
    self.model = model
    self.timeout = timeout
    # Admin calls wait for the server to load a SavedModel (TF graph import,
    # warm-up): seconds on an idle machine, minutes on a loaded one. A slow
    # load is not a failure of the server; a prediction that slow is, so only
    # admin calls wait this long (a refused or dropped connection still fails
    # at once).
    self.admin_timeout = admin_timeout
    self.admin_token = admin_token
    self._local = threading.local()

  def _conn(self) -> http.client.HTTPConnection:
    conn = getattr(self._local, 'conn', None)
    if conn is None:
      conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
      self._local.conn = conn
    return conn

  def _drop(self) -> None:
    conn = getattr(self._local, 'conn', None)
    if conn is not None:
      conn.close()
    self._local.conn = None

  def request(self, method: str, path: str, body: Any = None,
              headers: Optional[Dict[str, str]] = None
              ) -> Tuple[int, Any, Dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    hdrs = {'Content-Type': 'application/json'}
    if self.admin_token and path.startswith('/v1/admin/'):
      hdrs['Authorization'] = f'Bearer {self.admin_token}'
    hdrs.update(headers or {})
    timeout = self.admin_timeout if path.startswith('/v1/admin/') else self.timeout
    for attempt in (0, 1):
      conn = self._conn()
      conn.timeout = timeout  # a new connection's socket
      if conn.sock is not None:
        conn.sock.settimeout(timeout)  # a kept-alive one's
      try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
      except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        # A keep-alive connection the server closed while idle: reconnect once.
        self._drop()
        if attempt:
          raise
        continue
      except (OSError, http.client.HTTPException):
        self._drop()
        raise
      if resp.getheader('Connection', '').lower() == 'close':
        self._drop()
      try:
        parsed = json.loads(payload) if payload else None
      except ValueError:
        parsed = payload.decode('utf-8', 'replace')
      return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}
    raise AssertionError('unreachable')

  def close(self) -> None:
    self._drop()

  # -------------------------------------------------------------- admin
  def _admin(self, action: str, body: Any = None) -> Dict[str, Any]:
    path = f'/v1/admin/models/{urllib.parse.quote(self.model)}/{action}'
    status, payload, _ = self.request('POST', path, body if body is not None else {})
    if status != 200:
      raise AdminError(status, error_text(payload), action)
    return payload

  def routing(self) -> Dict[str, Any]:
    status, payload, _ = self.request(
        'GET', f'/v1/admin/models/{urllib.parse.quote(self.model)}/routing')
    if status != 200:
      raise AdminError(status, error_text(payload), 'routing')
    return payload

  def load(self, version: int) -> Dict[str, Any]:
    return self._admin(f'versions/{int(version)}:load')

  def unload(self, version: int) -> Dict[str, Any]:
    return self._admin(f'versions/{int(version)}:unload')

  def set_labels(self, labels: Mapping[str, Optional[int]]) -> Dict[str, Any]:
    return self._admin('labels', {'labels': dict(labels)})

  def set_canary(self, version: int, weight: float,
                 lease_seconds: Optional[float] = None) -> Dict[str, Any]:
    body = {'version': int(version), 'weight': weight}
    if lease_seconds is not None:
      body['lease_seconds'] = float(lease_seconds)
    return self._admin('canary', body)

  def promote(self, version: int) -> Dict[str, Any]:
    return self._admin('promote', {'version': int(version)})

  def abort_canary(self) -> Dict[str, Any]:
    return self._admin('abort_canary')

  def set_automation_level(self, level: str) -> Dict[str, Any]:
    """shadow | assist | partial | full (serving.automation); kept across restarts."""
    return self._admin('automation', {'level': level})

  def reject(self, version: int, reason: str) -> Dict[str, Any]:
    """Marks a version rejected in the server's durable routing state."""
    return self._admin('reject', {'version': int(version), 'reason': reason[:1000]})

  def signature_inputs(self, version: int) -> Dict[str, str]:
    """serving_default's inputs of a version: name -> 'float' | 'string'."""
    status, payload, _ = self.request(
        'GET', f'/v1/models/{urllib.parse.quote(self.model)}/versions/{int(version)}/metadata')
    if status != 200:
      raise AdminError(status, error_text(payload), 'metadata')
    sig = payload['metadata']['signature_def']['signature_def']['serving_default']
    return {name: ('string' if info.get('dtype') == 'DT_STRING' else 'float')
            for name, info in sorted(sig['inputs'].items())}


class CanaryLease:
  """Renews the canary weight's lease in the background while a step runs."""

  def __init__(self, client: ServerClient, version: int, lease_seconds: float):
    self._client = client
    self._version = version
    self._lease = lease_seconds
    self._weight: Optional[float] = None
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, name='canary-lease', daemon=True)
    self.failures: List[str] = []

  def start(self) -> 'CanaryLease':
    self._thread.start()
    return self

  def hold(self, weight: float) -> Dict[str, Any]:
    self._weight = weight
    return self._client.set_canary(self._version, weight, self._lease)

  def _run(self) -> None:
    while not self._stop.wait(self._lease / 3.0):
      if self._weight is None:
        continue
      try:
        self._client.set_canary(self._version, self._weight, self._lease)
      except Exception as e:  # pylint: disable=broad-except  (the step's checks decide)
        self.failures.append(f'{type(e).__name__}: {e}')
      finally:
        self._client.close()  # this thread's connection

  def stop(self) -> None:
    self._stop.set()
    self._thread.join(timeout=10)
