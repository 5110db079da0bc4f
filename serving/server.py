"""A TensorFlow-Serving-compatible REST model server with progressive delivery.

Endpoints (TF Serving REST API, https://www.tensorflow.org/tfx/serving/api_rest):

  GET  /v1/models/{name}[/versions/{v}|/labels/{label}]            version status
  GET  /v1/models/{name}[/versions/{v}|/labels/{label}]/metadata   signature defs
  POST /v1/models/{name}[/versions/{v}|/labels/{label}]:predict    predict

`:predict` without version or label is routed (see `serving.router`): `stable`
(or the newest version if no `stable` label is set), a sticky share of the
keys to `canary`, and an asynchronous mirrored copy to the shadow version. The
request key is the `X-Request-Key` header, else the `sticky_field` of the first
instance (e.g. `application_id`, which is then taken out of the instances
unless it is a model input). Responses carry `X-Model-Version` and
`X-Model-Role` headers; the JSON body is exactly TF Serving's.

Admin API (optionally guarded by `X-Admin-Token`):

  GET  /v1/admin/models/{name}/routing          labels, canary weight, shadow, versions
  POST /v1/admin/models/{name}/labels           {"labels": {"stable": 1, "canary": 2, "old": null}}
                                                or {"label": "canary", "version": 2}
  POST /v1/admin/models/{name}/canary           {"version": 2, "weight": 10}  (either key optional)
  POST /v1/admin/models/{name}/shadow           {"version": 2}  ({"version": null} stops it)
  POST /v1/admin/models/{name}/promote          {"version": 2}  (blue-green; default: the canary)
  POST /v1/admin/models/{name}/abort_canary     canary weight 0, canary label removed
  POST /v1/admin/models/{name}/rollback         restore the routing before the last change
  POST /v1/admin/models/{name}/scan             load new version directories
  POST /v1/admin/models/{name}/versions/{v}:load | :unload

Also GET /metrics (Prometheus), /healthz (alive) and /readyz (every model routable).

Errors are `{"error": "..."}`: 400 malformed JSON / bad inputs / bad routing
change, 403 bad admin token, 404 unknown model, version, label or path, 405,
409 unloading a version in use, 411 no Content-Length, 413 body over
`max_body_bytes`, 422 a version failed to load, 503 no routable version,
500 only for unexpected internal errors.

CLI: python -m serving.server --model-name credit_risk --serving-root DIR --port 8501
"""

import argparse
import concurrent.futures
import dataclasses
import http.server
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from typing import Any, Dict, List, Mapping, Optional, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import numpy as np  # noqa: E402

from serving import metrics as monitoring  # noqa: E402
from serving import rest_codec  # noqa: E402
from serving import router as router_lib  # noqa: E402
from serving.model_store import (DEFAULT_SIGNATURE, Contract, LoadedModel,  # noqa: E402
                                 ModelLoadError, ModelStore)
from serving.request_log import RequestLog, utc_iso  # noqa: E402
from serving.rest_codec import RequestError  # noqa: E402
from serving.router import NoVersionError, Router, RoutingError  # noqa: E402

_LOG = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
_MAX_DRAIN_BYTES = 4 * 1024 * 1024
DIRECT = 'direct'  # role of a request that names a version explicitly
SHADOW = router_lib.SHADOW


@dataclasses.dataclass
class Response:
  status: int
  payload: Any
  headers: Dict[str, str] = dataclasses.field(default_factory=dict)
  version: Optional[int] = None
  role: Optional[str] = None


def _error(status: int, message: str) -> Response:
  return Response(status, {'error': message})


@dataclasses.dataclass
class ServedModel:
  name: str
  store: ModelStore
  router: Router


