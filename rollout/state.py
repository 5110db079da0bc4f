"""Which version is stable, read from the server's durable routing state.

The server persists its routing (`serving.routing_store`) and restores it at
start; a rollout reads `stable` from the running server. Only for an
in-process server over a serving directory that has never been routed (no
state file yet: versions pushed before routing was persisted) is stable
inferred here, as the newest other version that no rollout rejected.
"""

import os
from typing import List, Optional, Tuple

from rollout.client import AdminError, labels_of
from serving import routing_store


def version_dirs(base: str) -> List[int]:
  try:
    names = os.listdir(base)
  except FileNotFoundError:
    return []
  return sorted(int(n) for n in names
                if n.isascii() and n.isdigit() and int(n) > 0 and
                os.path.isdir(os.path.join(base, n)))


def stable_from_disk(serving_root: str, model: str, candidate: int,
                     state_dir: Optional[str] = None) -> Tuple[Optional[int], str]:
  """The stable version an in-process server should start from, and how it was found."""
  path = routing_store.state_path(state_dir or serving_root, model)
  saved = routing_store.read(path)
  versions = version_dirs(os.path.join(serving_root, model))
  stable = saved.labels.get('stable') if saved else None
  rejected = set(saved.rejected) if saved else set()
  if stable is not None and stable == candidate:
    return stable, 'the candidate is already stable'
  if stable is not None and stable in versions:
    return stable, f'stable {stable} from {os.path.basename(path)}'
  older = [v for v in versions if v != candidate and v not in rejected]
  if older:
    return max(older), f'stable {max(older)}: the newest other version (no routing state)'
  return None, 'no other version: first deployment'


def stable_for_in_process_server(client, serving_root: str, model: str,
                                 candidate: int) -> Tuple[Optional[int], str]:
  """The server restored the saved routing; without a saved `stable`, the
  newest other version nobody rejected is made stable (versions pushed
  before routing was persisted)."""
  labels = labels_of(client.routing())
  if labels.get('stable') is not None:
    return labels['stable'], f'stable {labels["stable"]} from the saved routing state'
  stable, how = stable_from_disk(serving_root, model, candidate)
  if stable is not None and stable != candidate:
    try:
      client.load(stable)
      client.set_labels({'stable': stable})
    except AdminError as e:
      return None, (f'stable {stable} failed to load ({e.message}); treating the '
                    f'candidate as the first deployment')
  return stable, how
