"""The automation policy recorded with a model: the band the server applies to the version.

  policy = automation.policy_of_version(store, '1796206583')   # or None
  policy['min_confidence'], policy['level'], policy['expected_deferral_rate'], ...

Walks PushedModel (pushed_destination ending in the version) <- Pusher <-
Model -> AutomationPolicy (components/automation_policy), so the band is the
one chosen for exactly the model that was pushed as that version. The keys
are metadata.artifacts.AutomationPolicy's custom properties, plus `uri`: MLMD's
SQLite store keeps doubles to 6 significant digits, so a server that must
draw the band exactly where the pipeline measured it reads min_confidence
from <uri>/automation_policy.json.
"""

import os
from typing import Any, Dict, Optional

from metadata import values
from metadata import walks
from metadata import type_names


def policy_of_model(store, model_id: int) -> Optional[Dict[str, Any]]:
  """The newest policy chosen for a blessed Model artifact, or None."""
  found = []
  for execution in walks.consumers(store, model_id):
    try:
      found += walks.artifacts_of(store, execution, values.OUTPUT_EVENTS,
                                  type_names.AUTOMATION_POLICY)
    except Exception:  # pylint: disable=broad-except
      return None  # the type was never registered: no policy was ever written
  chosen = [p for p in found if values.int_property(p, 'blessed') == 1]
  if not chosen:
    return None
  newest = max(chosen, key=lambda p: p.id)
  return dict(values.properties_of(newest), uri=newest.uri)


def policy_of_version(store, version: str) -> Optional[Dict[str, Any]]:
  """The policy of the model pushed as serving version `version` (its directory name)."""
  pushes = [a for a in walks._artifacts_by_type(store, 'PushedModel')  # pylint: disable=protected-access
            if values.int_property(a, 'pushed') == 1 and os.path.basename(
                str(values.property_value(a, 'pushed_destination', '')).rstrip('/')) == version]
  for push in sorted(pushes, key=lambda a: -a.id):
    for pusher in walks.producers(store, push.id):
      for model in walks.artifacts_of(store, pusher, values.INPUT_EVENTS, 'Model'):
        policy = policy_of_model(store, model.id)
        if policy is not None:
          return policy
  return None
