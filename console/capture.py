"""Everything a command and its libraries write goes to a log file; the console
gets the command's own lines (and, with verbose, everything but known-harmless
lines).

Native code (TensorFlow's C++ logging, Beam worker processes) writes to file
descriptors 1 and 2, out of Python's reach, so those descriptors are pointed
at a pipe for the duration; a thread copies the pipe into the log file, line
by line, and echoes to the console when verbose. Python's logging and
warnings are routed into the same pipe, so the file keeps one order.
"""

import contextlib
import dataclasses
import datetime
import io
import logging
import os
import sys
import threading
import warnings
from typing import Iterator, Optional, TextIO

from absl import logging as absl_logging

from console import harmless

LOG_FORMAT = '%(levelname).1s%(asctime)s %(name)s %(filename)s:%(lineno)d] %(message)s'
# Waiting for the pipe to drain: children that outlive the run keep it open.
DRAIN_SECONDS = 5.0


@dataclasses.dataclass
class Console:
  """Where a command writes for the user, and where the full log is."""
  out: TextIO
  err: TextIO
  log_path: str
  verbose: bool

  def say(self, text: str = '') -> None:
    self.out.write(text + '\n')
    self.out.flush()

  def warn(self, text: str) -> None:
    self.err.write(text + '\n')
    self.err.flush()


def log_path(directory: str, command: str = 'run') -> str:
  """<directory>/logs/<command>-<local time>.log: one file per invocation."""
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
  return os.path.join(directory, 'logs', f'{command}-{stamp}.log')


def _fd_stream(stream: TextIO, fd: int) -> Optional[TextIO]:
  """A private console stream for a standard stream bound to `fd`, else None."""
  try:
    bound = stream.fileno() == fd
  except (AttributeError, OSError, io.UnsupportedOperation):
    bound = False
  if not bound:
    return None
  return os.fdopen(os.dup(fd), 'w', buffering=1, encoding='utf-8', errors='replace')


class _Pump(threading.Thread):
  """Copies the pipe into the log file; echoes lines to the console if verbose."""

  def __init__(self, read_fd: int, log: TextIO, echo: Optional[TextIO]):
    super().__init__(name='console-log-pump', daemon=True)
    self._read_fd, self._log, self._echo = read_fd, log, echo

  def run(self) -> None:
    pending = b''
    while True:
      chunk = os.read(self._read_fd, 1 << 16)
      if not chunk:
        break
      pending += chunk
      *lines, pending = pending.split(b'\n')
      for line in lines:
        self._write(line.decode('utf-8', errors='replace'))
    if pending:
      self._write(pending.decode('utf-8', errors='replace'))
    os.close(self._read_fd)

  def _write(self, line: str) -> None:
    self._log.write(line + '\n')
    self._log.flush()
    if self._echo is not None and not harmless.is_harmless(line):
      self._echo.write(line + '\n')
      self._echo.flush()


@contextlib.contextmanager
def _logging_into(stream: TextIO, level: int) -> Iterator[None]:
  """Python logging (absl's included) and warnings into `stream` only."""
  root = logging.getLogger()
  saved = (root.handlers[:], root.level)
  # Through absl's flag, not the 'absl' logger's level: TensorFlow resets the
  # logger to the flag's value (trackable/autotrackable.py, on every export).
  saved_absl = absl_logging.get_verbosity()
  handler = logging.StreamHandler(stream)
  handler.setFormatter(logging.Formatter(LOG_FORMAT))
  root.handlers = [handler]
  root.setLevel(level)
  absl_logging.set_verbosity(absl_logging.converter.standard_to_absl(level))
  logging.captureWarnings(True)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('default')
      yield
  finally:
    logging.captureWarnings(False)
    root.handlers = saved[0]
    root.setLevel(saved[1])
    absl_logging.set_verbosity(saved_absl)


@contextlib.contextmanager
def capture(log_path: str, verbose: bool = False,
            level: int = logging.INFO) -> Iterator[Console]:
  """Routes all output to `log_path` (appended) while the block runs."""
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
  for stream in (sys.stdout, sys.stderr):
    stream.flush()
  # The console: the caller's streams, or private copies when those are the
  # process's descriptors 1 and 2 (which are about to point at the pipe).
  private_out = _fd_stream(sys.stdout, 1)
  private_err = _fd_stream(sys.stderr, 2)
  con = Console(private_out or sys.stdout, private_err or sys.stderr,
                os.path.abspath(log_path), verbose)
  log = open(log_path, 'a', encoding='utf-8', errors='replace')
  read_fd, write_fd = os.pipe()
  saved_fds = os.dup(1), os.dup(2)
  saved_streams = sys.stdout, sys.stderr
  pump = _Pump(read_fd, log, con.err if verbose else None)
  pump.start()
  os.dup2(write_fd, 1)
  os.dup2(write_fd, 2)
  os.close(write_fd)
  piped = os.fdopen(os.dup(2), 'w', buffering=1, encoding='utf-8', errors='replace')
  sys.stdout = sys.stderr = piped
  try:
    with _logging_into(piped, level):
      yield con
  finally:
    piped.flush()
    sys.stdout, sys.stderr = saved_streams
    os.dup2(saved_fds[0], 1)
    os.dup2(saved_fds[1], 2)
    for fd in saved_fds:
      os.close(fd)
    piped.close()  # The pipe's last write end in this process: the pump sees EOF.
    pump.join(DRAIN_SECONDS)
    if not pump.is_alive():
      log.close()
    for private in (private_out, private_err):
      if private is not None:
        private.flush()
        private.close()
