"""Progressive rollout of a candidate model version, judged by guardrails.

Given a model server (reached by URL, or started in-process on 127.0.0.1 on an
ephemeral port from the serving directory) and held-out traffic to replay:

canary mode (a stable version exists)
  The candidate is loaded and labelled `canary`; at each step (default 5% ->
  25% -> 50% -> 100% of request keys, sticky) the held-out rows are replayed
  through the routed endpoint, one row per request keyed by its id, and the
  guardrails (`rollout.guardrails`) compare everything the canary answered so
  far with everything stable answered: error rate, p99 latency, prediction
  distributions and, where the rows carry (delayed) labels, accuracy and
  rare-class recall. A breach aborts the canary at once (weight 0, stable
  untouched); after the last step, with every required check passed, the
  candidate is promoted (atomic blue-green: `stable` -> candidate,
  `previous` -> the old stable).

shadow mode (the first deployment: nothing is stable yet)
  The replayed rows go to the candidate's own version endpoint, so its answers
  reach no client, and absolute limits replace the comparison with stable. It
  becomes `stable` only if they hold.

Every request loop is bounded in count (the replay rows, at most
`max_requests_per_step`) and in time (`max_seconds_per_step`).

Which version is stable survives an in-process server in a small state file
beside the model directory, `<serving_root>/<model>.rollout.json`, written
atomically after every decision (a running server's own labels win when a
server URL is given).

CLI:
  python -m rollout.rollout --serving-root DIR --model-name credit_risk \\
      --candidate 1732262400 --replay held_out.csv [--labels outcomes.csv] \\
      [--server-url URL] [--out DIR]
"""

import argparse
import concurrent.futures
import csv
import dataclasses
import datetime
import glob
import html
import http.client
import ipaddress
import json
import logging
import math
import os
import sys
import threading
import time
import urllib.parse
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from rollout import guardrails
from rollout.guardrails import Sample, Thresholds

_LOG = logging.getLogger(__name__)

PROMOTED = 'promoted'
ROLLED_BACK = 'rolled_back'
NOT_PUSHED = 'not_pushed'
ALREADY_STABLE = 'already_stable'
CANARY_MODE = 'canary'
SHADOW_MODE = 'shadow'
DEFAULT_STEPS = (5.0, 25.0, 50.0, 100.0)
STATE_SUFFIX = '.rollout.json'
MAX_HISTORY = 100


class RolloutError(RuntimeError):
  """The rollout could not run (bad arguments, server unreachable)."""


# ----------------------------------------------------------------- replay data
@dataclasses.dataclass(frozen=True)
class ReplayRow:
  key: str
  values: Mapping[str, Any]  # raw column -> float | int | str | None
  label: int = -1  # class id; -1 = unknown (label not joined yet)


def _label_of(values: Mapping[str, Any], spec) -> int:
  """The class id of a raw row, as the Transform derives it; -1 if unknown."""
  if spec.label_rule:
    column, factor, times = spec.label_rule
    if column not in values:
      return -1
    v = _as_float(values.get(column))
    v = 0.0 if v is None else v
    threshold = factor
    if times:
      t = _as_float(values.get(times))
      threshold = math.inf if t is None else factor * t
    return int(v > threshold)
  raw = values.get(spec.label)
  if raw is None or raw == '':
    return -1
  raw = raw.decode() if isinstance(raw, bytes) else str(raw)
  return spec.classes.index(raw) if raw in spec.classes else -1


def _as_float(v: Any) -> Optional[float]:
  if v is None or v == '' or v == b'':
    return None
  try:
    f = float(v)
  except (TypeError, ValueError):
    return None
  return None if math.isnan(f) else f


def rows_from_dicts(records: Iterable[Mapping[str, Any]], spec,
                    limit: Optional[int] = None) -> List[ReplayRow]:
  out = []
  for i, rec in enumerate(records):
    if limit is not None and len(out) >= limit:
      break
    key = rec.get(spec.id_column) if spec.id_column else None
    key = f'row-{i}' if key in (None, '') else (key.decode() if isinstance(key, bytes)
                                                  else str(key))
    out.append(ReplayRow(key, dict(rec), _label_of(rec, spec)))
  return out


def load_replay_csv(path: str, spec, limit: Optional[int] = None) -> List[ReplayRow]:
  """Rows of a CSV file (or every *.csv under a directory, e.g. a span)."""
  files = sorted(glob.glob(os.path.join(path, '*.csv'))) if os.path.isdir(path) else [path]
  if not files:
    raise RolloutError(f'no CSV files at {path}')

  def records():
    for f in files:
      with open(f, newline='') as fh:
        yield from csv.DictReader(fh)

  rows = rows_from_dicts(records(), spec, limit)
  if not rows:
    raise RolloutError(f'{path} has no rows to replay')
  return rows