class ModelServer:
  """Serves the versions under `<serving_root>/<model_name>/` over REST.

  Construction binds the socket (port 0 -> an ephemeral port, see `port`) and
  loads the existing versions; `serve_in_background()` / `serve_forever()`
  start answering; `shutdown()` stops everything. Usable as a context manager.
  Everything the HTTP API does is also available as a method.
  """

  def __init__(self,
               serving_root: Optional[str] = None,
               model_name: Optional[str] = None,
               *,
               models: Optional[Mapping[str, str]] = None,
               host: str = '127.0.0.1',
               port: int = 0,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               request_log_dir: Optional[str] = None,
               log_fsync: bool = False,
               log_max_file_bytes: Optional[int] = None,
               feature_ranges: Optional[Mapping[str, Any]] = None,
               sticky_field: Optional[str] = None,
               key_header: str = 'X-Request-Key',
               contract: Optional[Contract] = Contract(),
               smoke_instances: Optional[List[Dict[str, Any]]] = None,
               version_policy: str = 'manual',
               settle_seconds: float = 0.0,
               poll_seconds: Optional[float] = None,
               shadow_workers: int = 2,
               shadow_max_pending: int = 256,
               admin_token: Optional[str] = None,
               load_on_start: bool = True):
    """Args:
      serving_root, model_name: serve `<serving_root>/<model_name>/<version>/`.
      models: more models, name -> base path (the directory of versions).
      host, port: bind address (loopback by default; port 0 = ephemeral).
      max_body_bytes: larger request bodies get 413 without being read.
      request_log_dir: where the JSON Lines request log goes (None = no log).
      log_fsync: fsync the request log after every write.
      feature_ranges: per-feature ranges/domains for the input metrics.
      sticky_field: instance field used as request key (e.g. application_id).
      key_header: request header holding the request key.
      contract: the serving contract checked at load (None = no contract check).
      smoke_instances: extra rows every version must answer before serving.
      version_policy: 'manual' (a new version serves only once labelled; the
        first version to load becomes `stable`) or 'latest' (every newly loaded
        version becomes `stable`, TF Serving's default).
      settle_seconds: scan() waits until a version's files are this old.
      poll_seconds: rescan the serving directories this often (None = never).
      shadow_workers, shadow_max_pending: the shadow pool; mirrors beyond the
        pending bound are dropped (and counted), never queued without limit.
      admin_token: if set, admin calls need header X-Admin-Token with it.
      load_on_start: scan the directories during construction.
    """
    if version_policy not in ('manual', 'latest'):
      raise ValueError(f"version_policy must be 'manual' or 'latest', got {version_policy!r}")
    self.max_body_bytes = int(max_body_bytes)
    self.sticky_field = sticky_field
    self.key_header = key_header
    self.contract = contract
    self.smoke_instances = smoke_instances
    self.version_policy = version_policy
    self.settle_seconds = settle_seconds
    self.admin_token = admin_token
    self.metrics = monitoring.ServingMetrics(feature_ranges=feature_ranges)
    self.request_log = (RequestLog(request_log_dir, fsync=log_fsync,
                                   max_file_bytes=log_max_file_bytes)
                        if request_log_dir else None)
    self._models: Dict[str, ServedModel] = {}
    self._models_lock = threading.Lock()
    self._admin_lock = threading.RLock()
    self._shadow_pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, shadow_workers), thread_name_prefix='shadow')
    self._shadow_max_pending = shadow_max_pending
    self._shadow_pending = 0
    self._shadow_cond = threading.Condition()
    self._stop = threading.Event()
    self._serve_thread: Optional[threading.Thread] = None
    self._poll_thread: Optional[threading.Thread] = None
    self._poll_seconds = poll_seconds
    self._closed = False

    all_models = dict(models or {})
    if model_name is not None:
      if serving_root is None:
        raise ValueError('model_name needs serving_root')
      all_models[model_name] = os.path.join(serving_root, model_name)
    if not all_models:
      raise ValueError('nothing to serve: give serving_root and model_name, or models')
    for name, base in all_models.items():
      self.add_model(name, base, scan=load_on_start)

    self._httpd = _HTTPServer((host, port), _Handler)
    self._httpd.app = self

  # ------------------------------------------------------------------ life
  @property
  def host(self) -> str:
    return self._httpd.server_address[0]

  @property
  def port(self) -> int:
    return self._httpd.server_address[1]

  @property
  def url(self) -> str:
    return f'http://{self.host}:{self.port}'

  def serve_in_background(self) -> 'ModelServer':
    if self._serve_thread is None:
      self._serve_thread = threading.Thread(
          target=self._httpd.serve_forever, kwargs={'poll_interval': 0.1},
          name=f'model-server-{self.port}', daemon=True)
      self._serve_thread.start()
      self._start_poller()
    return self

  def serve_forever(self) -> None:
    self._start_poller()
    self._httpd.serve_forever(poll_interval=0.2)

  def _start_poller(self) -> None:
    if self._poll_seconds and self._poll_thread is None:
      self._poll_thread = threading.Thread(target=self._poll_loop, name='model-poller',
                                           daemon=True)
      self._poll_thread.start()

  def _poll_loop(self) -> None:
    while not self._stop.wait(self._poll_seconds):
      try:
        self.scan()
      except Exception:  # pylint: disable=broad-except
        _LOG.exception('periodic scan failed')

  def shutdown(self, timeout: float = 10.0) -> None:
    """Stops serving, waits for shadow work, closes the request log."""
    if self._closed:
      return
    self._closed = True
    self._stop.set()
    if self._serve_thread is not None:
      self._httpd.shutdown()
      self._serve_thread.join(timeout)
    self._httpd.server_close()
    self.wait_for_shadow(timeout)
    self._shadow_pool.shutdown(wait=True)
    if self._poll_thread is not None:
      self._poll_thread.join(timeout)
    if self.request_log is not None:
      self.request_log.close()

  def __enter__(self) -> 'ModelServer':
    return self.serve_in_background()

  def __exit__(self, *exc) -> None:
    self.shutdown()

  # ------------------------------------------------------------------ models
  def add_model(self, name: str, base_path: str, scan: bool = True) -> ServedModel:
    if not name or '/' in name or ':' in name:
      raise ValueError(f'invalid model name {name!r}')
    metrics = self.metrics

    def listener(version, ok, message, seconds, _name=name):
      del message, seconds
      metrics.observe_load(_name, version, ok)

    store = ModelStore(name, base_path, contract=self.contract,
                       smoke_instances=self.smoke_instances,
                       settle_seconds=self.settle_seconds, listener=listener)
    router = Router(name, store.is_available, store.latest_version,
                    on_change=lambda s, _name=name: metrics.observe_routing(
                        _name, s.labels, s.canary_weight))
    served = ServedModel(name, store, router)
    with self._models_lock:
      if name in self._models:
        raise ValueError(f'model {name!r} is already served')
      self._models[name] = served
    metrics.observe_routing(name, {}, 0.0)
    if scan:
      with self._admin_lock:
        self._after_load(served, store.scan(settle=False).loaded)
    return served

  def model(self, name: str) -> ServedModel:
    with self._models_lock:
      served = self._models.get(name)
    if served is None:
      raise KeyError(name)
    return served

  def model_names(self) -> List[str]:
    with self._models_lock:
      return sorted(self._models)

  def _after_load(self, served: ServedModel, loaded: List[int]) -> None:
    if not loaded:
      return
    if (self.version_policy == 'latest' or
        served.router.label_version(router_lib.STABLE) is None):
      latest = served.store.latest_version()
      if latest is not None and served.router.label_version(router_lib.STABLE) != latest:
        served.router.set_label(router_lib.STABLE, latest)

  def scan(self, name: Optional[str] = None) -> Dict[str, Any]:
    """Loads new versions of one model (or all); returns name -> ScanResult."""
    results = {}
    for n in ([name] if name else self.model_names()):
      served = self.model(n)
      with self._admin_lock:
        result = served.store.scan()
        self._after_load(served, result.loaded)
      results[n] = result
    return results

  def load_version(self, name: str, version: int) -> LoadedModel:
    """Loads one version (raises ModelLoadError; what serves is unaffected)."""
    served = self.model(name)
    with self._admin_lock:
      was = served.store.is_available(version)
      model = served.store.load_version(version)
      self._after_load(served, [] if was else [int(version)])
    return model

  def unload_version(self, name: str, version: int) -> None:
    """Unloads a version no label, canary or shadow points at."""
    served = self.model(name)
    with self._admin_lock:
      refs = served.router.references(int(version))
      if refs:
        raise RoutingError(f'version {version} is in use ({", ".join(refs)}); move those '
                           f'first')
      served.store.unload_version(int(version))
      self.metrics.observe_unload(name, int(version))

  # ------------------------------------------------------------------ routing
  def routing_state(self, name: str) -> router_lib.RoutingState:
    return self.model(name).router.state

  def set_labels(self, name: str, labels: Mapping[str, Optional[int]]):
    with self._admin_lock:
      return self.model(name).router.set_labels(labels)

  def set_canary(self, name: str, version: Optional[int] = None,
                 weight: Optional[float] = None):
    with self._admin_lock:
      return self.model(name).router.set_canary(version, weight)

  def set_shadow(self, name: str, version: Optional[int]):
    with self._admin_lock:
      return self.model(name).router.set_shadow(version)

  def promote(self, name: str, version: Optional[int] = None):
    with self._admin_lock:
      return self.model(name).router.promote(version)

  def abort_canary(self, name: str):
    with self._admin_lock:
      return self.model(name).router.abort_canary()

  def rollback(self, name: str):
    with self._admin_lock:
      return self.model(name).router.rollback()

  def routing_json(self, name: str) -> Dict[str, Any]:
    served = self.model(name)
    return {
        'model': name,
        'routing': served.router.state.to_json(),
        'available_versions': [str(v) for v in served.store.available_versions()],
        'model_version_status': [s.to_json() for s in served.store.statuses()],
    }

  # ------------------------------------------------------------------ status
  def _resolve_static(self, served: ServedModel, version: Optional[int],
                      label: Optional[str]) -> Tuple[Optional[int], Optional[Response]]:
    """Version addressed by a URL for status/metadata (default: stable/latest)."""
    if version is not None:
      return version, None
    if label is not None:
      v = served.router.label_version(label)
      if v is None:
        return None, _error(404, f'model "{served.name}" has no version labelled '
                                 f'"{label}"')
      return v, None
    v = served.router.label_version(router_lib.STABLE)
    return (v if v is not None else served.store.latest_version()), None

  def status(self, name: str, version: Optional[int] = None,
             label: Optional[str] = None) -> Response:
    served = self._models.get(name)
    if served is None:
      return _error(404, f'Servable not found for request: model "{name}" is not served')
    if version is None and label is None:
      statuses = served.store.statuses()
      if not statuses:
        return _error(404, f'model "{name}" has no versions under {served.store.base_path}')
      return Response(200, {'model_version_status': [s.to_json() for s in statuses]})
    v, err = self._resolve_static(served, version, label)
    if err:
      return err
    st = served.store.status(v)
    if st is None:
      return _error(404, f'Servable not found for request: version {v} of model "{name}"')
    return Response(200, {'model_version_status': [st.to_json()]})

  def metadata(self, name: str, version: Optional[int] = None,
               label: Optional[str] = None) -> Response:
    served = self._models.get(name)
    if served is None:
      return _error(404, f'Servable not found for request: model "{name}" is not served')
    v, err = self._resolve_static(served, version, label)
    if err:
      return err
    if v is None:
      return _error(503, f'model "{name}" has no available version')
    model = served.store.get(v)
    if model is None:
      return _error(404, self._unavailable_message(served, v))
    return Response(200, {
        'model_spec': {'name': name, 'signature_name': '', 'version': str(v)},
        'metadata': model.metadata_json(),
    })

  def _unavailable_message(self, served: ServedModel, version: int) -> str:
    st = served.store.status(version)
    if st is None:
      return (f'Servable not found for request: version {version} of model '
              f'"{served.name}" (not in {served.store.base_path} or never loaded)')
    detail = f': {st.error_message}' if st.error_message else ''
    return (f'version {version} of model "{served.name}" is not available '
            f'(state {st.state}{detail})')

  # ------------------------------------------------------------------ predict
  def _key_from_body(self, body: Any) -> Optional[str]:
    f = self.sticky_field
    if not f or not isinstance(body, dict):
      return None
    inst = body.get('instances')
    if isinstance(inst, list) and inst and isinstance(inst[0], dict):
      v = inst[0].get(f)
      return None if v is None else str(v)
    inputs = body.get('inputs')
    if isinstance(inputs, dict) and isinstance(inputs.get(f), list) and inputs[f]:
      v = inputs[f][0]
      return None if v is None else str(v)
    return None

  def predict(self, name: str, body: Any, version: Optional[int] = None,
              label: Optional[str] = None, request_key: Optional[str] = None) -> Response:
    """One predict request (`body` = the parsed JSON), exactly as over HTTP."""
    start = time.perf_counter()
    served = self._models.get(name)
    if served is None:
      resp = _error(404, f'Servable not found for request: model "{name}" is not served')
      self.metrics.observe_request('', '', '', resp.status, None)
      return resp
    role, decision, v = None, None, None
    try:
      if version is not None:
        v, role = int(version), DIRECT
      elif label is not None:
        v, role = served.router.label_version(label), label
        if v is None:
          raise _HTTPError(404, f'model "{name}" has no version labelled "{label}"')
      else:
        key = request_key if request_key is not None else self._key_from_body(body)
        decision = served.router.route(key)
        v, role = decision.version, decision.role
      model = served.store.get(v)
      if model is None:
        raise _HTTPError(404 if decision is None else 503,
                         self._unavailable_message(served, v))
      decoded = rest_codec.decode_request(body, model.signatures,
                                          key_field=self.sticky_field)
      outputs = model.predict(decoded.signature_name, decoded.tensors)
      payload = rest_codec.encode_response(outputs, decoded.row_format, decoded.batch_size)
    except _HTTPError as e:
      resp = _error(e.status, str(e))
    except RequestError as e:
      resp = _error(e.status, str(e))
    except NoVersionError as e:
      resp = _error(503, str(e))
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('internal error predicting with model %s', name)
      resp = _error(500, f'internal error: {type(e).__name__}: {e}')
    else:
      resp = Response(200, payload, version=v, role=role)
    if resp.status != 200:
      if v is not None and role:
        # Errors name the version too: a canary analysis must attribute them.
        resp.headers = {'X-Model-Version': str(v), 'X-Model-Role': role}
      self.metrics.observe_request(name, '' if v is None else str(v), role or '',
                                   resp.status, None)
      return resp
    resp.headers = {'X-Model-Version': str(v), 'X-Model-Role': role}
    request_id = uuid.uuid4().hex
    header_key = request_key
    try:
      features = self._features(model, decoded)
      self.metrics.observe_inputs(name, str(v), features)
      self.metrics.observe_outputs(name, str(v), role, outputs)
      self._log(name, v, role, request_id, header_key, decoded, features, outputs)
    except Exception:  # pylint: disable=broad-except
      _LOG.exception('monitoring/logging failed (the response is unaffected)')
    if decision is not None and decision.shadow_version is not None:
      self._submit_shadow(served, decision.shadow_version, body, request_id, header_key, v)
    self.metrics.observe_request(name, str(v), role, 200, time.perf_counter() - start,
                                 decoded.batch_size)
    return resp

  def _features(self, model: LoadedModel,
                decoded: rest_codec.DecodedRequest) -> Mapping[str, np.ndarray]:
    """The raw features of a request (tf.Examples decoded for the examples signature)."""
    sig = model.signatures[decoded.signature_name]
    if len(sig.inputs) == 1:
      (name, info), = sig.inputs.items()
      default = model.signatures.get(DEFAULT_SIGNATURE)
      if (info.dtype == 'string' and name == 'examples' and default is not None and
          decoded.signature_name != DEFAULT_SIGNATURE):
        expected = {n: ('string' if i.dtype == 'string' else 'float32')
                    for n, i in default.inputs.items()}
        return monitoring.examples_to_features(decoded.tensors[name], expected)
    return decoded.tensors

  def _log(self, name: str, version: int, role: str, request_id: str,
           header_key: Optional[str], decoded: rest_codec.DecodedRequest,
           features: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
           primary_version: Optional[int] = None) -> None:
    if self.request_log is None:
      return
    batch = decoded.batch_size
    rows_in = rest_codec.json_rows(features, batch)
    rows_out = rest_codec.json_rows(outputs, batch)
    ts = time.time()
    iso = utc_iso(ts)
    keys = decoded.row_keys or [None] * batch
    records = []
    for i in range(batch):
      rec = {
          'ts': ts, 'time': iso, 'request_id': request_id,
          'request_key': keys[i] if keys[i] is not None else header_key,
          'model': name, 'version': version, 'role': role,
          'signature': decoded.signature_name, 'index': i,
          'inputs': rows_in[i], 'outputs': rows_out[i],
      }
      if primary_version is not None:
        rec['primary_version'] = primary_version
      records.append(rec)
    try:
      self.request_log.write(name, version, records)
      self.metrics.observe_log(name, str(version), role, len(records))
    except (OSError, ValueError) as e:
      self.metrics.observe_log_error(name)
      _LOG.error('request log write failed for %s/%s: %s', name, version, e)

  # ------------------------------------------------------------------ shadow
  def _submit_shadow(self, served: ServedModel, version: int, body: Any, request_id: str,
                     header_key: Optional[str], primary_version: int) -> None:
    with self._shadow_cond:
      if self._closed or self._shadow_pending >= self._shadow_max_pending:
        self.metrics.observe_shadow(served.name, str(version), 'dropped')
        return
      self._shadow_pending += 1
    try:
      self._shadow_pool.submit(self._run_shadow, served, version, body, request_id,
                               header_key, primary_version)
    except RuntimeError:  # pool shut down
      self._shadow_done()
      self.metrics.observe_shadow(served.name, str(version), 'dropped')

  def _shadow_done(self) -> None:
    with self._shadow_cond:
      self._shadow_pending -= 1
      self._shadow_cond.notify_all()

  def _run_shadow(self, served: ServedModel, version: int, body: Any, request_id: str,
                  header_key: Optional[str], primary_version: int) -> None:
    start = time.perf_counter()
    try:
      model = served.store.get(version)
      if model is None:
        raise RuntimeError(f'shadow version {version} is not available')
      decoded = rest_codec.decode_request(body, model.signatures,
                                          key_field=self.sticky_field)
      outputs = model.predict(decoded.signature_name, decoded.tensors)
      rest_codec.encode_response(outputs, decoded.row_format, decoded.batch_size)
      self.metrics.request_latency.labels(served.name, str(version), SHADOW).observe(
          time.perf_counter() - start)
      self.metrics.instances.labels(served.name, str(version), SHADOW).inc(decoded.batch_size)
      self.metrics.observe_outputs(served.name, str(version), SHADOW, outputs)
      features = self._features(model, decoded)
      self._log(served.name, version, SHADOW, request_id, header_key, decoded, features,
                outputs, primary_version=primary_version)
      self.metrics.observe_shadow(served.name, str(version), 'ok')
    except Exception as e:  # pylint: disable=broad-except  (never reaches the client)
      self.metrics.observe_shadow(served.name, str(version), 'error')
      _LOG.warning('shadow version %s of %s failed: %s', version, served.name, e)
    finally:
      self._shadow_done()

  def wait_for_shadow(self, timeout: float = 10.0) -> bool:
    """Waits until no mirrored request is pending; False on timeout."""
    deadline = time.monotonic() + timeout
    with self._shadow_cond:
      while self._shadow_pending > 0:
        left = deadline - time.monotonic()
        if left <= 0:
          return False
        self._shadow_cond.wait(left)
    return True

  # ------------------------------------------------------------------ health
  def ready(self) -> Tuple[bool, Dict[str, Any]]:
    detail, ok = {}, True
    for n in self.model_names():
      served = self.model(n)
      try:
        d = served.router.route('readyz')
        detail[n] = {'ready': served.store.get(d.version) is not None, 'version': str(d.version)}
      except NoVersionError as e:
        detail[n] = {'ready': False, 'error': str(e)}
      ok = ok and detail[n]['ready']
    return ok, detail


