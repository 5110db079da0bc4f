"""The HTTP side of the model server, on Tornado (one process, one event loop).

The event loop only reads requests and writes answers; parsing JSON bodies and
predicting run on a bounded thread pool (TensorFlow releases the GIL), admin
calls that load models on a one-thread pool of their own. Limits (see
`serving.config.Limits`): body size (413, chunked bodies too), instances per
request (413), JSON depth (400), concurrent predicts (503 + Retry-After),
a deadline on reading the body and on answering it (503), idle connections.

Every error is `{"error": "..."}` with a 4xx status that names the problem;
500 only for a bug, without details. No answer contains a server path.

Shutdown: /readyz turns 503 first, the listeners close after
`ready_grace_seconds`, in-flight requests get `drain_seconds` to finish, then
the connections close; the caller then flushes and closes the request log.
"""

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import time
import urllib.parse
from typing import Any, Callable, List, Optional

import tornado.httpserver
import tornado.netutil
import tornado.web

from serving import admin
from serving import metrics as monitoring
from serving.config import Limits
from serving.request_body import parse_json, version_and_label
from serving.responses import Response, error
from serving.rest_codec import RequestError

_LOG = logging.getLogger(__name__)

# A refused body up to this much over the limit is still read (and dropped) so
# the client gets the 413 instead of a reset connection.
_DRAIN_BYTES = 4 * 1024 * 1024

MODEL_RE = re.compile(
    r'^/v1/models/(?P<name>[^/:]+)'
    r'(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?'
    r'(?P<rest>/metadata|:[A-Za-z_]+)?/?$')


def _log_request(handler: tornado.web.RequestHandler) -> None:
  # Refused requests are counted in /metrics; one log line each would let a
  # bad client fill the disk. Only server errors are logged as such.
  status = handler.get_status()
  log = _LOG.error if status == 500 else _LOG.debug
  log('%d %s %s %.1fms', status, handler.request.method, handler.request.path,
      1000.0 * handler.request.request_time())


class Frontend:
  """Listeners (public, and optionally admin) of one ModelServer."""

  def __init__(self, app: Any, host: str, port: int, limits: Limits,
               redact: Callable[[str], str], admin_host: Optional[str] = None,
               admin_port: Optional[int] = None):
    self.app = app
    self.limits = limits
    self.redact = redact
    self.inflight = 0
    self.draining = False
    self.predict_pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=limits.worker_threads, thread_name_prefix='predict')
    self.admin_pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix='admin')
    self.separate_admin = admin_port is not None
    self._sockets = tornado.netutil.bind_sockets(port, host, backlog=1024)
    self._admin_sockets = (tornado.netutil.bind_sockets(admin_port, admin_host or host)
                           if self.separate_admin else [])
    self.host, self.port = self._sockets[0].getsockname()[:2]
    self.admin_address = (self._admin_sockets[0].getsockname()[:2] if self._admin_sockets
                          else (self.host, self.port))
    self._loop: Optional[asyncio.AbstractEventLoop] = None
    self._servers: List[tornado.httpserver.HTTPServer] = []
    self._thread: Optional[threading.Thread] = None
    self._started = threading.Event()
    self._stopped = threading.Event()

  # ---------------------------------------------------------------- life
  def _application(self, role: str) -> tornado.web.Application:
    return tornado.web.Application([(r'/.*', _Handler, {'frontend': self, 'role': role})],
                                   compress_response=False, log_function=_log_request)

  def _listen(self) -> None:
    limits = self.limits
    options = dict(max_body_size=limits.max_body_bytes + _DRAIN_BYTES,
                   max_buffer_size=limits.max_body_bytes + _DRAIN_BYTES,
                   body_timeout=limits.request_deadline_seconds,
                   idle_connection_timeout=limits.idle_connection_seconds,
                   no_keep_alive=False, xheaders=False)
    public = tornado.httpserver.HTTPServer(
        self._application('public' if self.separate_admin else 'all'), **options)
    public.add_sockets(self._sockets)
    self._servers.append(public)
    if self.separate_admin:
      admin_server = tornado.httpserver.HTTPServer(self._application('admin'), **options)
      admin_server.add_sockets(self._admin_sockets)
      self._servers.append(admin_server)

  def run(self) -> None:
    """Serves on the calling thread until stop() (or a signal handler's stop)."""
    self._loop = asyncio.new_event_loop()
    asyncio.set_event_loop(self._loop)
    try:
      self._loop.run_until_complete(self._serve())
    finally:
      self._loop.close()
      self._stopped.set()

  async def _serve(self) -> None:
    self._listen()
    self._stop_requested = asyncio.Event()
    self._started.set()
    await self._stop_requested.wait()
    await self._drain()

  def start_in_thread(self) -> None:
    if self._thread is None:
      self._thread = threading.Thread(target=self.run, name=f'http-{self.port}', daemon=True)
      self._thread.start()
      self._started.wait(30)

  def stop(self, timeout: Optional[float] = None) -> None:
    """Drains and stops; returns when the loop has ended (or after `timeout`)."""
    if self._loop is None or self._stopped.is_set():
      for s in self._sockets + self._admin_sockets:
        s.close()
      return
    self._loop.call_soon_threadsafe(self._stop_requested.set)
    if threading.current_thread() is not self._thread:
      self._stopped.wait(timeout if timeout is not None else
                         self.limits.drain_seconds + self.limits.ready_grace_seconds + 10)

  async def _drain(self) -> None:
    self.draining = True
    if self.limits.ready_grace_seconds:
      await asyncio.sleep(self.limits.ready_grace_seconds)
    for server in self._servers:
      server.stop()
    deadline = time.monotonic() + self.limits.drain_seconds
    while self.inflight and time.monotonic() < deadline:
      await asyncio.sleep(0.01)
    if self.inflight:
      _LOG.warning('%d requests still running after %.1fs of draining', self.inflight,
                   self.limits.drain_seconds)
    for server in self._servers:
      try:
        await asyncio.wait_for(server.close_all_connections(), 2.0)
      except asyncio.TimeoutError:
        pass
    self.predict_pool.shutdown(wait=False)
    self.admin_pool.shutdown(wait=False)

  # ---------------------------------------------------------------- work
  async def run_predict(self, work: Callable[[], Response], started: float) -> Response:
    """Runs `work` on the predict pool within the request deadline."""
    limits = self.limits
    if self.draining:
      return Response(503, {'error': 'the server is shutting down; retry on another '
                                     'replica'}, {'Retry-After': str(limits.retry_after_seconds),
                                                  'Connection': 'close'})
    if self.inflight >= limits.max_concurrent_requests:
      return Response(503, {'error': f'the server is at its limit of '
                                     f'{limits.max_concurrent_requests} concurrent requests '
                                     f'(max_concurrent_requests); retry shortly'},
                      {'Retry-After': str(limits.retry_after_seconds)})
    self.inflight += 1
    future = asyncio.get_running_loop().run_in_executor(self.predict_pool, work)
    future.add_done_callback(self._done)  # the slot frees when the thread does
    left = limits.request_deadline_seconds - (time.monotonic() - started)
    try:
      return await asyncio.wait_for(asyncio.shield(future), max(left, 0.001))
    except asyncio.TimeoutError:
      return Response(503, {'error': f'the request took longer than its deadline of '
                                     f'{limits.request_deadline_seconds:g}s '
                                     f'(request_deadline_seconds)'},
                      {'Retry-After': str(limits.retry_after_seconds)})

  def _done(self, _future) -> None:
    self.inflight -= 1


