"""Durable, append-only JSON Lines request log, one file set per model version.

Layout: `<directory>/<model>/<version>/requests.jsonl` (the active file) plus,
when `max_file_bytes` is set, rotated segments `requests.000001.jsonl`, ... which
sort before the active file, so reading the files in name order is reading them
in write order.

One record per predicted instance:

  {"ts": 1732262400.123, "time": "2024-11-22T08:00:00.123Z",
   "request_id": "...", "request_key": "app-17", "model": "credit_risk",
   "version": 1732262400, "role": "stable" | "canary" | "shadow" | ...,
   "signature": "serving_default", "index": 0,
   "inputs": {...}, "outputs": {...}}

(NaN inputs are null; a shadow record also has "primary_version".)

Writes: all records of one call are encoded first and then written with one
`os.write` on an O_APPEND descriptor while holding that file's lock, so
concurrent writers never interleave or lose lines; there is no user-space
buffer (every write reaches the OS before `write()` returns). A write that
fails half-way (disk full) is cut back at once, so the next record never
continues a fragment. Durability is group commit: with `fsync_interval_ms`
a background thread fsyncs every file written since its last round, outside
the writers' locks, so requests never wait for a disk flush; `close()` (the
server's shutdown) fsyncs everything. A crash can at worst leave a torn last
line, which the reader skips (and counts).

Segments are numbered monotonically from the highest number on disk, so
deleting old segments (retention) never makes rotation reuse a number.
Directories are 0700 and files 0600: requests hold personal data.
"""

import datetime
import json
import logging
import math
import os
import re
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

_LOG = logging.getLogger(__name__)

ACTIVE_NAME = 'requests.jsonl'
_SEGMENT = re.compile(r'^requests\.(\d+)\.jsonl$')
FILE_MODE = 0o600
DIR_MODE = 0o700


def _sanitize(value: Any) -> Any:
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {str(k): _sanitize(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_sanitize(v) for v in value]
  if isinstance(value, bytes):
    return value.decode('utf-8', 'replace')
  if hasattr(value, 'tolist'):  # numpy scalars / arrays
    return _sanitize(value.tolist())
  return value


DEFAULT_FSYNC_INTERVAL_MS = 50.0

_ENCODER = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False, allow_nan=False)


def encode_record(record: Dict[str, Any]) -> bytes:
  """One JSON line (non-finite floats -> null, bytes -> text)."""
  try:
    text = _ENCODER.encode(record)
  except (TypeError, ValueError):
    text = _ENCODER.encode(_sanitize(record))
  return text.encode('utf-8') + b'\n'


def utc_iso(ts: float) -> str:
  return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
      '%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


class _LogFile:

  def __init__(self, directory: str):
    self.directory = directory
    self.lock = threading.Lock()
    self.fd: Optional[int] = None
    self.size = 0
    self.segment = 0
    self.dirty = False

  @property
  def path(self) -> str:
    return os.path.join(self.directory, ACTIVE_NAME)

  def open(self) -> None:
    if self.fd is None:
      for d in (os.path.dirname(self.directory), self.directory):  # <model>/<version>
        os.makedirs(d, mode=DIR_MODE, exist_ok=True)
      self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
      os.fchmod(self.fd, FILE_MODE)
      self.size = os.fstat(self.fd).st_size
      if self.size:
        # A crash may have left a torn last line: terminate it so the next
        # record starts on its own line (the reader skips the torn one).
        with open(self.path, 'rb') as fh:
          fh.seek(-1, os.SEEK_END)
          if fh.read(1) != b'\n':
            os.write(self.fd, b'\n')
            self.size += 1
      numbers = [int(m.group(1)) for m in map(_SEGMENT.match, os.listdir(self.directory)) if m]
      self.segment = max(numbers, default=0)

  def close(self) -> None:
    if self.fd is not None:
      os.close(self.fd)
      self.fd = None


def _append_all(f: _LogFile, data: bytes) -> None:
  """Appends `data` whole, or cuts the file back to where it was and raises."""
  view = memoryview(data)
  try:
    while view:
      view = view[os.write(f.fd, view):]
  except OSError:
    if len(view) != len(data):
      os.ftruncate(f.fd, f.size)  # no fragment for the next record to continue
    raise
  f.size += len(data)


