"""Files that are either wholly there or not at all: the one atomic writer.

Routing state, admin tokens, monitor windows, pause records and reports are
read by another process (or after a crash) at any moment, so none of them may
ever be seen half-written or lost to a power cut after the writer said "done":
write a temporary file in the same directory, fsync it, rename it over the
target, fsync the directory (the rename itself is only durable then).
Permissions are set on the temporary file before any byte is written, so a
secret is never readable by others even for an instant. `read_json` reads
such a file back: absent (ABSENT, not None: a file may hold `null`), or its
content, or an error naming the file. Imports nothing of this project
(layer 0).
"""

import hashlib
import json
import os
import tempfile
from typing import Any, Type

OWNER_ONLY = 0o600


class _Absent:
  def __repr__(self) -> str:
    return 'ABSENT'

  def __bool__(self) -> bool:
    return False


# What read_json returns for a file that does not exist.
ABSENT = _Absent()


def write_bytes(path: str, data: bytes, mode: int = OWNER_ONLY) -> str:
  """Atomically and durably replaces `path` with `data`; returns `path`."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.')
  try:
    os.fchmod(fd, mode)
    view = memoryview(data)
    while view:  # os.write may write less than asked (a full disk, a signal).
      view = view[os.write(fd, view):]
    os.fsync(fd)
    os.close(fd)
    fd = -1
    os.replace(tmp, path)
  except BaseException:
    if fd >= 0:
      os.close(fd)
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
  dir_fd = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(dir_fd)
  finally:
    os.close(dir_fd)
  return path


def write_text(path: str, text: str, mode: int = OWNER_ONLY) -> str:
  return write_bytes(path, text.encode('utf-8'), mode)


def write_json(path: str, content: Any, mode: int = OWNER_ONLY) -> str:
  return write_bytes(path, json.dumps(content, indent=1, sort_keys=True).encode('utf-8'), mode)


def read_json(path: str, what: str, error: Type[Exception] = ValueError) -> Any:
  """The JSON content of `path`; ABSENT when there is no such file.

  A file that exists but cannot be read or parsed raises `error` with the
  path and `what` it should hold: guessing could put back a state nobody chose.
  """
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except FileNotFoundError:
    return ABSENT
  except (OSError, ValueError) as e:
    raise error(f'{path}: cannot read {what}: {e}') from e


def sha256_of(path: str) -> str:
  """The file's content hash, read in blocks so a large file costs no memory."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()
