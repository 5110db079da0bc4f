"""Prometheus metrics of the model server (software, input and output metrics).

Every `ServingMetrics` owns its own `CollectorRegistry` (several servers in one
process, as in the tests, never collide); `/metrics` renders it.

Series (all counters end in `_total` in the exposition):

software
  serving_request_latency_seconds{model,version,role}      histogram
  serving_requests_total{model,version,role,code}          every predict request
  serving_request_errors_total{model,version,code}         code >= 400 (version "" if unresolved)
  serving_instances_total{model,version,role}              rows predicted
  serving_shadow_requests_total{model,version,outcome}     ok | error | dropped
  serving_model_loads_total{model,outcome}                 ok | failed
  serving_model_version_available{model,version}          1 while routable
  serving_model_label_info{model,label,version}            1 per label
  serving_canary_weight_percent{model}
  serving_request_log_records_total{model,version,role} / serving_request_log_errors_total{model}
  process_resident_memory_bytes, process_cpu_seconds_total, ... (ProcessCollector)
  serving_process_memory_bytes{kind=rss|vms}               (psutil, where available)
input (per feature; ranges from `feature_ranges`)
  serving_input_values_total{model,version,feature}
  serving_input_missing_total{model,version,feature}        NaN / "" / null
  serving_input_out_of_range_total{model,version,feature,side}  side = low | high | unknown_category
output
  serving_predicted_class_total{model,version,role,class}
  serving_prediction_confidence{model,version,role}         histogram of max probability
  serving_invalid_outputs_total{model,version,role,output,kind}  kind = nan | out_of_range | empty | bad_sum
automation (serving/automation.py)
  serving_automation_decisions_total{model,version,level,decision,rule}, serving_automation_level

Feature ranges: {"annual_income": [0, 1e7], "credit_score": {"min": 300, "max": 850},
"home_ownership": ["RENT", "OWN", "MORTGAGE"]} -- [lo, hi] (either may be null) for
numeric features, a list of strings (or {"values": [...]}) for categorical ones.
`load_feature_ranges` reads them from JSON or from a TFDV schema (.pbtxt).
"""

import json
import math
import threading
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               ProcessCollector, generate_latest)
import prometheus_client

from serving import automation

CONTENT_TYPE_LATEST = prometheus_client.CONTENT_TYPE_LATEST  # of render()'s output

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
MAX_CLASS_LABELS = 100
OTHER_CLASS = '__other__'


class NumericRange:
  __slots__ = ('low', 'high')

  def __init__(self, low: Optional[float], high: Optional[float]):
    self.low = -math.inf if low is None else float(low)
    self.high = math.inf if high is None else float(high)
    if self.low > self.high:
      raise ValueError(f'range low {low} > high {high}')

  def __repr__(self):
    return f'NumericRange({self.low}, {self.high})'


class CategoricalDomain:
  __slots__ = ('values',)

  def __init__(self, values: Iterable[str]):
    self.values = frozenset(v.encode('utf-8') if isinstance(v, str) else bytes(v)
                            for v in values)

  def __repr__(self):
    return f'CategoricalDomain({sorted(self.values)})'


def parse_feature_ranges(config: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
  """Normalises a feature-range config to NumericRange / CategoricalDomain."""
  out: Dict[str, Any] = {}
  for name, spec in (config or {}).items():
    if isinstance(spec, (NumericRange, CategoricalDomain)):
      out[name] = spec
    elif isinstance(spec, Mapping) and 'values' in spec:
      out[name] = CategoricalDomain(spec['values'])
    elif isinstance(spec, Mapping):
      out[name] = NumericRange(spec.get('min'), spec.get('max'))
    elif (isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 2 and
          all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
              for v in spec)):
      out[name] = NumericRange(spec[0], spec[1])
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and all(
        isinstance(v, str) for v in spec):
      out[name] = CategoricalDomain(spec)
    else:
      raise ValueError(f'feature range for "{name}" must be [low, high], '
                       f'{{"min":..,"max":..}} or a list of strings; got {spec!r}')
  return out


