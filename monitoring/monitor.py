"""The live monitor: request log -> windows per model version -> metrics, drift, disk.

Each poll reads what the log gained (monitoring/tail.py), adds each record
to the open window of its model version, and closes a window when it holds
`window_records` records, when its records span `window_seconds`, or when
that much time has passed since its first record with no more traffic
(final=True, as in --once, also closes partial windows). A closed window's
input and output metrics (monitoring/window.py) and the drift of every model
input against that version's training data (monitoring/drift.py, found
through ML Metadata by monitoring/baseline.py) are written to disk
(monitoring/history.py) and exported to Prometheus (monitoring/exporter.py).

Bad input never stops it: a torn or garbled line, or a record of another
model, is rejected with its file and offset (kept in rejected.jsonl), a
version without a training baseline is still windowed without drift, and
every message says which file or version it is about.
"""

import dataclasses
import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional

from description import monitoring as policy_lib
from monitoring import baseline as baseline_lib
from monitoring import drift as drift_lib
from monitoring import history as history_lib
from monitoring import tail as tail_lib
from monitoring import window as window_lib
from tensorflow_metadata.proto.v0 import schema_pb2

_LOG = logging.getLogger(__name__)
MAX_PROBLEMS_KEPT = 20


@dataclasses.dataclass
class Settings:
  log_dir: str
  state_dir: str
  model: str
  spec: Any  # description.DatasetSpec
  schema: schema_pb2.Schema
  domains: Dict[str, Any]  # feature -> serving.metrics NumericRange | CategoricalDomain
  policy: policy_lib.MonitoringPolicy
  metadata_path: Optional[str] = None


@dataclasses.dataclass
class OpenWindow:
  records: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

  @property
  def first_ts(self) -> float:
    return float(self.records[0].get('ts') or 0.0)

  @property
  def last_ts(self) -> float:
    return float(self.records[-1].get('ts') or 0.0)


