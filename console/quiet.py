"""Known-harmless stderr lines kept off the console of a short command.

The report commands (cli.hlp_report, cli.skew) import TensorFlow for a few
artifact types and protos; the import alone writes a dozen lines of GPU
probing to descriptor 2, from C++, out of Python's reach. `hide_harmless_stderr()`,
called before those imports, points descriptor 2 at a pipe whose reader drops
the lines console.harmless names and passes every other line on, in order: a
real error, a traceback or a warning still reaches the console. At exit the
pipe is drained before the process ends, so the last lines are never lost.
"""

import atexit
import os
import sys
import threading
import warnings

from console import harmless

DRAIN_SECONDS = 5.0
_installed = []


def _copy(read_fd: int, real_fd: int) -> None:
  pending = b''
  while True:
    chunk = os.read(read_fd, 1 << 16)
    if not chunk:
      break
    pending += chunk
    *lines, pending = pending.split(b'\n')
    for line in lines:
      if not harmless.is_harmless(line.decode('utf-8', errors='replace')):
        os.write(real_fd, line + b'\n')
  if pending:
    os.write(real_fd, pending)
  os.close(read_fd)


def _restore(real_fd: int, pump: threading.Thread) -> None:
  sys.stderr.flush()
  os.dup2(real_fd, 2)  # closes the pipe's write end held by descriptor 2
  pump.join(DRAIN_SECONDS)


def hide_harmless_stderr() -> None:
  """For the rest of the process (once; later calls do nothing)."""
  if _installed:
    return
  # google.api_core's notice about Python 3.10 (also silenced in pytest.ini).
  warnings.filterwarnings('ignore', message='You are using a non-supported Python version',
                          category=FutureWarning)
  sys.stderr.flush()
  real_fd = os.dup(2)
  read_fd, write_fd = os.pipe()
  pump = threading.Thread(target=_copy, args=(read_fd, real_fd), name='stderr-filter',
                          daemon=True)
  pump.start()
  os.dup2(write_fd, 2)
  os.close(write_fd)
  _installed.append(pump)
  atexit.register(_restore, real_fd, pump)