class _HTTPError(Exception):

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


class _HTTPServer(http.server.ThreadingHTTPServer):
  daemon_threads = True
  request_queue_size = 512  # many concurrent clients connect at once
  app: ModelServer


_MODEL_RE = re.compile(
    r'^/v1/models/(?P<name>[^/:]+)'
    r'(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?'
    r'(?P<rest>/metadata|:[A-Za-z_]+)?/?$')
_ADMIN_RE = re.compile(
    r'^/v1/admin/models/(?P<name>[^/:]+)'
    r'(?:/(?P<action>routing|labels|canary|shadow|promote|rollback|abort_canary|scan)'
    r'|/versions/(?P<version>\d+):(?P<vaction>load|unload))/?$')


class _Handler(http.server.BaseHTTPRequestHandler):
  protocol_version = 'HTTP/1.1'
  server_version = 'tfx-rest-model-server/1.0'
  # Headers and body leave in one segment (flushed after each request), and no
  # Nagle delay: otherwise delayed ACKs add ~40 ms to every keep-alive request.
  wbufsize = 64 * 1024
  disable_nagle_algorithm = True
  timeout = 60  # seconds a connection may idle or dribble its request
  server: _HTTPServer

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    _LOG.debug('%s - %s', self.address_string(), format % args)

  # ------------------------------------------------------------ plumbing
  def _send(self, resp: Response, close: bool = False) -> None:
    if isinstance(resp.payload, (bytes, bytearray)):
      data = bytes(resp.payload)
      ctype = resp.headers.pop('Content-Type', 'text/plain; charset=utf-8')
    else:
      try:
        data = json.dumps(resp.payload, allow_nan=False, separators=(',', ':')).encode()
      except ValueError:
        data = json.dumps(monitoring_safe(resp.payload)).encode()
      ctype = 'application/json'
    self.send_response(resp.status)
    self.send_header('Content-Type', ctype)
    self.send_header('Content-Length', str(len(data)))
    for k, v in resp.headers.items():
      self.send_header(k, v)
    if close:
      self.send_header('Connection', 'close')
      self.close_connection = True
    self.end_headers()
    if self.command != 'HEAD':
      self.wfile.write(data)

  def _read_json(self) -> Tuple[Any, Optional[Response]]:
    """The parsed body, or an error response (the connection is then closed)."""
    if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
      return None, _error(411, 'chunked request bodies are not supported; send '
                               'Content-Length')
    length = self.headers.get('Content-Length')
    if length is None:
      return None, _error(411, 'Content-Length header is required')
    try:
      n = int(length)
      if n < 0:
        raise ValueError
    except ValueError:
      return None, _error(400, f'invalid Content-Length {length!r}')
    limit = self.server.app.max_body_bytes
    if n > limit:
      self._unread = n
      return None, _error(413, f'request body of {n} bytes exceeds the limit of '
                               f'{limit} bytes (max_body_bytes); send smaller batches')
    raw = self.rfile.read(n)
    if len(raw) != n:
      return None, _error(400, f'request body truncated: got {len(raw)} of {n} bytes')
    if not raw.strip():
      return None, Response(400, {'error': 'empty request body; expected a JSON object'})
    try:
      return json.loads(raw), None
    except (ValueError, RecursionError) as e:
      msg = str(e) if not isinstance(e, RecursionError) else 'nested too deeply'
      return None, Response(400, {'error': f'malformed JSON in request body: {msg}'})

  def _admin_allowed(self) -> bool:
    token = self.server.app.admin_token
    return token is None or self.headers.get('X-Admin-Token') == token

  def _path(self) -> str:
    return urllib.parse.urlsplit(self.path).path

  # ------------------------------------------------------------ verbs
  def do_GET(self):  # pylint: disable=invalid-name
    try:
      self._send(self._get())
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('internal error on GET %s', self.path)
      self._send(_error(500, f'internal error: {type(e).__name__}: {e}'), close=True)

  do_HEAD = do_GET

  def _get(self) -> Response:
    app = self.server.app
    path = self._path()
    if path == '/metrics':
      return Response(200, app.metrics.render(),
                      {'Content-Type': monitoring.CONTENT_TYPE_LATEST})
    if path == '/healthz':
      return Response(200, {'status': 'ok'})
    if path == '/readyz':
      ok, detail = app.ready()
      return Response(200 if ok else 503, {'ready': ok, 'models': detail})
    m = _MODEL_RE.match(path)
    if m:
      name = urllib.parse.unquote(m['name'])
      version, label, err = _version_label(m)
      if err:
        return err
      if m['rest'] is None:
        return app.status(name, version, label)
      if m['rest'] == '/metadata':
        return app.metadata(name, version, label)
      return _error(405, f'{m["rest"]} needs POST')
    m = _ADMIN_RE.match(path)
    if m and m['action'] == 'routing':
      if not self._admin_allowed():
        return _error(403, 'admin calls need a valid X-Admin-Token header')
      name = urllib.parse.unquote(m['name'])
      if name not in app.model_names():
        return _error(404, f'model "{name}" is not served')
      return Response(200, app.routing_json(name))
    return _error(404, f'no such endpoint: GET {path}')

  def do_POST(self):  # pylint: disable=invalid-name
    self._unread = 0
    try:
      resp, close = self._post()
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('internal error on POST %s', self.path)
      resp, close = _error(500, f'internal error: {type(e).__name__}: {e}'), True
    self._send(resp, close=close)
    if self._unread:
      self._drain(self._unread)

  def _drain(self, n: int) -> None:
    """Reads (a bounded part of) a refused body so closing does not reset the
    connection before the client has read our answer."""
    left = min(n, _MAX_DRAIN_BYTES)
    try:
      self.wfile.flush()
      self.connection.settimeout(2.0)
      while left > 0:
        chunk = self.rfile.read(min(left, 65536))
        if not chunk:
          break
        left -= len(chunk)
    except OSError:
      pass

  def _post(self) -> Tuple[Response, bool]:
    app = self.server.app
    path = self._path()
    m = _MODEL_RE.match(path)
    if m:
      name = urllib.parse.unquote(m['name'])
      if m['rest'] != ':predict':
        verb = m['rest'] or '(none)'
        if m['rest'] in (':classify', ':regress'):
          return _error(400, f'{verb} is not supported by this server; use :predict'), True
        return _error(404, f'no such endpoint: POST {path} (use .../{name}:predict)'), True
      version, label, err = _version_label(m)
      if err:
        return err, True
      body, err = self._read_json()
      if err:
        app.metrics.observe_request(name if name in app.model_names() else '', '', '',
                                    err.status, None)
        return err, True
      key = self.headers.get(app.key_header)
      return app.predict(name, body, version=version, label=label, request_key=key), False
    m = _ADMIN_RE.match(path)
    if m:
      if not self._admin_allowed():
        return _error(403, 'admin calls need a valid X-Admin-Token header'), True
      if m['action'] == 'routing':
        return _error(405, 'routing is read with GET'), True
      name = urllib.parse.unquote(m['name'])
      if name not in app.model_names():
        return _error(404, f'model "{name}" is not served'), True
      length = self.headers.get('Content-Length')
      body = {}
      if length not in (None, '0'):
        body, err = self._read_json()
        if err:
          return err, True
      return _admin(app, name, m, body), False
    return _error(404, f'no such endpoint: POST {path}'), True

  def _other(self):
    self._send(_error(405, f'method {self.command} is not allowed'), close=True)

  do_PUT = do_DELETE = do_PATCH = _other


