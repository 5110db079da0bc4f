"""A TensorFlow-Serving-compatible REST model server with progressive delivery.

Endpoints (TF Serving REST API, https://www.tensorflow.org/tfx/serving/api_rest):

  GET  /v1/models/{name}[/versions/{v}|/labels/{label}]            version status
  GET  /v1/models/{name}[/versions/{v}|/labels/{label}]/metadata   signature defs
  POST /v1/models/{name}[/versions/{v}|/labels/{label}]:predict    predict

`:predict` without version or label is routed (see `serving.router`): `stable`,
a sticky share of the keys to `canary`, and an asynchronous mirrored copy to
the shadow version. The request key is the `X-Request-Key` header, else the
`sticky_field` of the first instance. Responses carry `X-Model-Version` and
`X-Model-Role` headers; the JSON body is exactly TF Serving's. The admin API
(bearer token, JSON only, optionally on its own port) is in `serving.admin`;
the HTTP layer and its limits in `serving.http_app` and `serving.config`.
Also GET /metrics (Prometheus), /healthz (alive) and /readyz (every model
routable; 503 from the moment a shutdown starts).

Automation level per model (`serving.automation`: shadow, assist, partial,
full; admin POST .../automation): at a level other than full each prediction
carries `automation: {decision, rule, reason}`, and partial applies the band
pushed with the version that answers.

Routing state is durable and authoritative (`serving.routing_store`): every
change is saved before it takes effect and restored at start. A version found
on disk is loaded and smoke-tested, but becomes `stable` only by promotion or
when nothing is stable at all (the first deployment; version_policy='latest'
makes every new version stable, TF Serving's default). A rejected version is
never loaded at start and never serves until an operator names it again.

Errors are `{"error": "..."}`: 400 malformed JSON / bad inputs / bad routing
change, 401 no or bad admin token, 404 unknown model, version, label or path,
405, 409 a rejected version or unloading a version in use, 413 body or batch
over the limit, 415 admin call not JSON, 422 a version failed to load, 503 no
routable version, saturated, past the deadline or shutting down; 500 only for
a bug.

Command line: python -m cli.serve (see cli/serve.py).

Longer than 400 lines because it is the one facade that the HTTP layer, the
admin API, the command line and in-process callers share: each method is a
few lines under one admin lock, and the work lives in the modules it names.
"""

import dataclasses
import logging
import os
import threading
from typing import Any, Dict, List, Mapping, Optional, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

from serving import admin  # noqa: E402
from serving import automation  # noqa: E402
from serving import metrics as monitoring  # noqa: E402
from serving import router as router_lib  # noqa: E402
from serving import routing_store  # noqa: E402
from serving import status as status_lib  # noqa: E402
from serving.config import Limits  # noqa: E402
from serving.http_app import Frontend  # noqa: E402
from serving.model_store import Contract, LoadedModel, ModelStore  # noqa: E402
from serving.predictor import OTHER, LogRedactor, Predictor, ServedModel  # noqa: E402
from serving.request_log import RequestLog  # noqa: E402
from serving.responses import Redactor, Response  # noqa: E402
from serving.router import NoVersionError, Router, RoutingError  # noqa: E402

_LOG = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = Limits().max_body_bytes


