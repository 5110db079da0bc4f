"""Which version of a pushed model scores a batch.

The serving root the Pusher writes is `<serving_root>/<model>/<version>/`.
Batch scoring follows what the live server answers with: the `stable` label
of the routing state when one is recorded, else the newest version no rollout
rejected. The record is the server's durable routing state beside the model
directory (`<model>.routing.json`, read with serving/routing_store.py, the
same reader the server restores from).
"""

import dataclasses
import os
from typing import List, Optional, Set, Tuple

from serving import routing_store


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


def state_file(model_dir: str) -> str:
  model_dir = os.path.normpath(model_dir)
  return routing_store.state_path(os.path.dirname(model_dir), os.path.basename(model_dir))


def _read_state(path: str) -> Optional[Tuple[Optional[int], Set[int]]]:
  """(stable version, versions rejected), None without a file."""
  try:
    state = routing_store.read(path)
  except routing_store.RoutingStateError as e:
    raise VersionError(str(e)) from e
  if state is None:
    return None
  stable = state.labels.get('stable')
  return (None if stable is None else int(stable)), set(state.rejected)


def stable_version(model_dir: str) -> ModelVersion:
  """The version live traffic gets when no canary is running."""
  available = versions(model_dir)
  if not available:
    raise VersionError(f'{model_dir}: no pushed model (no <version>/saved_model.pb); '
                       f'run the pipeline until the Pusher pushes a blessed model')
  path = state_file(model_dir)
  state = _read_state(path)
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