def feature_ranges_from_schema(path: str) -> Dict[str, Any]:
  """Ranges from a TFDV schema (text proto): float/int domains and string domains."""
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = schema_pb2.Schema()
  with open(path) as f:
    text_format.Parse(f.read(), schema)
  domains = {d.name: d for d in schema.string_domain}
  out: Dict[str, Any] = {}
  for feat in schema.feature:
    kind = feat.WhichOneof('domain_info')
    if kind == 'float_domain':
      d = feat.float_domain
      out[feat.name] = NumericRange(d.min if d.HasField('min') else None,
                                    d.max if d.HasField('max') else None)
    elif kind == 'int_domain':
      d = feat.int_domain
      out[feat.name] = NumericRange(d.min if d.HasField('min') else None,
                                    d.max if d.HasField('max') else None)
    elif kind == 'string_domain':
      out[feat.name] = CategoricalDomain(feat.string_domain.value)
    elif kind == 'domain' and feat.domain in domains:
      out[feat.name] = CategoricalDomain(domains[feat.domain].value)
  return out


def load_feature_ranges(path: str) -> Dict[str, Any]:
  """Reads a JSON feature-range config, or a TFDV schema if it ends in .pbtxt."""
  if path.endswith('.pbtxt'):
    return feature_ranges_from_schema(path)
  with open(path) as f:
    return parse_feature_ranges(json.load(f))


def examples_to_features(serialized: np.ndarray,
                         expected: Optional[Mapping[str, str]] = None) -> Dict[str, np.ndarray]:
  """Decodes serialized tf.Examples into one array per feature (for metrics/logs).

  `expected` maps feature name -> 'float32' | 'string' so a feature absent from
  every example still shows up as missing; with it, features it does not name
  are dropped (a client must not mint metric label values by inventing
  feature names). Only the first value of each feature
  is kept; absent values are NaN / "". Undecodable records count as all-missing.
  """
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  rows = []
  kinds: Dict[str, str] = dict(expected or {})
  for raw in serialized.reshape(-1):
    ex = example_pb2.Example()
    try:
      ex.ParseFromString(raw if isinstance(raw, bytes) else bytes(raw))
    except Exception:  # pylint: disable=broad-except
      rows.append({})
      continue
    row = {}
    for name, feat in ex.features.feature.items():
      if expected is not None and name not in expected:
        continue
      which = feat.WhichOneof('kind')
      if which == 'bytes_list':
        row[name] = feat.bytes_list.value[0] if feat.bytes_list.value else b''
        kinds.setdefault(name, 'string')
      elif which == 'float_list':
        row[name] = feat.float_list.value[0] if feat.float_list.value else math.nan
        kinds.setdefault(name, 'float32')
      elif which == 'int64_list':
        row[name] = float(feat.int64_list.value[0]) if feat.int64_list.value else math.nan
        kinds.setdefault(name, 'float32')
    rows.append(row)
  out = {}
  for name, kind in sorted(kinds.items()):
    if kind == 'string':
      out[name] = np.array([r.get(name, b'') for r in rows], dtype=object)
    else:
      vals = [r.get(name, math.nan) for r in rows]
      out[name] = np.array([v if isinstance(v, float) else math.nan for v in vals],
                           dtype=np.float32)
  return out


def _process_memory_collector(registry: CollectorRegistry) -> None:
  try:
    import psutil  # pylint: disable=g-import-not-at-top
  except ImportError:
    return
  proc = psutil.Process()
  g = Gauge('serving_process_memory_bytes', 'Memory of the server process (psutil).',
            ['kind'], registry=registry)
  g.labels('rss').set_function(lambda: proc.memory_info().rss)
  g.labels('vms').set_function(lambda: proc.memory_info().vms)