def load_replay_examples(split_dir: str, spec, limit: Optional[int] = None) -> List[ReplayRow]:
  """Rows of an ExampleGen split directory (gzipped TFRecords of tf.Example)."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  files = sorted(glob.glob(os.path.join(split_dir, '*')))
  if not files:
    raise RolloutError(f'no example files under {split_dir}')

  def records():
    for raw in tf.data.TFRecordDataset(files, compression_type='GZIP').as_numpy_iterator():
      ex = example_pb2.Example.FromString(raw)
      rec = {}
      for name, feat in ex.features.feature.items():
        kind = feat.WhichOneof('kind')
        values = list(getattr(feat, kind).value) if kind else []
        if not values:
          rec[name] = None
        elif kind == 'bytes_list':
          rec[name] = values[0].decode('utf-8', 'replace')
        else:
          rec[name] = values[0]
      yield rec

  rows = rows_from_dicts(records(), spec, limit)
  if not rows:
    raise RolloutError(f'{split_dir} has no examples to replay')
  return rows


def load_labels_csv(path: str, spec) -> Dict[str, int]:
  """Delayed labels: a CSV of <id column>, <label column> (more columns are
  ignored), e.g. outcomes known months after the requests. Key -> class id."""
  if not spec.id_column:
    raise RolloutError('joining delayed labels needs the description\'s id_column')
  out = {}
  with open(path, newline='') as fh:
    for rec in csv.DictReader(fh):
      key, label = rec.get(spec.id_column), _label_of(rec, spec)
      if key and label >= 0:
        out[key] = label
  return out


def make_instance(values: Mapping[str, Any], inputs: Mapping[str, str]) -> Dict[str, Any]:
  """A JSON instance for a signature whose inputs are {name: 'float'|'string'}:
  missing numbers are null (NaN on the server), missing strings ''."""
  inst = {}
  for name, kind in inputs.items():
    v = values.get(name)
    if kind == 'string':
      inst[name] = '' if v is None else (v.decode() if isinstance(v, bytes) else str(v))
    else:
      inst[name] = _as_float(v)
  return inst


# ----------------------------------------------------------------- HTTP client
def _is_loopback(host: str) -> bool:
  if host == 'localhost':
    return True
  try:
    return ipaddress.ip_address(host.strip('[]')).is_loopback
  except ValueError:
    return False


class ServerClient:
  """JSON over HTTP to one model server; one keep-alive connection per thread."""

  def __init__(self, url: str, model: str, timeout: float = 30.0,
               admin_token: Optional[str] = None, allow_non_loopback: bool = False):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != 'http' or not parts.hostname or not parts.port:
      raise RolloutError(f'server URL must look like http://127.0.0.1:8501, got {url!r}')
    if not allow_non_loopback and not _is_loopback(parts.hostname):
      raise RolloutError(f'server {url} is not on loopback; pass allow_non_loopback=True '
                         f'to roll out to a remote server on purpose')
    self.url = url.rstrip('/')
    self.host, self.port = parts.hostname, parts.port
    self.model = model
    self.timeout = timeout
    self.admin_token = admin_token
    self._local = threading.local()

  def _conn(self) -> http.client.HTTPConnection:
    conn = getattr(self._local, 'conn', None)
    if conn is None:
      conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
      self._local.conn = conn
    return conn

  def request(self, method: str, path: str, body: Any = None,
              headers: Optional[Dict[str, str]] = None
              ) -> Tuple[int, Any, Dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    hdrs = {'Content-Type': 'application/json'}
    if self.admin_token:
      hdrs['X-Admin-Token'] = self.admin_token
    hdrs.update(headers or {})
    for attempt in (0, 1):
      conn = self._conn()
      try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
      except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        # A keep-alive connection the server closed while idle: reconnect once.
        conn.close()
        self._local.conn = None
        if attempt:
          raise
        continue
      except (OSError, http.client.HTTPException):
        conn.close()
        self._local.conn = None
        raise
      if resp.getheader('Connection', '').lower() == 'close':
        conn.close()
        self._local.conn = None
      try:
        parsed = json.loads(payload) if payload else None
      except ValueError:
        parsed = payload.decode('utf-8', 'replace')
      return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}
    raise AssertionError('unreachable')

  def close(self) -> None:
    conn = getattr(self._local, 'conn', None)
    if conn is not None:
      conn.close()
      self._local.conn = None

  # -------------------------------------------------------------- admin
  def _admin(self, action: str, body: Any = None) -> Dict[str, Any]:
    path = f'/v1/admin/models/{urllib.parse.quote(self.model)}/{action}'
    status, payload, _ = self.request('POST', path, body if body is not None else {})
    if status != 200:
      raise AdminError(status, _error_text(payload), action)
    return payload

  def routing(self) -> Dict[str, Any]:
    status, payload, _ = self.request(
        'GET', f'/v1/admin/models/{urllib.parse.quote(self.model)}/routing')
    if status != 200:
      raise AdminError(status, _error_text(payload), 'routing')
    return payload

  def load(self, version: int) -> Dict[str, Any]:
    return self._admin(f'versions/{int(version)}:load')

  def unload(self, version: int) -> Dict[str, Any]:
    return self._admin(f'versions/{int(version)}:unload')

  def set_labels(self, labels: Mapping[str, Optional[int]]) -> Dict[str, Any]:
    return self._admin('labels', {'labels': dict(labels)})

  def set_canary(self, version: int, weight: float) -> Dict[str, Any]:
    return self._admin('canary', {'version': int(version), 'weight': weight})

  def promote(self, version: int) -> Dict[str, Any]:
    return self._admin('promote', {'version': int(version)})

  def abort_canary(self) -> Dict[str, Any]:
    return self._admin('abort_canary')

  def signature_inputs(self, version: int) -> Dict[str, str]:
    """serving_default's inputs of a version: name -> 'float' | 'string'."""
    status, payload, _ = self.request(
        'GET', f'/v1/models/{urllib.parse.quote(self.model)}/versions/{int(version)}/metadata')
    if status != 200:
      raise AdminError(status, _error_text(payload), 'metadata')
    sig = payload['metadata']['signature_def']['signature_def']['serving_default']
    return {name: ('string' if info.get('dtype') == 'DT_STRING' else 'float')
            for name, info in sorted(sig['inputs'].items())}