def _version_label(m) -> Tuple[Optional[int], Optional[str], Optional[Response]]:
  version = label = None
  if m['version'] is not None:
    if not m['version'].isdigit():
      return None, None, _error(404, f'version must be a positive integer, got '
                                     f'{m["version"]!r}')
    version = int(m['version'])
  if m['label'] is not None:
    label = urllib.parse.unquote(m['label'])
  return version, label, None


def _admin(app: ModelServer, name: str, m, body: Any) -> Response:
  if not isinstance(body, dict):
    return _error(400, 'admin request body must be a JSON object')
  try:
    if m['vaction'] == 'load':
      try:
        app.load_version(name, int(m['version']))
      except ModelLoadError as e:
        return _error(422, f'version {m["version"]} of model "{name}" failed to load and '
                           f'is not serving: {e}')
      return Response(200, app.routing_json(name))
    if m['vaction'] == 'unload':
      try:
        app.unload_version(name, int(m['version']))
      except KeyError:
        return _error(404, f'version {m["version"]} of model "{name}" is not loaded')
      except RoutingError as e:
        return _error(409, str(e))
      return Response(200, app.routing_json(name))
    action = m['action']
    if action == 'scan':
      result = app.scan(name)[name]
      out = app.routing_json(name)
      out['scan'] = result.to_json()
      return Response(200, out)
    if action == 'labels':
      if 'labels' in body:
        labels = body['labels']
        if not isinstance(labels, dict):
          return _error(400, '"labels" must be an object of label -> version (or null)')
        app.set_labels(name, labels)
      elif 'label' in body:
        if 'version' not in body:
          return _error(400, '"label" needs "version" (null removes the label)')
        app.set_labels(name, {body['label']: body['version']})
      else:
        return _error(400, 'expected {"labels": {...}} or {"label": ..., "version": ...}')
    elif action == 'canary':
      if 'version' not in body and 'weight' not in body:
        return _error(400, 'expected "version" and/or "weight" (percent 0..100)')
      app.set_canary(name, body.get('version'), body.get('weight'))
    elif action == 'shadow':
      if 'version' not in body:
        return _error(400, 'expected "version" (null stops shadowing)')
      app.set_shadow(name, body['version'])
    elif action == 'promote':
      app.promote(name, body.get('version'))
    elif action == 'abort_canary':
      app.abort_canary(name)
    elif action == 'rollback':
      app.rollback(name)
    else:
      return _error(404, f'unknown admin action {action}')
  except RoutingError as e:
    return _error(400, str(e))
  return Response(200, app.routing_json(name))