class RequestLog:
  """Thread-safe appender of request records (one directory per model version)."""

  def __init__(self, directory: str, fsync: bool = False,
               max_file_bytes: Optional[int] = None,
               fsync_interval_ms: Optional[float] = None):
    """fsync=True alone means group commit every DEFAULT_FSYNC_INTERVAL_MS."""
    self.directory = directory
    if fsync and fsync_interval_ms is None:
      fsync_interval_ms = DEFAULT_FSYNC_INTERVAL_MS
    self.fsync_interval_ms = fsync_interval_ms
    self.max_file_bytes = max_file_bytes
    self._files: Dict[Tuple[str, str], _LogFile] = {}
    self._files_lock = threading.Lock()
    self._closed = False
    self._stop = threading.Event()
    self.fsync_rounds = 0
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    self._syncer = None
    if fsync_interval_ms:
      self._syncer = threading.Thread(target=self._sync_loop, name='request-log-fsync',
                                      daemon=True)
      self._syncer.start()

  def path_for(self, model: str, version: Any) -> str:
    return os.path.join(self.directory, model, str(version), ACTIVE_NAME)

  def _file(self, model: str, version: Any) -> _LogFile:
    key = (model, str(version))
    with self._files_lock:
      if self._closed:
        raise ValueError('request log is closed')
      f = self._files.get(key)
      if f is None:
        f = _LogFile(os.path.join(self.directory, model, str(version)))
        self._files[key] = f
      return f

  def write(self, model: str, version: Any, records: List[Dict[str, Any]]) -> int:
    """Appends records (all or none reach the file in one write); returns count."""
    if not records:
      return 0
    data = b''.join(encode_record(r) for r in records)
    f = self._file(model, version)
    with f.lock:
      f.open()
      if self.max_file_bytes and f.size > 0 and f.size + len(data) > self.max_file_bytes:
        self._rotate(f)
      _append_all(f, data)
      f.dirty = True
    return len(records)

  def _sync_loop(self) -> None:
    while not self._stop.wait(self.fsync_interval_ms / 1000.0):
      try:
        self.flush()
      except OSError as e:
        _LOG.error('request log fsync failed: %s', e)

  def _rotate(self, f: _LogFile) -> None:
    if f.dirty:
      os.fsync(f.fd)
      f.dirty = False
    f.close()
    f.segment += 1
    os.replace(f.path, os.path.join(f.directory, f'requests.{f.segment:06d}.jsonl'))
    f.open()

  def flush(self) -> None:
    """Forces everything written so far to disk (fsync of every dirty file).

    The file lock is held only to duplicate the descriptor: writers go on
    appending while the disk flushes.
    """
    with self._files_lock:
      files = list(self._files.values())
    for f in files:
      with f.lock:
        if f.fd is None or not f.dirty:
          continue
        fd = os.dup(f.fd)
        f.dirty = False
      try:
        os.fsync(fd)
      finally:
        os.close(fd)
    self.fsync_rounds += 1

  def close(self) -> None:
    """Stops the group commit, fsyncs and closes every file."""
    self._stop.set()
    if self._syncer is not None:
      self._syncer.join(timeout=10)
    with self._files_lock:
      self._closed = True
      files = list(self._files.values())
    for f in files:
      with f.lock:
        if f.fd is not None:
          os.fsync(f.fd)
        f.close()


class RequestLogReader:
  """Yields records from a request-log directory in write order per version.

  `skipped` counts undecodable lines (a torn last line after a crash).
  """

  def __init__(self, directory: str):
    self.directory = directory
    self.skipped = 0

  def models(self) -> List[str]:
    if not os.path.isdir(self.directory):
      return []
    return sorted(n for n in os.listdir(self.directory)
                  if os.path.isdir(os.path.join(self.directory, n)))

  def versions(self, model: str) -> List[str]:
    d = os.path.join(self.directory, model)
    if not os.path.isdir(d):
      return []
    names = [n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n))]
    return sorted(names, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))

  def files(self, model: str, version: Any) -> List[str]:
    d = os.path.join(self.directory, model, str(version))
    if not os.path.isdir(d):
      return []
    return [os.path.join(d, n) for n in sorted(os.listdir(d))
            if n.startswith('requests.') and n.endswith('.jsonl')]

  def records(self, model: Optional[str] = None, version: Any = None,
              role: Optional[str] = None, since: Optional[float] = None,
              until: Optional[float] = None) -> Iterator[Dict[str, Any]]:
    """Records filtered by model, version, role and [since, until) on `ts`."""
    for m in ([model] if model else self.models()):
      for v in ([str(version)] if version is not None else self.versions(m)):
        for path in self.files(m, v):
          yield from self._read_file(path, role, since, until)

  def _read_file(self, path: str, role, since, until) -> Iterator[Dict[str, Any]]:
    with open(path, 'rb') as fh:
      for line in fh:
        if not line.endswith(b'\n'):
          self.skipped += 1  # torn write at a crash
          continue
        try:
          rec = json.loads(line)
        except ValueError:
          self.skipped += 1
          continue
        if role is not None and rec.get('role') != role:
          continue
        ts = rec.get('ts', 0)
        if since is not None and ts < since:
          continue
        if until is not None and ts >= until:
          continue
        yield rec


def read_records(directory: str, **filters) -> Iterator[Dict[str, Any]]:
  """Shorthand for RequestLogReader(directory).records(**filters)."""
  return RequestLogReader(directory).records(**filters)


def count_records(directory: str, **filters) -> int:
  return sum(1 for _ in read_records(directory, **filters))