class AdminError(RolloutError):

  def __init__(self, status: int, message: str, action: str):
    super().__init__(f'{action}: HTTP {status}: {message}')
    self.status = status
    self.message = message


def _error_text(payload: Any) -> str:
  if isinstance(payload, dict) and 'error' in payload:
    return str(payload['error'])
  return str(payload)[:500]


def _labels_of(routing: Mapping[str, Any]) -> Dict[str, int]:
  return {k: int(v) for k, v in routing['routing']['labels'].items()}


# ----------------------------------------------------------------- records
@dataclasses.dataclass
class Record:
  """One replayed request."""
  key: str
  version: Optional[int]
  role: Optional[str]
  status: int  # HTTP status; 0 = no answer (connection failure, timeout)
  latency_ms: float
  class_id: Optional[int] = None
  probabilities: Optional[List[float]] = None
  error: Optional[str] = None

  @property
  def ok(self) -> bool:
    return self.status == 200 and self.class_id is not None


class _VersionLedger:
  """Everything one version answered across steps, deduplicated by key."""

  def __init__(self):
    self.answers: Dict[str, Record] = {}  # key -> latest good answer
    self.errored: set = set()
    self.latencies: List[float] = []

  def add(self, rec: Record, count_latency: bool) -> None:
    if rec.ok:
      self.answers[rec.key] = rec
      if count_latency:
        self.latencies.append(rec.latency_ms)
    else:
      self.errored.add(rec.key)

  def sample(self, labels: Mapping[str, int]) -> Sample:
    keys = sorted(self.answers)
    scores = [self.answers[k].probabilities for k in keys]
    width = {len(s) for s in scores if s is not None}
    return Sample(
        requests=len(set(self.answers) | self.errored),
        errors=len(self.errored),
        latencies_ms=list(self.latencies),
        predicted=[self.answers[k].class_id for k in keys],
        scores=np.asarray(scores, dtype=np.float64) if scores and len(width) == 1 else None,
        labels=[labels.get(k, -1) for k in keys])


def _step_stats(records: Sequence[Record], version: Optional[int]) -> Dict[str, Any]:
  mine = [r for r in records if r.version == version]
  lat = [r.latency_ms for r in mine if r.ok]
  return {
      'requests': len(mine),
      'errors': sum(not r.ok for r in mine),
      'p50_ms': guardrails.json_safe(guardrails.percentile(lat, 50)),
      'p99_ms': guardrails.json_safe(guardrails.percentile(lat, 99)),
  }


