"""Follows the model server's request log as it grows, across rotation and restarts.

Which files exist, and in which order they were written, comes from
`serving.request_log.RequestLogReader` (its directory layout and segment
naming are the server's business); this module only remembers how far each
file has been read. A file is known by its inode, not its name: rotation
renames the active file to a numbered segment and the reader carries on at
the same offset; a new active file starts at 0. A position also holds a
fingerprint of the file's first bytes, so an inode the file system reuses for
a new file is read from the start.

Lines are JSON Lines records as the server writes them. A line without its
newline at the end of the active file is a write in progress: it is left for
the next poll. A line that does not decode (torn by a crash, garbled) is
reported with its file and byte offset and handed to the caller as a
`BadLine`, never silently dropped.
"""

import dataclasses
import hashlib
import json
import os
from typing import Dict, Iterator, List, Optional, Tuple, Union

from serving import request_log

FINGERPRINT_BYTES = 64
CHUNK_BYTES = 4 << 20


@dataclasses.dataclass
class FilePosition:
  offset: int
  fingerprint: str
  path: str  # where it was last seen, for messages only

  def to_json(self):
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class BadLine:
  path: str
  offset: int
  reason: str
  text: str


@dataclasses.dataclass(frozen=True)
class Record:
  path: str
  offset: int
  data: dict


# Positions of one model version: inode (as text, for JSON) -> position.
Positions = Dict[str, FilePosition]


def _fingerprint(path: str, length: int) -> str:
  with open(path, 'rb') as fh:
    return hashlib.sha1(fh.read(min(length, FINGERPRINT_BYTES))).hexdigest()


def positions_from_json(raw: dict) -> Positions:
  return {inode: FilePosition(**value) for inode, value in (raw or {}).items()}


def positions_to_json(positions: Positions) -> dict:
  return {inode: p.to_json() for inode, p in positions.items()}


class VersionTail:
  """Reads one model version's log files from remembered positions."""

  def __init__(self, directory: str, model: str, version: str,
               positions: Optional[Positions] = None):
    self.reader = request_log.RequestLogReader(directory)
    self.model = model
    self.version = version
    self.positions: Positions = dict(positions or {})

  def _start(self, path: str, inode: str, size: int) -> int:
    known = self.positions.get(inode)
    if known is None or known.offset > size:
      return 0
    if known.offset and _fingerprint(path, known.offset) != known.fingerprint:
      return 0  # A reused inode: another file now.
    return known.offset

  def poll(self, final: bool = False) -> Iterator[Union[Record, BadLine]]:
    """Everything new since the last poll, in write order.

    final=True treats an unterminated last line as torn (no writer will end it).
    """
    files = self.reader.files(self.model, self.version)
    seen = set()
    for index, path in enumerate(files):
      try:
        stat = os.stat(path)
      except FileNotFoundError:
        continue  # Rotated or removed between listing and reading: next poll.
      inode = str(stat.st_ino)
      seen.add(inode)
      start = self._start(path, inode, stat.st_size)
      active = index == len(files) - 1
      yield from self._read(path, inode, start, stat.st_size,
                            torn_tail=final or not active)
    # Files removed by retention no longer need a position.
    for inode in [i for i in self.positions if i not in seen]:
      del self.positions[inode]

  def _read(self, path: str, inode: str, start: int, size: int,
            torn_tail: bool) -> Iterator[Union[Record, BadLine]]:
    with open(path, 'rb') as fh:
      head = fh.read(FINGERPRINT_BYTES)

      def remember(offset: int) -> None:
        # The position is current after every line: a window closing mid-file
        # checkpoints exactly the records it holds.
        self.positions[inode] = FilePosition(
            offset, hashlib.sha1(head[:offset]).hexdigest() if offset else '', path)

      offset = start
      remember(offset)
      fh.seek(start)
      pending = b''
      while offset + len(pending) < size:
        # In chunks: a first pass over a large log must not hold it all in memory.
        chunk = fh.read(min(CHUNK_BYTES, size - offset - len(pending)))
        if not chunk:
          break
        lines = (pending + chunk).split(b'\n')
        pending = lines.pop()  # b'' when the data ends with a newline
        for line in lines:
          item = _decode(path, offset, line)
          offset += len(line) + 1
          remember(offset)
          if item is not None:
            yield item
    if pending and torn_tail:
      bad = BadLine(path, offset, 'unterminated line (torn write)',
                    pending[:200].decode('utf-8', 'replace'))
      remember(offset + len(pending))
      yield bad


def _decode(path: str, offset: int, line: bytes) -> Optional[Union[Record, BadLine]]:
  if not line.strip():
    return None
  try:
    data = json.loads(line)
  except ValueError as e:
    return BadLine(path, offset, f'not JSON ({e})', line[:200].decode('utf-8', 'replace'))
  if not isinstance(data, dict):
    return BadLine(path, offset, 'not a JSON object', line[:200].decode('utf-8', 'replace'))
  return Record(path, offset, data)


def list_versions(directory: str, model: str) -> List[str]:
  return request_log.RequestLogReader(directory).versions(model)


def list_models(directory: str) -> List[str]:
  return request_log.RequestLogReader(directory).models()


def split_key(key: str) -> Tuple[str, str]:
  model, _, version = key.partition('/')
  return model, version
