"""The durable, authoritative routing state of one served model.

One small JSON file per model, `<state_dir>/<model>.routing.json`: labels,
canary weight and its lease, shadow version, rejected versions (with the
reason), the automation level (absent in older files: `full`). The server
writes it after every routing change and restores it at start, so a decision (a promotion, a rollback) survives a restart or a
`kill -9`; the in-process and remote rollout paths both go through a server,
so they share it.

Writes are atomic and durable: a temporary file in the same directory is
written and fsynced, renamed over the old file, and the directory is fsynced
so the rename itself survives a power cut. A reader sees the old or the new
state, never a mix. Files are readable by their owner only. A file that
cannot be read stops the server's start (RoutingStateError names it): guessing
could put a rejected version back into service.
"""

import dataclasses
import os
from typing import Any, Dict, Mapping, Optional

import durable
from description import automation as automation_section

SUFFIX = '.routing.json'
FORMAT_VERSION = 1


class RoutingStateError(ValueError):
  """The state file exists but cannot be used (corrupt or foreign)."""


@dataclasses.dataclass(frozen=True)
class SavedRouting:
  labels: Mapping[str, int]
  canary_weight: float = 0.0
  canary_lease_until: Optional[float] = None  # wall-clock expiry; None = no lease
  shadow_version: Optional[int] = None
  rejected: Mapping[int, str] = dataclasses.field(default_factory=dict)  # version -> why
  generation: int = 0
  updated_at: float = 0.0
  reason: str = ''
  automation_level: str = 'full'

  def to_json(self) -> Dict[str, Any]:
    return {
        'format': FORMAT_VERSION,
        'labels': {k: int(v) for k, v in sorted(self.labels.items())},
        'canary_weight': float(self.canary_weight),
        'canary_lease_until': self.canary_lease_until,
        'shadow_version': self.shadow_version,
        'rejected': {str(k): v for k, v in sorted(self.rejected.items())},
        'generation': int(self.generation),
        'updated_at': float(self.updated_at),
        'reason': self.reason,
        'automation_level': self.automation_level,
    }

  @classmethod
  def from_json(cls, data: Any, where: str) -> 'SavedRouting':
    try:
      if not isinstance(data, dict) or data.get('format') != FORMAT_VERSION:
        raise ValueError(f'expected an object with "format": {FORMAT_VERSION}')
      lease = data.get('canary_lease_until')
      shadow = data.get('shadow_version')
      level = data.get('automation_level', 'full')
      if level not in automation_section.LEVELS:
        raise ValueError(f'"automation_level" must be one of {automation_section.LEVELS}, '
                         f'got {str(level)[:40]!r}')
      return cls(
          labels={str(k): int(v) for k, v in data.get('labels', {}).items()},
          canary_weight=float(data.get('canary_weight', 0.0)),
          canary_lease_until=None if lease is None else float(lease),
          shadow_version=None if shadow is None else int(shadow),
          rejected={int(k): str(v) for k, v in data.get('rejected', {}).items()},
          generation=int(data.get('generation', 0)),
          updated_at=float(data.get('updated_at', 0.0)),
          reason=str(data.get('reason', '')), automation_level=level)
    except (TypeError, ValueError, AttributeError) as e:
      raise RoutingStateError(f'{where}: not a routing state file: {e}') from e


def state_path(state_dir: str, model: str) -> str:
  return os.path.join(state_dir, model + SUFFIX)


def read(path: str) -> Optional[SavedRouting]:
  """The saved state, or None if there is none yet."""
  data = durable.read_json(path, 'the routing state', RoutingStateError)
  return None if data is durable.ABSENT else SavedRouting.from_json(data, path)


def write(path: str, state: SavedRouting) -> None:
  """Atomically and durably replaces the state file (see the module docstring)."""
  write_json(path, state.to_json())


def write_json(path: str, content: Mapping[str, Any]) -> None:
  """Atomically and durably replaces `path` with `content` as JSON, owner-only."""
  durable.write_json(path, content)