class ModelServer:
  """Serves the versions under `<serving_root>/<model_name>/` over REST.

  Construction binds the socket (port 0 -> an ephemeral port, see `port`),
  restores the saved routing and loads the versions; `serve_in_background()`
  / `serve_forever()` start answering; `shutdown()` drains and stops.
  Usable as a context manager. Everything the HTTP API does is also a method.
  """

  def __init__(self,
               serving_root: Optional[str] = None,
               model_name: Optional[str] = None,
               *,
               models: Optional[Mapping[str, str]] = None,
               host: str = '127.0.0.1',
               port: int = 0,
               limits: Optional[Limits] = None,
               max_body_bytes: Optional[int] = None,
               request_log_dir: Optional[str] = None,
               log_fsync: bool = False,
               log_fsync_interval_ms: Optional[float] = None,
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
               admin_token_file: Optional[str] = None,
               admin_host: Optional[str] = None,
               admin_port: Optional[int] = None,
               state_dir: Optional[str] = None,
               load_on_start: bool = True,
               pii_redactor: Optional[Any] = None):
    """Args:
      serving_root, model_name: serve `<serving_root>/<model_name>/<version>/`.
      models: more models, name -> base path (the directory of versions).
      host, port: bind address (loopback by default; port 0 = ephemeral).
      limits: see serving.config.Limits; max_body_bytes overrides its field.
      request_log_dir: where the JSON Lines request log goes (None = no log).
      log_fsync, log_fsync_interval_ms: group-commit fsync of the request log.
      feature_ranges: per-feature ranges/domains for the input metrics.
      sticky_field: instance field used as request key (e.g. application_id).
      contract: the serving contract checked at load (None = no contract check).
      smoke_instances: extra rows every version must answer before serving.
      version_policy: 'manual' (see the module docstring) or 'latest'.
      settle_seconds: scan() waits until a version's files are this old.
      poll_seconds: rescan the serving directories this often (None = never).
      shadow_workers, shadow_max_pending: the shadow pool (mirrors beyond the
        bound are dropped and counted).
      admin_token, admin_token_file: see serving.admin.ensure_token.
      admin_host, admin_port: serve the admin API there instead (port 0 = ephemeral).
      state_dir: where `<model>.routing.json` and the token file live
        (default: the directory holding the model directories).
      load_on_start: load every version at start (False: only the versions
        the saved routing names).
      pii_redactor: description.redactor(spec) of the served dataset: personal
        data a request carries (inputs, or the sticky field as request key)
        never reaches the request log raw.
    """
    if version_policy not in ('manual', 'latest'):
      raise ValueError(f"version_policy must be 'manual' or 'latest', got {version_policy!r}")
    limits = limits or Limits()
    if max_body_bytes is not None:
      limits = dataclasses.replace(limits, max_body_bytes=int(max_body_bytes))
    self.limits = limits
    self.max_body_bytes = limits.max_body_bytes
    self.sticky_field = sticky_field
    self.key_header = key_header
    self.contract = contract
    self.smoke_instances = smoke_instances
    self.version_policy = version_policy
    self.settle_seconds = settle_seconds
    all_models = dict(models or {})
    if model_name is not None:
      if serving_root is None:
        raise ValueError('model_name needs serving_root')
      all_models[model_name] = os.path.join(serving_root, model_name)
    if not all_models:
      raise ValueError('nothing to serve: give serving_root and model_name, or models')
    first_base = next(iter(all_models.values()))
    self.state_dir = state_dir or os.path.dirname(os.path.abspath(first_base))
    self.admin_token, self.admin_token_path = admin.ensure_token(
        admin_token, admin_token_file, self.state_dir)
    self.metrics = monitoring.ServingMetrics(feature_ranges=feature_ranges)
    self.request_log = (RequestLog(request_log_dir, fsync=log_fsync,
                                   fsync_interval_ms=log_fsync_interval_ms,
                                   max_file_bytes=log_max_file_bytes)
                        if request_log_dir else None)
    self.predictor = Predictor(self.metrics, self.request_log, sticky_field,
                               limits.max_instances, shadow_workers, shadow_max_pending,
                               limits.batch_max_rows)
    if pii_redactor is not None:
      self.predictor.log_redactor = LogRedactor(pii_redactor, key_column=sticky_field)
    self.redact = Redactor([(self.state_dir, '<state dir>')])
    if request_log_dir:
      self.redact.add(request_log_dir, '<request log>')
    self._models: Dict[str, ServedModel] = {}
    self._models_lock = threading.Lock()
    self._admin_lock = threading.RLock()
    self._stop = threading.Event()
    self._poll_thread: Optional[threading.Thread] = None
    self._poll_seconds = poll_seconds
    self._closed = False
    for name, base in all_models.items():
      self.add_model(name, base, scan=load_on_start)
    self.frontend = Frontend(self, host, port, limits, self.redact, admin_host, admin_port)

  # ------------------------------------------------------------------ life
  @property
  def host(self) -> str:
    return self.frontend.host

  @property
  def port(self) -> int:
    return self.frontend.port

  @property
  def url(self) -> str:
    return f'http://{self.host}:{self.port}'

  @property
  def admin_url(self) -> str:
    host, port = self.frontend.admin_address
    return f'http://{host}:{port}'

  def serve_in_background(self) -> 'ModelServer':
    self.frontend.start_in_thread()
    self._start_poller()
    return self

  def serve_forever(self) -> None:
    """Serves on this thread until stop_serving() (e.g. from a signal handler)."""
    self._start_poller()
    self.frontend.run()

  def stop_serving(self) -> None:
    """Begins the graceful shutdown; safe from a signal handler or any thread."""
    self.frontend.stop(timeout=0)

  def _start_poller(self) -> None:
    # Always on: it also expires canary leases.
    if self._poll_thread is None:
      self._poll_thread = threading.Thread(target=self._poll_loop, name='model-poller',
                                           daemon=True)
      self._poll_thread.start()

  def _poll_loop(self) -> None:
    interval = min(self._poll_seconds or 1.0, 1.0)
    waited = 0.0
    while not self._stop.wait(interval):
      waited += interval
      try:
        for n in self.model_names():
          self.model(n).router.expire_lease()
        if self._poll_seconds and waited >= self._poll_seconds:
          waited = 0.0
          self.scan()
      except Exception:  # pylint: disable=broad-except
        _LOG.exception('periodic scan / lease check failed')

  def shutdown(self, timeout: float = 10.0) -> None:
    """Drains the listeners, waits for shadow work, flushes and closes the log."""
    if self._closed:
      return
    self._closed = True
    self._stop.set()
    self.frontend.stop()
    self.predictor.close(timeout)
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
    if not name or '/' in name or ':' in name or name.startswith('.'):
      raise ValueError(f'invalid model name {name!r}')
    metrics = self.metrics
    state_file = routing_store.state_path(self.state_dir, name)
    saved = routing_store.read(state_file)

    def listener(version, ok, message, seconds, _name=name):
      del message, seconds
      metrics.observe_load(_name, version, ok)
      loaded = served.store.get(version) if ok else None  # `served` exists by any load
      if loaded is not None:
        metrics.automation.observe_policy(_name, str(version), loaded.automation_policy)

    def on_change(state, _name=name):
      metrics.observe_routing(_name, state.labels, state.effective_weight())
      metrics.automation.observe_level(_name, state.automation_level)

    store = ModelStore(name, base_path, contract=self.contract,
                       smoke_instances=self.smoke_instances,
                       settle_seconds=self.settle_seconds, listener=listener)
    router = Router(name, store.is_available, lambda: self._latest_routable(name),
                    on_change=on_change,
                    persist=lambda s: routing_store.write(state_file, _saved(s)))
    served = ServedModel(name, store, router)
    with self._models_lock:
      if name in self._models:
        raise ValueError(f'model {name!r} is already served')
      self._models[name] = served
    self.redact.add(base_path, f'<model dir of {name}>')
    metrics.observe_routing(name, {}, 0.0)
    metrics.automation.observe_level(name, automation.FULL)
    with self._admin_lock:
      self._restore(served, saved, scan)
    return served

  def _restore(self, served: ServedModel, saved: Optional[routing_store.SavedRouting],
               scan: bool) -> None:
    rejected = dict(saved.rejected) if saved else {}
    wanted = set()
    if saved:
      wanted = set(saved.labels.values()) | ({saved.shadow_version} - {None})
    if scan:
      served.store.scan(settle=False, skip=set(rejected))
    for v in sorted(wanted - set(rejected)):
      if not served.store.is_available(v):
        try:
          served.store.load_version(v)
        except Exception as e:  # pylint: disable=broad-except  (status tells)
          _LOG.error('saved routing of %s names version %s, which failed to load: %s',
                     served.name, v, e)
    if saved:
      served.router.restore(saved.labels, saved.canary_weight, saved.shadow_version,
                            rejected, saved.canary_lease_until,
                            f'restored generation {saved.generation}',
                            saved.automation_level)
    self._after_load(served, served.store.available_versions())

  def _latest_routable(self, name: str) -> Optional[int]:
    served = self._models.get(name)
    if served is None:
      return None
    ok = [v for v in served.store.available_versions() if not served.router.is_rejected(v)]
    return max(ok) if ok else None

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
    """The first deployment (nothing stable) or policy 'latest' labels stable."""
    if not loaded:
      return
    stable = served.router.label_version(router_lib.STABLE)
    if self.version_policy == 'latest' or stable is None:
      latest = self._latest_routable(served.name)
      if latest is not None and latest != stable:
        served.router.set_label(router_lib.STABLE, latest)

  def scan(self, name: Optional[str] = None) -> Dict[str, Any]:
    """Loads new versions of one model (or all); returns name -> ScanResult."""
    results = {}
    for n in ([name] if name else self.model_names()):
      served = self.model(n)
      with self._admin_lock:
        result = served.store.scan(skip=set(served.router.state.rejected))
        self._after_load(served, result.loaded)
      results[n] = result
    return results

  def load_version(self, name: str, version: int) -> LoadedModel:
    """Loads one version on purpose (which lifts a rejection of it)."""
    served = self.model(name)
    with self._admin_lock:
      was = served.store.is_available(version)
      model = served.store.load_version(version)
      if served.router.is_rejected(int(version)):
        served.router.reinstate(int(version))
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
                 weight: Optional[float] = None, lease_seconds: Optional[float] = None):
    with self._admin_lock:
      return self.model(name).router.set_canary(version, weight, lease_seconds)

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

  def reject(self, name: str, version: int, reason: str):
    with self._admin_lock:
      return self.model(name).router.reject(version, reason)

  def set_automation_level(self, name: str, level: Any):
    """Who decides a case from now on (serving.automation); survives a restart.

    partial needs a band for every version that serves routed traffic now
    (stable, or the newest, and a canary with traffic): NoBandError if one
    has none. A version labelled later without a band defers every case.
    """
    if level not in automation.LEVELS:
      raise RoutingError(f'"level" must be one of {list(automation.LEVELS)}, got '
                         f'{str(level)[:40]!r}')
    with self._admin_lock:
      served = self.model(name)
      if level == 'partial':
        state = served.router.state
        serving = {state.labels.get(router_lib.STABLE) or self._latest_routable(name)}
        if state.effective_weight() > 0:
          serving.add(state.labels.get(router_lib.CANARY))
        without = sorted(v for v in serving - {None}
                         if served.store.get(v) is None or
                         served.store.get(v).automation_policy is None)
        if without:
          raise automation.NoBandError(
              f'"level": partial needs the band of each serving version, and version(s) '
              f'{", ".join(map(str, without))} of model "{name}" were pushed without an '
              f'automation policy (add the automation section to the description and '
              f'push again, or use shadow, assist or full)')
      return served.router.set_automation_level(level)

  def routing_json(self, name: str) -> Dict[str, Any]:
    served = self.model(name)
    policies = {}
    for model in served.store.models():
      policy = model.automation_policy
      policies[str(model.version)] = None if policy is None else dataclasses.asdict(policy)
    return {
        'model': name,
        'routing': served.router.state.to_json(),
        'automation_policies': policies,
        'available_versions': [str(v) for v in served.store.available_versions()],
        'model_version_status': [s.to_json() for s in served.store.statuses()],
    }

  # ------------------------------------------------------------------ status
  def status(self, name: str, version: Optional[int] = None,
             label: Optional[str] = None) -> Response:
    served = self._models.get(name)
    return status_lib.status(served, name, version, label,
                             self._latest_routable(name) if served else None)

  def metadata(self, name: str, version: Optional[int] = None,
               label: Optional[str] = None) -> Response:
    served = self._models.get(name)
    return status_lib.metadata(served, name, version, label,
                               self._latest_routable(name) if served else None)

  # ------------------------------------------------------------------ predict
  def predict(self, name: str, body: Any, version: Optional[int] = None,
              label: Optional[str] = None, request_key: Optional[str] = None) -> Response:
    """One predict request (`body` = the parsed JSON), exactly as over HTTP."""
    return self.predictor.predict(self._models.get(name), name, body, version, label,
                                  request_key)

  def observe_refused(self, name: str, status: int) -> None:
    """Counts a request refused before routing (bad body)."""
    self.metrics.observe_request(name if name in self._models else OTHER, OTHER, OTHER,
                                 status, None)

  def wait_for_shadow(self, timeout: float = 10.0) -> bool:
    return self.predictor.wait_for_shadow(timeout)

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


def _saved(state: router_lib.RoutingState) -> routing_store.SavedRouting:
  return routing_store.SavedRouting(
      labels=dict(state.labels), canary_weight=state.canary_weight,
      canary_lease_until=state.canary_lease_until, shadow_version=state.shadow_version,
      rejected=dict(state.rejected), generation=state.generation,
      updated_at=state.updated_at, reason=state.reason,
      automation_level=state.automation_level)
