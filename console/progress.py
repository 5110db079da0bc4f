"""One console line per TFX component as it starts and as it finishes.

TFX's LocalDagRunner logs "Component %s is running." and "... is finished."
around each node, and its Launcher logs whether the node executed, came from
the cache, was skipped or failed (tfx/orchestration/local/local_dag_runner.py,
tfx/orchestration/portable/launcher.py). A logging handler reads those
records, so nothing of TFX is patched. A ticker thread adds a line every
`tick_seconds` while one component runs long. Python log records at ERROR
(but not the known-harmless ones) are shown with the running component's name.
"""

import logging
import threading
import time
import traceback
from typing import Dict, Optional

from console import harmless
from console.capture import Console

# The TFX log messages (format strings) that mark a node's life.
RUNNING = 'Component %s is running.'
FINISHED = 'Component %s is finished.'
SKIPPED_NODE = 'Skipping component %s.'
STATUS = {
    'A cached execution %d is used.': 'CACHED',
    'Going to run a new execution %d': 'RUNNING',
    'Skipping execution for %s': 'SKIPPED',
    'Execution %d failed.': 'FAILED',
}
NAME_WIDTH = 30


class ComponentProgress(logging.Handler):
  """Prints component start/finish lines on `con.out`; a context manager."""

  def __init__(self, con: Console, total: Optional[int] = None,
               tick_seconds: float = 30.0):
    super().__init__(level=logging.INFO)
    self.con, self.total, self.tick_seconds = con, total, tick_seconds
    self.current: Optional[str] = None
    self.failed: Optional[str] = None
    self.finished: Dict[str, str] = {}
    self._status = 'COMPLETE'
    self._started = 0.0
    self._begun = 0
    self._lock = threading.Lock()
    self._stop = threading.Event()
    self._ticker = threading.Thread(target=self._tick, name='console-progress',
                                    daemon=True)

  # --- the context --------------------------------------------------------
  def __enter__(self) -> 'ComponentProgress':
    logging.getLogger().addHandler(self)
    self._ticker.start()
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    self._stop.set()
    logging.getLogger().removeHandler(self)
    if exc is not None and self.current is not None:
      # The component that was running when the run raised: it failed.
      self.failed = self.current
      self._end('FAILED')

  # --- the records ----------------------------------------------------------
  def emit(self, record: logging.LogRecord) -> None:
    try:
      self._handle(record)
    except Exception:  # pylint: disable=broad-except
      self.handleError(record)

  def _handle(self, record: logging.LogRecord) -> None:
    message = record.msg if isinstance(record.msg, str) else ''
    if message == RUNNING:
      self._begin(str(record.args[0]))
    elif message == FINISHED:
      self._end(self._status)
    elif message == SKIPPED_NODE:
      self._begun += 1
      self._line(str(record.args[0]), 'SKIPPED (not in this run)')
    elif message in STATUS and self.current is not None:
      self._status = STATUS[message]
    elif record.levelno >= logging.ERROR and not self.con.verbose:
      self._show_error(record)

  def _show_error(self, record: logging.LogRecord) -> None:
    text = record.getMessage()
    if harmless.is_harmless(text):
      return
    if record.exc_info:
      text += '\n' + ''.join(traceback.format_exception(*record.exc_info)).rstrip()
    where = f' in {self.current}' if self.current else ''
    self.con.warn(f'ERROR{where} ({record.name}): {text}')

  # --- the lines -------------------------------------------------------------
  def _begin(self, node: str) -> None:
    with self._lock:
      self.current, self._status, self._started = node, 'COMPLETE', time.time()
      self._begun += 1
    self._line(node, 'started')

  def _end(self, status: str) -> None:
    with self._lock:
      node, self.current = self.current, None
    if node is None:
      return
    if status == 'RUNNING':
      status = 'COMPLETE'
    self.finished[node] = status
    self._line(node, f'{status:<9} {time.time() - self._started:7.1f} s')

  def _line(self, node: str, text: str) -> None:
    position = f'[{self._begun:>2}/{self.total}] ' if self.total else ''
    self.con.say(f'  {position}{node:<{NAME_WIDTH}} {text}')

  def _tick(self) -> None:
    while not self._stop.wait(self.tick_seconds):
      with self._lock:
        node, started = self.current, self._started
      if node is not None and time.time() - started >= self.tick_seconds:
        self._line(node, f'running   {time.time() - started:7.0f} s ...')