def monitoring_safe(value: Any) -> Any:
  """Replaces non-finite floats by None (JSON has no NaN)."""
  import math  # pylint: disable=g-import-not-at-top
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: monitoring_safe(v) for k, v in value.items()}
  if isinstance(value, list):
    return [monitoring_safe(v) for v in value]
  return value


# ---------------------------------------------------------------------- CLI
def _parse_range(text: str) -> Tuple[str, Any]:
  name, sep, rng = text.partition('=')
  if not sep or ':' not in rng:
    raise argparse.ArgumentTypeError(f'expected NAME=LOW:HIGH, got {text!r}')
  lo, _, hi = rng.partition(':')
  return name, [float(lo) if lo else None, float(hi) if hi else None]


def main(argv: Optional[List[str]] = None) -> int:
  p = argparse.ArgumentParser(prog='python -m serving.server', description=__doc__.split('\n')[0])
  p.add_argument('--model-name', required=True)
  p.add_argument('--serving-root', required=True,
                 help='directory holding <model-name>/<version>/saved_model.pb')
  p.add_argument('--host', default='127.0.0.1')
  p.add_argument('--port', type=int, default=8501, help='0 = an ephemeral port')
  p.add_argument('--request-log-dir')
  p.add_argument('--log-fsync', action='store_true')
  p.add_argument('--log-max-file-bytes', type=int)
  p.add_argument('--feature-ranges', help='JSON {"feature": [lo, hi] | [values]} or a '
                 'TFDV schema .pbtxt')
  p.add_argument('--feature-range', action='append', type=_parse_range, default=[],
                 metavar='NAME=LOW:HIGH')
  p.add_argument('--sticky-field', help='instance field used as request key, e.g. '
                 'application_id')
  p.add_argument('--key-header', default='X-Request-Key')
  p.add_argument('--max-body-bytes', type=int, default=DEFAULT_MAX_BODY_BYTES)
  p.add_argument('--version-policy', choices=('manual', 'latest'), default='manual')
  p.add_argument('--poll-seconds', type=float, default=None)
  p.add_argument('--settle-seconds', type=float, default=2.0)
  p.add_argument('--smoke-instances', help='JSON file: a list of rows every version must '
                 'answer before serving')
  p.add_argument('--no-contract-check', action='store_true')
  p.add_argument('--admin-token', default=os.environ.get('SERVING_ADMIN_TOKEN'))
  p.add_argument('--stable', type=int, help='version to label stable at start')
  p.add_argument('--canary', type=int, help='version to label canary at start')
  p.add_argument('--canary-weight', type=float, default=0.0)
  p.add_argument('--log-level', default='INFO')
  args = p.parse_args(argv)
  logging.basicConfig(level=args.log_level.upper(),
                      format='%(asctime)s %(levelname)s %(name)s: %(message)s')

  ranges: Dict[str, Any] = {}
  if args.feature_ranges:
    ranges.update(monitoring.load_feature_ranges(args.feature_ranges))
  ranges.update(dict(args.feature_range))
  smoke = None
  if args.smoke_instances:
    with open(args.smoke_instances) as f:
      smoke = json.load(f)
  server = ModelServer(
      args.serving_root, args.model_name, host=args.host, port=args.port,
      max_body_bytes=args.max_body_bytes, request_log_dir=args.request_log_dir,
      log_fsync=args.log_fsync, log_max_file_bytes=args.log_max_file_bytes,
      feature_ranges=ranges, sticky_field=args.sticky_field, key_header=args.key_header,
      contract=None if args.no_contract_check else Contract(), smoke_instances=smoke,
      version_policy=args.version_policy, settle_seconds=args.settle_seconds,
      poll_seconds=args.poll_seconds, admin_token=args.admin_token)
  try:
    if args.stable is not None:
      server.set_labels(args.model_name, {'stable': args.stable})
    if args.canary is not None:
      server.set_canary(args.model_name, args.canary, args.canary_weight)
  except RoutingError as e:
    print(f'error: {e}', file=sys.stderr)
    server.shutdown()
    return 2
  state = server.routing_state(args.model_name)
  print(f'serving model {args.model_name} on {server.url} '
        f'(labels {dict(state.labels)}, canary weight {state.canary_weight}%)', flush=True)

  def _stop(signum, frame):
    del frame
    _LOG.info('signal %d: shutting down', signum)
    threading.Thread(target=server._httpd.shutdown, daemon=True).start()  # pylint: disable=protected-access

  signal.signal(signal.SIGTERM, _stop)
  signal.signal(signal.SIGINT, _stop)
  try:
    server.serve_forever()
  finally:
    server.shutdown()
  return 0


if __name__ == '__main__':
  sys.exit(main())