class ServingMetrics:
  """All metrics of one server instance, in its own registry."""

  def __init__(self,
               registry: Optional[CollectorRegistry] = None,
               feature_ranges: Optional[Mapping[str, Any]] = None):
    self.registry = registry if registry is not None else CollectorRegistry()
    self.feature_ranges = parse_feature_ranges(feature_ranges)
    r = self.registry
    ProcessCollector(registry=r)
    _process_memory_collector(r)
    self.request_latency = Histogram(
        'serving_request_latency_seconds', 'Predict latency in the server, by version.',
        ['model', 'version', 'role'], buckets=LATENCY_BUCKETS, registry=r)
    self.requests = Counter('serving_requests', 'Predict requests by version and HTTP code.',
                            ['model', 'version', 'role', 'code'], registry=r)
    self.request_errors = Counter('serving_request_errors',
                                  'Failed requests (HTTP code >= 400) by version and code.',
                                  ['model', 'version', 'code'], registry=r)
    self.instances = Counter('serving_instances', 'Instances (rows) predicted.',
                             ['model', 'version', 'role'], registry=r)
    self.shadow_requests = Counter('serving_shadow_requests',
                                   'Mirrored requests to the shadow version.',
                                   ['model', 'version', 'outcome'], registry=r)
    self.model_loads = Counter('serving_model_loads', 'Version load attempts.',
                               ['model', 'outcome'], registry=r)
    self.version_available = Gauge('serving_model_version_available',
                                   '1 while a version is loaded and routable.',
                                   ['model', 'version'], registry=r)
    self.label_info = Gauge('serving_model_label_info', 'Version each label points to.',
                            ['model', 'label', 'version'], registry=r)
    self.canary_weight = Gauge('serving_canary_weight_percent',
                               'Percent of request keys routed to the canary.', ['model'],
                               registry=r)
    self.log_records = Counter('serving_request_log_records', 'Request-log records written.',
                               ['model', 'version', 'role'], registry=r)
    self.log_errors = Counter('serving_request_log_errors', 'Request-log write failures.',
                              ['model'], registry=r)
    self.input_values = Counter('serving_input_values', 'Feature values received.',
                                ['model', 'version', 'feature'], registry=r)
    self.input_missing = Counter('serving_input_missing',
                                 'Missing feature values (NaN, "" or null).',
                                 ['model', 'version', 'feature'], registry=r)
    self.input_out_of_range = Counter(
        'serving_input_out_of_range', 'Feature values outside the configured range/domain.',
        ['model', 'version', 'feature', 'side'], registry=r)
    self.predicted_class = Counter('serving_predicted_class', 'Predicted classes.',
                                   ['model', 'version', 'role', 'class'], registry=r)
    self.prediction_confidence = Histogram(
        'serving_prediction_confidence', 'Max class probability per prediction.',
        ['model', 'version', 'role'], buckets=CONFIDENCE_BUCKETS, registry=r)
    self.invalid_outputs = Counter('serving_invalid_outputs',
                                   'Invalid output values (NaN, out of range, empty).',
                                   ['model', 'version', 'role', 'output', 'kind'], registry=r)
    self.automation = automation.AutomationMetrics(r)  # serving_automation_* series
    self._class_lock = threading.Lock()
    self._classes_seen: Dict[Tuple[str, str], set] = {}
    self._labels_lock = threading.Lock()
    self._label_series: Dict[str, set] = {}

  # ------------------------------------------------------------ exposition
  def render(self) -> bytes:
    return generate_latest(self.registry)

  # ------------------------------------------------------------ software
  def observe_request(self, model: str, version: str, role: str, code: int,
                      seconds: Optional[float], instances: int = 0) -> None:
    self.requests.labels(model, version, role, str(code)).inc()
    if code >= 400:
      self.request_errors.labels(model, version, str(code)).inc()
    if seconds is not None and code < 400:
      self.request_latency.labels(model, version, role).observe(seconds)
    if instances and code < 400:
      self.instances.labels(model, version, role).inc(instances)

  def observe_load(self, model: str, version: int, ok: bool) -> None:
    self.model_loads.labels(model, 'ok' if ok else 'failed').inc()
    if ok:
      self.version_available.labels(model, str(version)).set(1)

  def observe_unload(self, model: str, version: int) -> None:
    self.version_available.labels(model, str(version)).set(0)
    self.automation.forget_version(model, str(version))

  def observe_routing(self, model: str, labels: Mapping[str, int], canary_weight: float) -> None:
    with self._labels_lock:
      new = {(model, label, str(version)) for label, version in labels.items()}
      for stale in self._label_series.get(model, set()) - new:
        self.label_info.remove(*stale)
      for series in new:
        self.label_info.labels(*series).set(1)
      self._label_series[model] = new
      self.canary_weight.labels(model).set(canary_weight)

  # ------------------------------------------------------------ inputs
  def observe_inputs(self, model: str, version: str, features: Mapping[str, np.ndarray]) -> None:
    """Counts values, missing values and out-of-range values per feature."""
    for name, arr in features.items():
      n = int(arr.size)
      if n == 0:
        continue
      self.input_values.labels(model, version, name).inc(n)
      spec = self.feature_ranges.get(name)
      if arr.dtype == object:
        missing_mask = np.fromiter((v in (b'', '', None) for v in arr.flat), bool, n)
        missing = int(missing_mask.sum())
        if isinstance(spec, CategoricalDomain):
          unknown = sum(1 for v, m in zip(arr.flat, missing_mask)
                        if not m and (v.encode('utf-8') if isinstance(v, str) else v)
                        not in spec.values)
          if unknown:
            self.input_out_of_range.labels(model, version, name, 'unknown_category').inc(unknown)
      elif arr.dtype.kind == 'f':
        missing = int(np.isnan(arr).sum())
        if isinstance(spec, NumericRange):
          low = int((arr < spec.low).sum())
          high = int((arr > spec.high).sum())
          if low:
            self.input_out_of_range.labels(model, version, name, 'low').inc(low)
          if high:
            self.input_out_of_range.labels(model, version, name, 'high').inc(high)
      else:
        missing = 0
        if isinstance(spec, NumericRange) and arr.dtype.kind in 'iu':
          low = int((arr < spec.low).sum())
          high = int((arr > spec.high).sum())
          if low:
            self.input_out_of_range.labels(model, version, name, 'low').inc(low)
          if high:
            self.input_out_of_range.labels(model, version, name, 'high').inc(high)
      if missing:
        self.input_missing.labels(model, version, name).inc(missing)

  # ------------------------------------------------------------ outputs
  def _class_label(self, model: str, version: str, cls: str) -> str:
    with self._class_lock:
      seen = self._classes_seen.setdefault((model, version), set())
      if cls in seen:
        return cls
      if len(seen) >= MAX_CLASS_LABELS:
        return OTHER_CLASS
      seen.add(cls)
      return cls

  def observe_outputs(self, model: str, version: str, role: str,
                      outputs: Mapping[str, np.ndarray]) -> None:
    """Class distribution, confidence, and invalid values of one batch."""
    for name, arr in outputs.items():
      if arr.dtype.kind == 'f':
        nan = int((~np.isfinite(arr)).sum())
        if nan:
          self.invalid_outputs.labels(model, version, role, name, 'nan').inc(nan)
    probs = outputs.get('probabilities')
    k = None
    if probs is not None and probs.ndim == 2 and probs.dtype.kind == 'f':
      k = probs.shape[1]
      finite_rows = np.isfinite(probs).all(axis=1)
      bad_range = int(((probs < -1e-4) | (probs > 1 + 1e-4)).any(axis=1)[finite_rows].sum())
      if bad_range:
        self.invalid_outputs.labels(model, version, role, 'probabilities',
                                    'out_of_range').inc(bad_range)
      bad_sum = int((np.abs(probs.sum(axis=1) - 1.0) > 1e-3)[finite_rows].sum())
      if bad_sum:
        self.invalid_outputs.labels(model, version, role, 'probabilities', 'bad_sum').inc(bad_sum)
      hist = self.prediction_confidence.labels(model, version, role)
      for conf in probs[finite_rows].max(axis=1).tolist() if probs.shape[1] else []:
        hist.observe(conf)
    ids = outputs.get('class_ids')
    if ids is not None and k is not None and ids.dtype.kind in 'iu':
      bad = int(((ids < 0) | (ids >= k)).sum())
      if bad:
        self.invalid_outputs.labels(model, version, role, 'class_ids', 'out_of_range').inc(bad)
    classes = outputs.get('classes')
    if classes is not None and classes.dtype == object:
      values = [c.decode('utf-8', 'replace') if isinstance(c, bytes) else str(c)
                for c in classes.reshape(-1).tolist()]
      empty = sum(1 for c in values if not c)
      if empty:
        self.invalid_outputs.labels(model, version, role, 'classes', 'empty').inc(empty)
    elif ids is not None:
      values = [str(i) for i in ids.reshape(-1).tolist()]
    elif probs is not None and probs.ndim == 2:
      values = [str(i) for i in np.nanargmax(np.nan_to_num(probs, nan=-1), axis=1).tolist()]
    else:
      values = []
    counts: Dict[str, int] = {}
    for c in values:
      if c:
        counts[c] = counts.get(c, 0) + 1
    for c, n in counts.items():
      self.predicted_class.labels(model, version, role, self._class_label(model, version, c)).inc(n)

  # ------------------------------------------------------------ shadow / log
  def observe_shadow(self, model: str, version: str, outcome: str) -> None:
    self.shadow_requests.labels(model, version, outcome).inc()

  def observe_log(self, model: str, version: str, role: str, records: int) -> None:
    self.log_records.labels(model, version, role).inc(records)

  def observe_log_error(self, model: str) -> None:
    self.log_errors.labels(model).inc()
