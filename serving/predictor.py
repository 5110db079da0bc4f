"""The predict path: route, decode, run, answer; then metrics, the request log
and the asynchronous shadow copy (none of which can change the answer).

Metric label values come only from known sets: served model names, loaded
versions, the roles the router assigns and labels that exist; anything a
client made up counts under `OTHER`.
"""

import concurrent.futures
import dataclasses
import logging
import threading
import time
import uuid
import weakref
from typing import Any, Dict, Mapping, Optional

import numpy as np

from serving import automation
from serving import batching
from serving import metrics as monitoring
from serving import rest_codec
from serving import router as router_lib
from serving.contract import DEFAULT_SIGNATURE
from serving.model_store import LoadedModel, ModelStore
from serving.request_log import RequestLog, utc_iso
from serving.responses import HTTPError, Response, error
from serving.rest_codec import RequestError
from serving.router import NoVersionError, Router

_LOG = logging.getLogger(__name__)

DIRECT = 'direct'  # role of a request that names a version explicitly
SHADOW = router_lib.SHADOW
OTHER = 'other'  # the one label value for names a client made up


@dataclasses.dataclass
class ServedModel:
  name: str
  store: ModelStore
  router: Router


class Predictor:
  """Answers predict requests for the served models; owns the shadow pool."""

  def __init__(self, metrics: monitoring.ServingMetrics, request_log: Optional[RequestLog],
               sticky_field: Optional[str], max_instances: Optional[int],
               shadow_workers: int = 2, shadow_max_pending: int = 256,
               batch_max_rows: int = 1):
    self.metrics = metrics
    self.request_log = request_log
    self.sticky_field = sticky_field
    self.max_instances = max_instances
    self._shadow_pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, shadow_workers), thread_name_prefix='shadow')
    self._shadow_max_pending = shadow_max_pending
    self._shadow_pending = 0
    self._shadow_cond = threading.Condition()
    self._closed = False
    # Personal data the description marks (pii): applied to every logged record.
    self.log_redactor: Optional['LogRedactor'] = None
    # One per loaded version, gone with it (serving/batching.py).
    self.batch_max_rows = batch_max_rows
    self._batchers: Dict[LoadedModel, batching.Batcher] = weakref.WeakKeyDictionary()
    self._batchers_lock = threading.Lock()

  def _run_model(self, model: LoadedModel, signature_name: str,
                 tensors: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """The model call, merged with concurrent ones of the same version."""
    if self.batch_max_rows <= 1:
      return model.predict(signature_name, tensors)
    with self._batchers_lock:
      batcher = self._batchers.get(model)
      if batcher is None:
        batcher = self._batchers[model] = batching.Batcher(self.batch_max_rows)
    return batcher.predict(model.predict, signature_name, tensors)

  def batcher_of(self, model: LoadedModel) -> Optional[batching.Batcher]:
    """The version's batcher, once a request has used it (None: batching off)."""
    with self._batchers_lock:
      return self._batchers.get(model)

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

  def _resolve(self, served: ServedModel, body: Any, version: Optional[int],
               label: Optional[str], request_key: Optional[str]):
    """(version, role, route decision or None); raises HTTPError/NoVersionError."""
    if version is not None:
      if served.router.is_rejected(version):
        raise HTTPError(409, f'version {version} of model "{served.name}" was rejected by a '
                             f'rollout and serves no traffic until it is rolled out again')
      return version, DIRECT, None
    if label is not None:
      v = served.router.label_version(label)
      if v is None:
        raise HTTPError(404, f'model "{served.name}" has no version labelled "{label}"')
      return v, label, None
    key = request_key if request_key is not None else self._key_from_body(body)
    decision = served.router.route(key)
    return decision.version, decision.role, decision

  def predict(self, served: Optional[ServedModel], name: str, body: Any,
              version: Optional[int] = None, label: Optional[str] = None,
              request_key: Optional[str] = None) -> Response:
    """One predict request (`body` = the parsed JSON), exactly as over HTTP."""
    start = time.perf_counter()
    if served is None:
      resp = error(404, f'Servable not found for request: model "{name}" is not served')
      self.metrics.observe_request(OTHER, OTHER, OTHER, resp.status, None)
      return resp
    role, decision, v, model = None, None, None, None
    level = served.router.state.automation_level  # one read, like the route
    decisions = None
    try:
      v, role, decision = self._resolve(served, body, version, label, request_key)
      model = served.store.get(v)
      if model is None:
        raise HTTPError(404 if decision is None else 503, unavailable_message(served, v))
      decoded = rest_codec.decode_request(body, model.signatures, key_field=self.sticky_field,
                                          max_instances=self.max_instances)
      outputs = self._run_model(model, decoded.signature_name, decoded.tensors)
      payload = rest_codec.encode_response(outputs, decoded.row_format, decoded.batch_size)
      if 'probabilities' in outputs:  # the serving contract's output
        decisions = automation.decide_batch(outputs['probabilities'],
                                            model.automation_policy, level)
        if level != automation.FULL:  # at full the body stays exactly TF Serving's
          automation.annotate(payload, decisions)
    except (HTTPError, RequestError) as e:
      resp = error(e.status, str(e))
    except NoVersionError as e:
      resp = error(503, str(e))
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('internal error predicting with model %s', name)
      resp = error(500, f'internal error: {type(e).__name__}')
    else:
      resp = Response(200, payload, version=v, role=role)
    # Only a loaded version and a role the router gave (or an existing label)
    # become label values: a client cannot mint new series.
    v_label = str(v) if model is not None else OTHER
    role_label = role if role is not None else OTHER
    if resp.status != 200:
      if model is not None:
        # Errors name the version too: a canary analysis must attribute them.
        resp.headers = {'X-Model-Version': str(v), 'X-Model-Role': role}
      self.metrics.observe_request(name, v_label, role_label, resp.status, None)
      return resp
    resp.headers = {'X-Model-Version': str(v), 'X-Model-Role': role}
    request_id = uuid.uuid4().hex
    try:
      features = self._features(model, decoded)
      self.metrics.observe_inputs(name, v_label, features)
      self.metrics.observe_outputs(name, v_label, role_label, outputs)
      if decisions is not None:
        self.metrics.automation.observe_decisions(name, v_label, level, decisions)
      self._log(name, v, role, request_id, request_key, decoded, features, outputs,
                decisions=None if level == automation.FULL else decisions, level=level)
    except Exception:  # pylint: disable=broad-except
      _LOG.exception('monitoring/logging failed (the response is unaffected)')
    if decision is not None and decision.shadow_version is not None:
      self._submit_shadow(served, decision.shadow_version, body, request_id, request_key, v)
    self.metrics.observe_request(name, v_label, role_label, 200, time.perf_counter() - start,
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
           primary_version: Optional[int] = None, decisions: Any = None,
           level: str = automation.FULL) -> None:
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
      key, inputs = keys[i] if keys[i] is not None else header_key, rows_in[i]
      if self.log_redactor is not None:
        inputs, key = self.log_redactor.apply(inputs, key)
      rec = {
          'ts': ts, 'time': iso, 'request_id': request_id,
          'request_key': key,
          'model': name, 'version': version, 'role': role,
          'signature': decoded.signature_name, 'index': i,
          'inputs': inputs, 'outputs': rows_out[i],
      }
      if primary_version is not None:
        rec['primary_version'] = primary_version
      if decisions is not None:  # who decided this case (absent: the model, level full)
        rec['automation'] = dict(decisions[i].to_json(), level=level)
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
      decoded = rest_codec.decode_request(body, model.signatures, key_field=self.sticky_field,
                                          max_instances=self.max_instances)
      outputs = self._run_model(model, decoded.signature_name, decoded.tensors)
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

  def close(self, timeout: float = 10.0) -> None:
    with self._shadow_cond:
      self._closed = True
    self.wait_for_shadow(timeout)
    self._shadow_pool.shutdown(wait=True)


def unavailable_message(served: ServedModel, version: int) -> str:
  st = served.store.status(version)
  if st is None:
    return (f'Servable not found for request: version {version} of model '
            f'"{served.name}" (not in its model directory or never loaded)')
  detail = f': {st.error_message}' if st.error_message else ''
  return (f'version {version} of model "{served.name}" is not available '
          f'(state {st.state}{detail})')


class LogRedactor:
  """What the request log may hold of a request that carries personal data.

  `redactor` is the description's (description.redactor(spec)): logged inputs
  named in its pii section are dropped or hashed. The request key is the
  value of `key_column` (the sticky field, e.g. email): when that column is
  personal data, the key is treated the same way (dropped: no key; hashed:
  the keyed hash, which labels hashed with the same key still join).
  """

  def __init__(self, redactor, key_column: Optional[str] = None):
    self._redactor = redactor
    self._key_column = key_column

  def apply(self, inputs: Mapping[str, Any], key: Optional[str]):
    if not self._redactor.active:
      return inputs, key
    inputs = self._redactor.apply(inputs)
    if key is not None and self._key_column:
      key = self._redactor.apply({self._key_column: key}).get(self._key_column)
    return inputs, key