@tornado.web.stream_request_body
class _Handler(tornado.web.RequestHandler):
  """Every endpoint; dispatch by path (see serving.server's docstring)."""

  def initialize(self, frontend: Frontend, role: str) -> None:
    self.frontend = frontend
    self.role = role  # all | public | admin
    self._started = time.monotonic()
    self._chunks: List[bytes] = []
    self._size = 0
    self._too_large = False

  def compute_etag(self):
    return None

  def set_default_headers(self) -> None:
    self.clear_header('Server')

  # ---------------------------------------------------------------- body
  def prepare(self) -> None:
    limit = self.frontend.limits.max_body_bytes
    length = self.request.headers.get('Content-Length')
    if length is not None and length.strip().isdigit() and int(length) > limit:
      self._too_large = True
      if int(length) > limit + _DRAIN_BYTES:
        self._answer(self._too_large_response(int(length)))

  def data_received(self, chunk: bytes) -> None:
    if self._too_large:
      return
    self._size += len(chunk)
    if self._size > self.frontend.limits.max_body_bytes:
      self._too_large = True
      self._chunks = []
      return
    self._chunks.append(chunk)

  def _too_large_response(self, size: Optional[int] = None) -> Response:
    m = MODEL_RE.match(self.request.path)
    if m:  # counted like every refused predict
      self.frontend.app.observe_refused(urllib.parse.unquote(m['name']), 413)
    limit = self.frontend.limits.max_body_bytes
    got = f'of {size} bytes ' if size else ''
    return Response(413, {'error': f'request body {got}exceeds the limit of {limit} bytes '
                                   f'(max_body_bytes); send smaller batches'},
                    {'Connection': 'close'})

  def _body(self) -> bytes:
    return b''.join(self._chunks)

  # ---------------------------------------------------------------- answer
  def _answer(self, resp: Response) -> None:
    if self._finished:
      return
    if isinstance(resp.payload, (bytes, bytearray)):
      data = bytes(resp.payload)
      ctype = resp.headers.pop('Content-Type', 'text/plain; charset=utf-8')
    else:
      text = json.dumps(resp.payload, allow_nan=False, separators=(',', ':'),
                        default=str)
      data = self.frontend.redact(text).encode('utf-8')
      ctype = 'application/json'
    self.set_status(resp.status)
    self.set_header('Content-Type', ctype)
    for k, v in resp.headers.items():
      self.set_header(k, v)
    self.finish(data)

  def write_error(self, status_code: int, **kwargs) -> None:
    # Tornado's own refusals (and a bug) as JSON, never a traceback or a path.
    if status_code >= 500:
      _LOG.error('internal error on %s %s', self.request.method, self.request.path,
                 exc_info=kwargs.get('exc_info'))
    message = self._reason if status_code < 500 else 'internal error'
    self.set_header('Content-Type', 'application/json')
    self.finish(json.dumps({'error': message}))

  # ---------------------------------------------------------------- verbs
  async def get(self) -> None:
    self._answer(await self._get())

  async def head(self) -> None:
    self._answer(await self._get())

  async def post(self) -> None:
    if self._too_large:
      self._answer(self._too_large_response())
      return
    self._answer(await self._post())

  async def _other(self) -> None:
    self._answer(error(405, f'method {self.request.method} is not allowed'))

  put = delete = patch = options = _other

  def _admin_refusal(self, method: str) -> Optional[Response]:
    if self.role == 'public':
      return error(404, f'no such endpoint: {method} {self.request.path} (the admin API '
                        f'listens on its own port)')
    return admin.check_request(self.frontend.app.admin_token,
                               self.request.headers.get('Authorization'), method,
                               self.request.headers.get('Content-Type'))

  async def _get(self) -> Response:
    app = self.frontend.app
    path = self.request.path
    if self.role == 'admin' and not path.startswith('/v1/admin/'):
      return error(404, f'no such endpoint on the admin port: GET {path}')
    if path == '/metrics':
      return Response(200, app.metrics.render(),
                      {'Content-Type': monitoring.CONTENT_TYPE_LATEST})
    if path == '/healthz':
      return Response(200, {'status': 'ok'})
    if path == '/readyz':
      if self.frontend.draining:
        return Response(503, {'ready': False, 'reason': 'shutting down'})
      ok, detail = app.ready()
      return Response(200 if ok else 503, {'ready': ok, 'models': detail})
    m = MODEL_RE.match(path)
    if m:
      name = urllib.parse.unquote(m['name'])
      try:
        version, label = version_and_label(m)
      except RequestError as e:
        return error(e.status, str(e))
      if m['rest'] is None:
        return app.status(name, version, label)
      if m['rest'] == '/metadata':
        return app.metadata(name, version, label)
      return error(405, f'{m["rest"]} needs POST')
    m = admin.ADMIN_RE.match(path)
    if m and m['action'] == 'routing':
      refusal = self._admin_refusal('GET')
      if refusal is not None:
        return refusal
      name = urllib.parse.unquote(m['name'])
      if name not in app.model_names():
        return error(404, f'model "{name}" is not served')
      return Response(200, app.routing_json(name))
    return error(404, f'no such endpoint: GET {path}')

  async def _post(self) -> Response:
    app = self.frontend.app
    path = self.request.path
    m = MODEL_RE.match(path)
    if m and self.role != 'admin':
      return await self._predict(app, m)
    m = admin.ADMIN_RE.match(path)
    if m:
      refusal = self._admin_refusal('POST')
      if refusal is not None:
        return refusal
      if m['action'] == 'routing':
        return error(405, 'routing is read with GET')
      name = urllib.parse.unquote(m['name'])
      if name not in app.model_names():
        return error(404, f'model "{name}" is not served')
      raw = self._body()
      try:
        body = parse_json(raw, self.frontend.limits) if raw.strip() else {}
      except RequestError as e:
        return error(e.status, str(e))
      return await asyncio.get_running_loop().run_in_executor(
          self.frontend.admin_pool, admin.dispatch, app, name, m, body)
    return error(404, f'no such endpoint: POST {path}')

  async def _predict(self, app: Any, m: 're.Match') -> Response:
    name = urllib.parse.unquote(m['name'])
    if m['rest'] != ':predict':
      if m['rest'] in (':classify', ':regress'):
        return error(400, f'{m["rest"]} is not supported by this server; use :predict')
      return error(404, f'no such endpoint: POST {self.request.path} (use '
                        f'.../{name}:predict)')
    try:
      version, label = version_and_label(m)
    except RequestError as e:
      return error(e.status, str(e))
    raw = self._body()
    key = self.request.headers.get(app.key_header)
    limits = self.frontend.limits

    def work() -> Response:
      try:
        body = parse_json(raw, limits)
      except RequestError as e:
        app.observe_refused(name, e.status)
        return error(e.status, str(e))
      return app.predict(name, body, version=version, label=label, request_key=key)

    return await self.frontend.run_predict(work, self._started)
