"""Which version of a pushed model scores a batch.

The serving root the Pusher writes is `<serving_root>/<model>/<version>/`.
Batch scoring follows what the live server answers with: the `stable` label
of the routing state when one is recorded, else the newest version no rollout
rejected. Two records exist beside the model directory: the server's durable
routing state, `<model>.routing.json` (labels, rejected versions; being
introduced by serving/routing_store.py), and the in-process rollout's
`<model>.rollout.json` (rollout/rollout.py); the first found wins.
`stable_version` is the only reader, so pointing it at one store's own
reader (routing_store.read) is a change here only.
"""

import dataclasses
import json
import os
from typing import List, Optional, Set, Tuple

# Newest record first: the server's durable routing state, the rollout's file.
STATE_SUFFIXES = ('.routing.json', '.rollout.json')


class VersionError(LookupError):
  """No version can score; the message names the directory or file."""


@dataclasses.dataclass(frozen=True)
class ModelVersion:
  model_dir: str  # <serving_root>/<model>
  version: int
  how: str  # why this version, for the command's output

  @property
  def model_name(self) -> str:
    return os.path.basename(os.path.normpath(self.model_dir))

  @property
  def path(self) -> str:
    return os.path.join(self.model_dir, str(self.version))


def versions(model_dir: str) -> List[int]:
  """Integer version directories holding a SavedModel, oldest first."""
  try:
    names = os.listdir(model_dir)
  except FileNotFoundError:
    return []
  return sorted(int(n) for n in names if n.isdigit() and int(n) > 0 and
                os.path.exists(os.path.join(model_dir, n, 'saved_model.pb')))


def state_files(model_dir: str) -> List[str]:
  model_dir = os.path.normpath(model_dir)
  return [os.path.join(os.path.dirname(model_dir), os.path.basename(model_dir) + suffix)
          for suffix in STATE_SUFFIXES]


def _read_state(path: str) -> Optional[Tuple[Optional[int], Set[int]]]:
  """(stable version, versions rolled back or rejected), None without a file."""
  try:
    with open(path) as f:
      state = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as e:
    raise VersionError(f'{path}: cannot read the routing state: {e}') from e
  try:
    if 'labels' in state:  # the server's routing state
      stable = state['labels'].get('stable')
      refused = state.get('rejected') or {}
    else:  # the rollout's state file
      stable = state.get('stable')
      refused = state.get('rolled_back') or ()
    return (None if stable is None else int(stable)), {int(v) for v in refused}
  except (AttributeError, TypeError, ValueError) as e:
    raise VersionError(f'{path}: not a routing state: {e}') from e


def stable_version(model_dir: str) -> ModelVersion:
  """The version live traffic gets when no canary is running."""
  available = versions(model_dir)
  if not available:
    raise VersionError(f'{model_dir}: no pushed model (no <version>/saved_model.pb); '
                       f'run the pipeline until the Pusher pushes a blessed model')
  path, state = next(((p, s) for p in state_files(model_dir)
                      for s in [_read_state(p)] if s is not None), (None, None))
  stable, refused = state or (None, set())
  if stable is not None:
    if stable not in available:
      # Scoring with another model than the one serving would be silently wrong.
      raise VersionError(f'{path} names version {stable} as stable, but {model_dir} '
                         f'has only {available}; pass --version to choose one')
    return ModelVersion(model_dir, stable, f'stable, from {path}')
  candidates = [v for v in available if v not in refused]
  if not candidates:
    raise VersionError(f'{model_dir}: every version ({available}) was rolled back '
                       f'({path}); pass --version to score with one anyway')
  how = 'the newest version (no rollout has named a stable one)'
  if refused & set(available):
    how = f'the newest version not rolled back ({path})'
  return ModelVersion(model_dir, max(candidates), how)


def named_version(model_dir: str, version: int) -> ModelVersion:
  available = versions(model_dir)
  if version not in available:
    raise VersionError(f'{model_dir}: no version {version} (with a saved_model.pb); '
                       f'available: {available or "none"}')
  return ModelVersion(model_dir, version, 'named with --version')


def resolve(model_dir: str, version: Optional[int] = None) -> ModelVersion:
  return stable_version(model_dir) if version is None else named_version(model_dir, version)
