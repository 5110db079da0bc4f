"""The monitor's state on disk: every window's result, the read checkpoint, rejects.

  <state dir>/windows/<model>/<version>/<sequence>.json   one closed window each
  <state dir>/checkpoint.json    per model version: file positions as of its
                                 last closed window, and the next sequence number
  <state dir>/rejected.jsonl     lines the monitor could not use, with file and
                                 offset (torn or garbled lines, other models' records)

A window's result is written before the checkpoint that moves past its
records, both atomically (temporary file, fsync, rename): a crash between the
two re-reads that window's records and rewrites the same file, so a restart
loses nothing and counts nothing twice.
"""

import json
import os
from typing import Any, Dict, Iterator, List, Optional

import durable

WINDOWS = 'windows'
CHECKPOINT = 'checkpoint.json'
REJECTED = 'rejected.jsonl'


def _atomic_write(path: str, data: Any) -> None:
  durable.write_json(path, data)


class History:

  def __init__(self, state_dir: str):
    self.state_dir = state_dir
    os.makedirs(state_dir, exist_ok=True)

  @property
  def checkpoint_path(self) -> str:
    return os.path.join(self.state_dir, CHECKPOINT)

  def load_checkpoint(self) -> Dict[str, Any]:
    """{"<model>/<version>": {"positions": {...}, "next_sequence": n}}."""
    try:
      with open(self.checkpoint_path) as f:
        return json.load(f)
    except FileNotFoundError:
      return {}
    except ValueError as e:
      raise ValueError(f'{self.checkpoint_path}: not a readable checkpoint ({e}); move it '
                       f'away to re-read the whole log') from e

  def save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
    _atomic_write(self.checkpoint_path, checkpoint)

  def window_path(self, model: str, version: str, sequence: int) -> str:
    return os.path.join(self.state_dir, WINDOWS, model, str(version), f'{sequence:08d}.json')

  def write_window(self, result: Dict[str, Any]) -> str:
    path = self.window_path(result['model'], result['version'], result['sequence'])
    _atomic_write(path, result)
    return path

  def reject(self, items: List[Dict[str, Any]]) -> None:
    if not items:
      return
    with open(os.path.join(self.state_dir, REJECTED), 'a') as f:
      for item in items:
        f.write(json.dumps(item, sort_keys=True) + '\n')
      f.flush()
      os.fsync(f.fileno())

  def rejected(self) -> List[Dict[str, Any]]:
    path = os.path.join(self.state_dir, REJECTED)
    if not os.path.exists(path):
      return []
    with open(path) as f:
      return [json.loads(line) for line in f if line.strip()]


def windows(state_dir: str, model: Optional[str] = None) -> Iterator[Dict[str, Any]]:
  """Every stored window, oldest first within each version, versions in order."""
  root = os.path.join(state_dir, WINDOWS)
  if not os.path.isdir(root):
    return
  for m in sorted(os.listdir(root)):
    if model and m != model:
      continue
    versions = sorted(os.listdir(os.path.join(root, m)),
                      key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))
    for v in versions:
      directory = os.path.join(root, m, v)
      for name in sorted(n for n in os.listdir(directory) if n.endswith('.json')):
        with open(os.path.join(directory, name)) as f:
          yield json.load(f)