# ----------------------------------------------------------------- config/result
@dataclasses.dataclass
class RolloutConfig:
  steps: Sequence[float] = DEFAULT_STEPS  # canary weights in percent, ending at 100
  mode: str = 'auto'  # auto | canary | shadow
  thresholds: Thresholds = dataclasses.field(default_factory=Thresholds)
  max_requests_per_step: int = 5000
  max_seconds_per_step: float = 300.0
  concurrency: int = 4
  request_timeout: float = 30.0
  max_unattributed_errors: float = 0.05  # share of a step's requests with no version
  seed: int = 0

  def validate(self) -> None:
    steps = [float(s) for s in self.steps]
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
      raise RolloutError(f'steps must be increasing percents in (0, 100], got {list(self.steps)}')
    if steps[-1] != 100:
      raise RolloutError(f'the last step must be 100 (the whole traffic), got {steps[-1]}')
    if self.mode not in ('auto', CANARY_MODE, SHADOW_MODE):
      raise RolloutError(f'mode must be auto, canary or shadow, got {self.mode!r}')
    if self.max_requests_per_step < 1 or self.max_seconds_per_step <= 0 or self.concurrency < 1:
      raise RolloutError('max_requests_per_step, max_seconds_per_step and concurrency '
                         'must be positive')

  def to_json(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d['steps'] = [float(s) for s in self.steps]
    d['thresholds'] = self.thresholds.to_json()
    return d


@dataclasses.dataclass
class RolloutResult:
  decision: str
  reason: str
  model: str
  candidate: Optional[int]
  mode: Optional[str] = None
  step: int = 0  # 1-based index of the step that decided (0: none ran)
  step_weight: Optional[float] = None  # its canary weight (percent)
  stable_before: Optional[int] = None
  stable_after: Optional[int] = None
  steps: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  server_url: Optional[str] = None
  in_process_server: bool = False
  replay_source: Optional[str] = None
  replay_rows: int = 0
  labelled_rows: int = 0
  config: Dict[str, Any] = dataclasses.field(default_factory=dict)
  notes: List[str] = dataclasses.field(default_factory=list)
  started: Optional[str] = None
  finished: Optional[str] = None
  seconds: float = 0.0

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def summary_line(self) -> str:
    where = (f' at step {self.step} ({_weight_text(self.step_weight)})'
             if self.step else '')
    return (f'{self.model} candidate {self.candidate}: {self.decision}{where}: '
            f'{self.reason}')


def _weight_text(weight: Optional[float]) -> str:
  if weight is None:
    return '-'
  if weight == 0:
    return 'shadow'
  return f'{weight:g}%'


def now_iso() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


# ----------------------------------------------------------------- state file
def state_path(serving_root: str, model: str) -> str:
  return os.path.join(serving_root, model + STATE_SUFFIX)


def read_state(serving_root: str, model: str) -> Dict[str, Any]:
  try:
    with open(state_path(serving_root, model)) as f:
      state = json.load(f)
  except FileNotFoundError:
    return {'model': model, 'stable': None, 'previous': None, 'rolled_back': [],
            'history': []}
  except ValueError as e:
    raise RolloutError(f'{state_path(serving_root, model)} is corrupt: {e}') from e
  state.setdefault('rolled_back', [])
  state.setdefault('history', [])
  return state


def write_state(serving_root: str, model: str, result: RolloutResult) -> Dict[str, Any]:
  """Records the decision; atomic (write a temporary file, then rename)."""
  state = read_state(serving_root, model)
  if result.decision == PROMOTED:
    if state.get('stable') != result.candidate:
      state['previous'] = (result.stable_before if result.stable_before is not None
                           else state.get('stable'))
    state['stable'] = result.candidate
  elif result.decision == ROLLED_BACK and result.candidate is not None:
    if result.candidate not in state['rolled_back']:
      state['rolled_back'].append(result.candidate)
  state['history'].append({'time': result.finished or now_iso(), 'candidate': result.candidate,
                           'decision': result.decision, 'step': result.step,
                           'reason': result.reason})
  del state['history'][:-MAX_HISTORY]
  del state['rolled_back'][:-MAX_HISTORY]
  path = state_path(serving_root, model)
  tmp = f'{path}.tmp.{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(state, f, indent=1)
  os.replace(tmp, path)
  return state


def _version_dirs(base: str) -> List[int]:
  try:
    names = os.listdir(base)
  except FileNotFoundError:
    return []
  return sorted(int(n) for n in names
                if n.isdigit() and int(n) > 0 and os.path.isdir(os.path.join(base, n)))


def stable_from_disk(serving_root: str, model: str, candidate: int) -> Tuple[Optional[int], str]:
  """The stable version for an in-process server, and how it was found."""
  state = read_state(serving_root, model)
  versions = _version_dirs(os.path.join(serving_root, model))
  stable = state.get('stable')
  if stable is not None and stable in versions and stable != candidate:
    return stable, f'stable {stable} from {state_path(serving_root, model)}'
  if stable is not None and stable == candidate:
    return stable, 'the candidate is already stable'
  # No record (e.g. versions pushed before rollouts existed): the newest other
  # version that no rollout rejected.
  older = [v for v in versions if v != candidate and v not in state['rolled_back']]
  if older:
    return max(older), f'stable {max(older)}: the newest other version (no rollout state)'
  return None, 'no other version: first deployment'


# ----------------------------------------------------------------- the rollout
class Rollout:
  """One rollout of `candidate`. Use `run()`; see the module docstring."""

  def __init__(self, model: str, candidate: int, rows: Sequence[ReplayRow], spec,
               config: Optional[RolloutConfig] = None, *,
               server_url: Optional[str] = None, serving_root: Optional[str] = None,
               request_log_dir: Optional[str] = None, admin_token: Optional[str] = None,
               allow_non_loopback: bool = False, replay_source: Optional[str] = None,
               labels: Optional[Mapping[str, int]] = None):
    """Args:
      model: the served model name (`<serving_root>/<model>/<version>/`).
      candidate: the version to roll out.
      rows: held-out traffic to replay (see load_replay_csv/_examples).
      spec: the DatasetSpec (id column, classes, rare class).
      server_url: reach this server; None starts one in-process on 127.0.0.1.
      serving_root: the directory holding `<model>/`; needed for the
        in-process server and for the state file.
      request_log_dir: the in-process server's request log (None: no log).
      labels: delayed labels, request key -> class id; they replace the rows'
        own labels (see load_labels_csv).
    """
    self.model = model
    self.candidate = int(candidate)
    self.rows = list(rows)
    self.spec = spec
    self.config = config or RolloutConfig()
    self.config.validate()
    self.server_url = server_url
    self.serving_root = serving_root
    self.request_log_dir = request_log_dir
    self.admin_token = admin_token
    self.allow_non_loopback = allow_non_loopback
    self.replay_source = replay_source
    if not self.rows:
      raise RolloutError('no rows to replay')
    if server_url is None and serving_root is None:
      raise RolloutError('give a server_url or a serving_root (for an in-process server)')
    self.labels = ({k: int(v) for k, v in labels.items() if int(v) >= 0}
                   if labels is not None else
                   {r.key: r.label for r in self.rows if r.label >= 0})
    self._server = None
    self.client: Optional[ServerClient] = None
    self._inputs: Dict[str, str] = {}

  # -------------------------------------------------------------- entry
  def run(self) -> RolloutResult:
    started = time.monotonic()
    result = RolloutResult(
        decision=ROLLED_BACK, reason='', model=self.model, candidate=self.candidate,
        in_process_server=self.server_url is None, replay_source=self.replay_source,
        replay_rows=len(self.rows),
        labelled_rows=sum(1 for r in self.rows if r.key in self.labels),
        config=self.config.to_json(), started=now_iso())
    try:
      self._connect()
      result.server_url = self.client.url
      self._run(result)
    finally:
      result.finished = now_iso()
      result.seconds = round(time.monotonic() - started, 3)
      if self.client is not None:
        self.client.close()
      if self._server is not None:
        self._server.shutdown()
    if self.serving_root and result.decision in (PROMOTED, ROLLED_BACK):
      write_state(self.serving_root, self.model, result)
    _LOG.info('rollout: %s', result.summary_line())
    return result

  def _connect(self) -> None:
    if self.server_url is None:
      from serving.server import ModelServer  # pylint: disable=g-import-not-at-top
      base = os.path.join(self.serving_root, self.model)
      if not os.path.isdir(os.path.join(base, str(self.candidate))):
        raise RolloutError(f'candidate version directory {base}/{self.candidate} does not exist')
      # Nothing loads at start: only stable and the candidate are needed, and
      # loading every pushed version would cost a TF load each.
      self._server = ModelServer(
          self.serving_root, self.model, host='127.0.0.1', port=0, load_on_start=False,
          request_log_dir=self.request_log_dir, sticky_field=self.spec.id_column,
          admin_token=self.admin_token).serve_in_background()
      url = self._server.url
    else:
      url = self.server_url
    self.client = ServerClient(url, self.model, timeout=self.config.request_timeout,
                               admin_token=self.admin_token,
                               allow_non_loopback=self.allow_non_loopback)

  def _run(self, result: RolloutResult) -> None:
    stable, how = self._find_stable()
    result.notes.append(how)
    result.stable_before = stable
    result.stable_after = stable
    if stable == self.candidate:
      result.decision, result.reason = ALREADY_STABLE, f'version {stable} is already stable'
      return
    if stable is not None and self.server_url is None:
      try:
        self.client.load(stable)
      except AdminError as e:
        result.notes.append(f'stable {stable} failed to load ({e.message}); treating the '
                            f'candidate as the first deployment')
        stable = result.stable_before = result.stable_after = None
    mode = self.config.mode
    if mode == 'auto':
      mode = CANARY_MODE if stable is not None else SHADOW_MODE
    if mode == CANARY_MODE and stable is None:
      raise RolloutError('canary mode needs a stable version; none is serving')
    result.mode = mode
    labels_before = _labels_of(self.client.routing())
    try:
      self.client.load(self.candidate)
    except AdminError as e:
      if e.status != 422:
        raise
      result.reason = f'the candidate failed to load and never served: {e.message}'
      self._undo_auto_stable(labels_before, result)
      return
    self._inputs = self.client.signature_inputs(self.candidate)
    if mode == CANARY_MODE:
      self._canary(stable, result)
    else:
      self._shadow(labels_before, result)

  def _find_stable(self) -> Tuple[Optional[int], str]:
    if self.server_url is None:
      return stable_from_disk(self.serving_root, self.model, self.candidate)
    labels = _labels_of(self.client.routing())
    stable = labels.get('stable')
    if stable is None:
      return None, f'server {self.server_url} has no stable label: first deployment'
    return stable, f'stable {stable} from the server\'s routing'

  # -------------------------------------------------------------- replay
  def _replay(self, step_index: int, version: Optional[int] = None) -> List[Record]:
    """Sends every row once (shuffled per step), bounded in count and time."""
    order = np.random.default_rng(self.config.seed + step_index).permutation(len(self.rows))
    order = order[:self.config.max_requests_per_step]
    deadline = time.monotonic() + self.config.max_seconds_per_step
    if version is None:
      path = f'/v1/models/{urllib.parse.quote(self.model)}:predict'
    else:
      path = f'/v1/models/{urllib.parse.quote(self.model)}/versions/{int(version)}:predict'
    cursor = iter(order.tolist())
    lock = threading.Lock()
    records: List[Record] = []

    def worker() -> List[Record]:
      mine = []
      try:
        while time.monotonic() < deadline:
          with lock:
            i = next(cursor, None)
          if i is None:
            break
          mine.append(self._send(path, self.rows[i]))
      finally:
        self.client.close()  # this thread's connection
      return mine

    with concurrent.futures.ThreadPoolExecutor(self.config.concurrency,
                                               thread_name_prefix='replay') as pool:
      for fut in [pool.submit(worker) for _ in range(self.config.concurrency)]:
        records.extend(fut.result())
    return records

  def _send(self, path: str, row: ReplayRow) -> Record:
    body = {'instances': [make_instance(row.values, self._inputs)]}
    start = time.perf_counter()
    try:
      status, payload, headers = self.client.request(
          'POST', path, body, headers={'X-Request-Key': row.key})
    except (OSError, http.client.HTTPException) as e:
      return Record(row.key, None, None, 0, (time.perf_counter() - start) * 1e3,
                    error=f'{type(e).__name__}: {e}')
    latency = (time.perf_counter() - start) * 1e3
    version = headers.get('x-model-version')
    rec = Record(row.key, int(version) if version else None, headers.get('x-model-role'),
                 status, latency)
    if status != 200:
      rec.error = _error_text(payload)
      return rec
    try:
      pred = payload['predictions'][0]
      rec.class_id = int(pred['class_ids'])
      rec.probabilities = [float(p) for p in pred['probabilities']]
    except (KeyError, IndexError, TypeError, ValueError):
      rec.class_id = None
      rec.error = 'answer without class_ids/probabilities'
    return rec

  # -------------------------------------------------------------- canary
  def _canary(self, stable: int, result: RolloutResult) -> None:
    th = self.config.thresholds
    steps = [float(s) for s in self.config.steps]
    alpha = th.alpha / len(steps)  # Bonferroni over the looks
    ledgers = {stable: _VersionLedger(), self.candidate: _VersionLedger()}
    k = self.spec.num_classes
    rare = self.spec.rare_class_id
    try:
      for index, weight in enumerate(steps, start=1):
        routing = self.client.set_canary(self.candidate, weight)
        t0 = time.monotonic()
        records = self._replay(index)
        seconds = time.monotonic() - t0
        self._check_routing(stable, weight)
        # Latency is compared only on steps where both versions answered, so
        # both were measured side by side under the same load.
        both = {r.version for r in records if r.ok} >= {stable, self.candidate}
        unattributed = [r for r in records if r.version not in ledgers]
        for r in records:
          if r.version in ledgers:
            ledgers[r.version].add(r, count_latency=both)
        canary_s = ledgers[self.candidate].sample(self.labels)
        stable_s = ledgers[stable].sample(self.labels)
        checks = guardrails.evaluate(canary_s, stable_s, k, rare, th, alpha)
        step = {
            'step': index, 'weight': weight, 'seconds': round(seconds, 3),
            'requests': len(records), 'routing_generation': routing['routing']['generation'],
            'latency_compared': both,
            'stable': _step_stats(records, stable),
            'canary': _step_stats(records, self.candidate),
            'unattributed_errors': len(unattributed),
            'cumulative': {'canary_keys': canary_s.requests, 'stable_keys': stable_s.requests},
            'checks': [c.to_json() for c in checks],
        }
        result.steps.append(step)
        result.step, result.step_weight = index, weight
        bad = guardrails.breaches(checks)
        if len(unattributed) > self.config.max_unattributed_errors * max(len(records), 1):
          sample = unattributed[0]
          reason = (f'{len(unattributed)} of {len(records)} requests failed without '
                    f'naming a version (e.g. HTTP {sample.status}: {sample.error})')
          return self._rollback(result, reason)
        if bad:
          return self._rollback(result, '; '.join(f'{c.name}: {c.reason}' for c in bad))
        if index == len(steps):
          unmet = guardrails.unmet_required(checks, th)
          if unmet:
            return self._rollback(result, 'not enough evidence to promote: ' + '; '.join(
                f'{c.name}: {c.reason}' for c in unmet))
      self.client.promote(self.candidate)
      labels = _labels_of(self.client.routing())
      if labels.get('stable') != self.candidate:
        raise RolloutError(f'promote did not take: labels {labels}')
      result.decision, result.stable_after = PROMOTED, self.candidate
      result.reason = (f'all guardrails held at every step '
                       f'({", ".join(_weight_text(s) for s in steps)})')
    except RolloutError as e:
      # Whatever went wrong mid-way, the canary must not keep its traffic.
      self._rollback(result, f'rollout error: {e}')
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('rollout failed')
      self._rollback(result, f'rollout error: {type(e).__name__}: {e}')

  def _check_routing(self, stable: int, weight: float) -> None:
    routing = self.client.routing()['routing']
    labels = {k: int(v) for k, v in routing['labels'].items()}
    if (labels.get('stable') != stable or labels.get('canary') != self.candidate or
        float(routing['canary_weight']) != weight):
      raise RolloutError(f'the routing changed during the step (someone else is changing '
                         f'it): labels {labels}, weight {routing["canary_weight"]}')

  def _rollback(self, result: RolloutResult, reason: str) -> None:
    result.decision, result.reason = ROLLED_BACK, reason
    try:
      self.client.abort_canary()
      labels = _labels_of(self.client.routing())
      result.stable_after = labels.get('stable')
      if 'canary' in labels:
        result.notes.append(f'abort_canary left labels {labels}')
    except Exception as e:  # pylint: disable=broad-except
      result.notes.append(f'abort_canary failed: {e}')
      _LOG.error('could not abort the canary of %s: %s', self.model, e)

  # -------------------------------------------------------------- shadow
  def _shadow(self, labels_before: Mapping[str, int], result: RolloutResult) -> None:
    th = self.config.thresholds
    ledger = _VersionLedger()
    try:
      t0 = time.monotonic()
      records = self._replay(1, version=self.candidate)
      seconds = time.monotonic() - t0
      for r in records:
        # A direct request names its version even when it fails.
        r.version = self.candidate
        ledger.add(r, count_latency=True)
      sample = ledger.sample(self.labels)
      checks = guardrails.evaluate_absolute(sample, self.spec.num_classes,
                                            self.spec.rare_class_id, th, th.alpha)
      result.steps.append({
          'step': 1, 'weight': 0.0, 'seconds': round(seconds, 3), 'requests': len(records),
          'latency_compared': False, 'canary': _step_stats(records, self.candidate),
          'cumulative': {'canary_keys': sample.requests},
          'checks': [c.to_json() for c in checks]})
      result.step, result.step_weight = 1, 0.0
      bad = guardrails.breaches(checks)
      unmet = guardrails.unmet_required(checks, th)
      if bad or unmet:
        result.reason = ('; '.join(f'{c.name}: {c.reason}' for c in bad) if bad else
                         'not enough evidence to promote: ' +
                         '; '.join(f'{c.name}: {c.reason}' for c in unmet))
        self._undo_auto_stable(labels_before, result)
        return
      self.client.set_labels({'stable': self.candidate})
      result.decision, result.stable_after = PROMOTED, self.candidate
      result.reason = 'first deployment: the shadow replay met every absolute limit'
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception('shadow rollout failed')
      result.reason = f'rollout error: {type(e).__name__}: {e}'
      self._undo_auto_stable(labels_before, result)

  def _undo_auto_stable(self, labels_before: Mapping[str, int], result: RolloutResult) -> None:
    """The server labels the first version it loads `stable`; a rejected
    candidate must not keep that label (nor serve as the newest version)."""
    result.decision = ROLLED_BACK
    if labels_before.get('stable') is not None:
      return
    try:
      routing = self.client.routing()
      labels = _labels_of(routing)
      if labels.get('stable') == self.candidate:
        self.client.set_labels({'stable': None})
      if str(self.candidate) in routing.get('available_versions', []):
        self.client.unload(self.candidate)
        result.notes.append('the candidate was unloaded: nothing serves until a model '
                            'passes')
      result.stable_after = None
    except Exception as e:  # pylint: disable=broad-except
      result.notes.append(f'could not unload the rejected candidate: {e}')


def run_rollout(model: str, candidate: int, rows: Sequence[ReplayRow], spec,
                config: Optional[RolloutConfig] = None, **kwargs) -> RolloutResult:
  """Shorthand for Rollout(...).run()."""
  return Rollout(model, candidate, rows, spec, config, **kwargs).run()


# ----------------------------------------------------------------- report
_STATUS_COLOR = {'pass': '#1a7f37', 'breach': '#cf222e', 'insufficient': '#9a6700',
                 'skipped': '#6e7781'}


def plot_steps(result: RolloutResult, path: str) -> Optional[str]:
  """A PNG: per step, the canary weight and each guardrail's status; p99s."""
  if not result.steps:
    return None
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  names = [c['name'] for c in result.steps[0]['checks']]
  xs = list(range(1, len(result.steps) + 1))
  labels = [_weight_text(s['weight']) for s in result.steps]
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
  for y, name in enumerate(names):
    for x, step in zip(xs, result.steps):
      status = next((c['status'] for c in step['checks'] if c['name'] == name), 'skipped')
      ax1.scatter([x], [y], s=160, color=_STATUS_COLOR.get(status, '#000'),
                  marker='X' if status == 'breach' else 'o')
  ax1.set_yticks(range(len(names)), names)
  ax1.set_xticks(xs, labels)
  ax1.set_xlim(0.5, len(xs) + 0.5)
  ax1.set_ylim(-0.7, len(names) - 0.3)
  ax1.set_title('guardrails per step (green pass, red breach,\namber insufficient, '
                'grey skipped)', fontsize=9)
  for role, color in (('stable', '#0969da'), ('canary', '#bf3989')):
    ys = [(s.get(role) or {}).get('p99_ms') for s in result.steps]
    ys = [float('nan') if v is None else v for v in ys]
    if not all(math.isnan(v) for v in ys):
      ax2.plot(xs, ys, marker='o', color=color, label=f'{role} p99')
  ax2.set_xticks(xs, labels)
  ax2.set_ylabel('ms')
  ax2.set_title('p99 latency of the step', fontsize=9)
  if ax2.lines:
    ax2.legend(fontsize=8)
  fig.suptitle(f'{result.model} {result.candidate}: {result.decision}', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def render_html(result: RolloutResult, png_name: Optional[str]) -> str:
  e = html.escape
  rows = []
  for step in result.steps:
    for c in step['checks']:
      rows.append(
          f'<tr><td>{step["step"]}</td><td>{e(_weight_text(step["weight"]))}</td>'
          f'<td>{e(c["name"])}</td><td style="color:{_STATUS_COLOR.get(c["status"], "#000")}">'
          f'<b>{e(c["status"])}</b></td><td>{e(c["reason"])}</td></tr>')
  color = '#1a7f37' if result.decision == PROMOTED else '#cf222e'
  img = f'<p><img src="{e(png_name)}" alt="rollout steps"></p>' if png_name else ''
  notes = ''.join(f'<li>{e(n)}</li>' for n in result.notes)
  return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Rollout {e(result.model)} {result.candidate}</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #d0d7de;padding:4px 8px;font-size:13px;text-align:left}}</style>
</head><body>
<h1>Rollout of {e(result.model)} version {result.candidate}:
<span style="color:{color}">{e(result.decision)}</span></h1>
<p>{e(result.reason)}</p>
<p>mode {e(str(result.mode))}; decided at step {result.step}
({e(_weight_text(result.step_weight))}); stable {result.stable_before} &rarr;
{result.stable_after}; {result.replay_rows} replayed rows ({result.labelled_rows} labelled)
from {e(str(result.replay_source))}; {result.seconds:.1f} s</p>
{img}
<table><tr><th>step</th><th>weight</th><th>guardrail</th><th>status</th><th>detail</th></tr>
{''.join(rows)}</table>
<ul>{notes}</ul>
</body></html>
"""


def write_report(result: RolloutResult, out_dir: str) -> Dict[str, str]:
  """rollout.json, rollout.png and rollout.html in out_dir; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {'json': os.path.join(out_dir, 'rollout.json')}
  with open(paths['json'], 'w') as f:
    json.dump(result.to_json(), f, indent=1, allow_nan=False, default=str)
  png = plot_steps(result, os.path.join(out_dir, 'rollout.png'))
  if png:
    paths['png'] = png
  paths['html'] = os.path.join(out_dir, 'rollout.html')
  with open(paths['html'], 'w') as f:
    f.write(render_html(result, 'rollout.png' if png else None))
  return paths


# ----------------------------------------------------------------- CLI
def main(argv: Optional[List[str]] = None) -> int:
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  p = argparse.ArgumentParser(prog='python -m rollout.rollout',
                              description=__doc__.split('\n')[0])
  p.add_argument('--model-name', required=True)
  p.add_argument('--candidate', type=int, required=True, help='the version to roll out')
  p.add_argument('--replay', required=True,
                 help='held-out rows: a CSV file, a directory of CSVs (a span), or an '
                      'ExampleGen split directory of gzipped TFRecords')
  p.add_argument('--labels', help='delayed labels: a CSV with the id and label columns, '
                 'joined to the replayed requests by id (default: the replay rows\' labels)')
  p.add_argument('--serving-root', help='directory holding <model-name>/<version>/')
  p.add_argument('--server-url', help='reach this server (default: start one in-process)')
  p.add_argument('--description', default=os.path.join(repo, 'data', 'descriptions',
                                                       'credit_risk.yaml'))
  p.add_argument('--steps', default=','.join(f'{s:g}' for s in DEFAULT_STEPS))
  p.add_argument('--mode', default='auto', choices=('auto', CANARY_MODE, SHADOW_MODE))
  p.add_argument('--thresholds', help='JSON object of guardrail thresholds')
  p.add_argument('--max-rows', type=int, default=5000)
  p.add_argument('--max-seconds-per-step', type=float, default=300.0)
  p.add_argument('--concurrency', type=int, default=4)
  p.add_argument('--request-log-dir')
  p.add_argument('--out', help='write rollout.json/.png/.html here')
  p.add_argument('--admin-token', default=os.environ.get('SERVING_ADMIN_TOKEN'))
  p.add_argument('--log-level', default='INFO')
  args = p.parse_args(argv)
  logging.basicConfig(level=args.log_level.upper(),
                      format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  import description  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  if os.path.isdir(args.replay) and not glob.glob(os.path.join(args.replay, '*.csv')):
    rows = load_replay_examples(args.replay, spec, args.max_rows)
  else:
    rows = load_replay_csv(args.replay, spec, args.max_rows)
  th = dict(json.loads(args.thresholds)) if args.thresholds else {}
  if 'min_accuracy' not in th and 'min_accuracy' in spec.evaluation:
    th['min_accuracy'] = spec.evaluation['min_accuracy']
  if 'min_rare_recall' not in th and 'min_rare_class_recall' in spec.evaluation:
    th['min_rare_recall'] = spec.evaluation['min_rare_class_recall']
  config = RolloutConfig(
      steps=[float(s) for s in args.steps.split(',')], mode=args.mode,
      thresholds=Thresholds.from_json(th), max_requests_per_step=args.max_rows,
      max_seconds_per_step=args.max_seconds_per_step, concurrency=args.concurrency)
  try:
    result = run_rollout(args.model_name, args.candidate, rows, spec, config,
                         server_url=args.server_url, serving_root=args.serving_root,
                         request_log_dir=args.request_log_dir,
                         admin_token=args.admin_token, replay_source=args.replay,
                         labels=load_labels_csv(args.labels, spec) if args.labels else None)
  except RolloutError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if args.out:
    write_report(result, args.out)
  print(result.summary_line())
  return 0 if result.decision in (PROMOTED, ALREADY_STABLE) else 1


if __name__ == '__main__':
  sys.exit(main())