class Monitor:

  def __init__(self, settings: Settings, exporter=None, clock: Callable[[], float] = time.time,
               load_baseline: Optional[Callable[[str], Any]] = None):
    self.settings = settings
    # version -> baseline_lib.Baseline, or BaselineMissing (ML Metadata by default).
    self.load_baseline = load_baseline or self._baseline_from_metadata
    self.exporter = exporter
    self.clock = clock
    self.history = history_lib.History(settings.state_dir)
    self.checkpoint = self.history.load_checkpoint()
    self.tails: Dict[str, tail_lib.VersionTail] = {}
    self.windows: Dict[str, OpenWindow] = {}
    self.baselines: Dict[str, Any] = {}
    self.references: Dict[str, Dict[str, float]] = {}
    self.features = window_lib.feature_kinds(settings.spec)
    self.schema = drift_lib.effective_schema(settings.schema, list(self.features),
                                             settings.policy.drift)
    self.ignored_models: set = set()
    self.messages: List[str] = []

  def restore_metrics(self) -> int:
    """Exports each version's last stored window: after a restart the gauges
    show the latest state at once, not only after the next window closes."""
    if self.exporter is None:
      return 0
    latest: Dict[str, Dict[str, Any]] = {}
    for window in history_lib.windows(self.settings.state_dir, self.settings.model):
      latest[window['version']] = window  # oldest first: the last one wins
    for window in latest.values():
      self.exporter.export(window, restored=True)
    return len(latest)

  # --- reading ---------------------------------------------------------------
  def _say(self, message: str) -> None:
    self.messages.append(message)
    _LOG.warning('%s', message)

  def _key(self, version: str) -> str:
    return f'{self.settings.model}/{version}'

  def _tail(self, version: str) -> tail_lib.VersionTail:
    if version not in self.tails:
      saved = self.checkpoint.get(self._key(version), {})
      self.tails[version] = tail_lib.VersionTail(
          self.settings.log_dir, self.settings.model, version,
          tail_lib.positions_from_json(saved.get('positions')))
    return self.tails[version]

  def _check_other_models(self) -> None:
    for model in tail_lib.list_models(self.settings.log_dir):
      if model != self.settings.model and model not in self.ignored_models:
        self.ignored_models.add(model)
        self._say(f'{self.settings.log_dir}/{model}: request log of model "{model}" '
                  f'ignored (this monitor watches "{self.settings.model}")')

  def poll(self, final: bool = False) -> List[Dict[str, Any]]:
    """Reads what is new; returns the windows closed by this poll."""
    self._check_other_models()
    closed: List[Dict[str, Any]] = []
    for version in tail_lib.list_versions(self.settings.log_dir, self.settings.model):
      closed += self._poll_version(version, final)
    return closed

  def _poll_version(self, version: str, final: bool) -> List[Dict[str, Any]]:
    tail = self._tail(version)
    self.windows.setdefault(version, OpenWindow())
    rejects: List[Dict[str, Any]] = []
    closed = []
    policy = self.settings.policy
    for item in tail.poll(final=final):
      if isinstance(item, tail_lib.BadLine):
        rejects.append(self._reject(item.path, item.offset, 'bad_line', item.reason, item.text))
        continue
      record = item.data
      if (record.get('model') != self.settings.model or
          str(record.get('version')) != version):
        rejects.append(self._reject(
            item.path, item.offset, 'other_model',
            f'record of model {record.get("model")!r} version {record.get("version")!r} in '
            f'the log of {self._key(version)}', None))
        continue
      if not isinstance(record.get('inputs'), dict) or not isinstance(
          record.get('ts', 0.0), (int, float)):
        rejects.append(self._reject(item.path, item.offset, 'bad_line',
                                    'record without an "inputs" object or a numeric "ts"',
                                    None))
        continue
      window = self.windows[version]
      window.records.append(record)
      if len(window.records) >= policy.window_records:
        closed.append(self._close(version, 'records'))
      elif window.last_ts - window.first_ts >= policy.window_seconds:
        closed.append(self._close(version, 'time'))
    self.history.reject(rejects)
    window = self.windows[version]
    if window.records and (final or self.clock() - window.first_ts >= policy.window_seconds):
      closed.append(self._close(version, 'final' if final else 'time'))
    if not self.windows[version].records:
      # Nothing pending: the position can move past rejected lines too.
      self._save_position(version)
    return closed

  def _reject(self, path: str, offset: int, reason: str, detail: str,
              text: Optional[str]) -> Dict[str, Any]:
    self._say(f'{path}, byte {offset}: {detail}; line skipped (kept in '
              f'{history_lib.REJECTED})')
    if self.exporter:
      self.exporter.count_rejected(reason)
    return {'file': path, 'offset': offset, 'reason': reason, 'detail': detail,
            'text': text}

  def _save_position(self, version: str, sequence: Optional[int] = None) -> None:
    key = self._key(version)
    entry = self.checkpoint.setdefault(key, {'next_sequence': 0})
    positions = tail_lib.positions_to_json(self.tails[version].positions)
    if sequence is None and entry.get('positions') == positions:
      return  # An idle poll: no write, no fsync.
    entry['positions'] = positions
    if sequence is not None:
      entry['next_sequence'] = sequence + 1
    self.history.save_checkpoint(self.checkpoint)

  # --- closing a window ------------------------------------------------------
  def _baseline_from_metadata(self, version: str) -> baseline_lib.Baseline:
    if not self.settings.metadata_path:
      raise baseline_lib.BaselineMissing('no ML Metadata store given (--metadata or '
                                         '--work-dir)')
    return baseline_lib.load(self.settings.metadata_path, version, self.settings.spec.label)

  def _baseline(self, version: str):
    if version not in self.baselines:
      try:
        self.baselines[version] = self.load_baseline(version)
      except baseline_lib.BaselineMissing as e:
        self.baselines[version] = str(e)
        self._say(f'{self._key(version)}: drift not measured: {e} (input and output '
                  f'metrics still are)')
    return self.baselines[version]

  def _reference(self, version: str, sequence: int,
                 class_share: Dict[str, float]) -> Dict[str, float]:
    """The predicted-class shares a version's windows are compared with: its first
    window's. (Training label shares are no reference: class weighting makes a
    good model predict the rare class more often than it occurs.)"""
    if version not in self.references:
      if sequence == 0:
        self.references[version] = dict(class_share)
      else:
        path = self.history.window_path(self.settings.model, version, 0)
        try:
          with open(path) as f:
            self.references[version] = json.load(f)['outputs']['class_share']
        except (OSError, ValueError, KeyError) as e:
          self._say(f'{path}: the reference window of version {version} is unreadable '
                    f'({e}); this window becomes the reference')
          self.references[version] = dict(class_share)
    return self.references[version]

  def _close(self, version: str, reason: str) -> Dict[str, Any]:
    records = self.windows[version].records
    self.windows[version] = OpenWindow()
    result = self.summarize(version, records, reason)
    self.history.write_window(result)
    self._save_position(version, result['sequence'])
    if self.exporter:
      self.exporter.export(result)
    return result

  def summarize(self, version: str, records: List[Dict[str, Any]],
                reason: str) -> Dict[str, Any]:
    spec = self.settings.spec
    outputs = window_lib.output_metrics(records, spec.classes, spec.rare_class_id)
    baseline = self._baseline(version)
    measurements, problems, drift_error = [], [], None
    if isinstance(baseline, baseline_lib.Baseline):
      try:
        measurements, problems = drift_lib.measure(records, spec, self.schema,
                                                   baseline.statistics)
      except Exception as e:  # pylint: disable=broad-except
        # TFDV failing on one window must not stop the monitor or lose the
        # window's other metrics.
        drift_error = f'drift not measured: {type(e).__name__}: {e}'
        self._say(f'{self._key(version)}: {drift_error}')
    sequence = self.checkpoint.get(self._key(version), {}).get('next_sequence', 0)
    reference = self._reference(version, sequence, outputs['class_share'])
    return {
        'model': self.settings.model, 'version': version, 'sequence': sequence,
        'records': len(records), 'first_ts': float(records[0].get('ts') or 0.0),
        'last_ts': float(records[-1].get('ts') or 0.0), 'closed_at': self.clock(),
        'closed_by': reason,
        'inputs': window_lib.input_metrics(records, self.features, self.settings.domains),
        'outputs': outputs,
        'prediction_shift': window_lib.prediction_shift(outputs['class_share'], reference),
        'baseline': baseline.uri if isinstance(baseline, baseline_lib.Baseline) else None,
        'baseline_note': (drift_error if isinstance(baseline, baseline_lib.Baseline)
                          else baseline),
        'drift': [m.to_json() for m in measurements],
        'drifted': drift_lib.drifted_features(measurements),
        'input_problems': len(problems),
        'input_problem_examples': [str(p) for p in problems[:MAX_PROBLEMS_KEPT]],
    }


def run(monitor: Monitor, interval: float, should_stop: Callable[[], bool]) -> None:
  """Polls until should_stop(); partial windows stay open (a restart re-reads them)."""
  while not should_stop():
    try:
      for result in monitor.poll():
        _LOG.info('window %s/%s #%d: %d records, drifted: %s', result['model'],
                  result['version'], result['sequence'], result['records'],
                  ', '.join(result['drifted']) or 'none')
    except OSError as e:
      # A log directory being rotated or recreated: try again at the next poll.
      _LOG.error('poll failed: %s', e)
    deadline = time.time() + interval
    while time.time() < deadline and not should_stop():
      time.sleep(min(0.2, interval))
