"""Resolver strategy: the Evaluator's baseline, the latest blessed model no rollout refused.

"No worse than the baseline" means something only if the baseline is a model
that was good enough to serve. TFX's LatestBlessedModelStrategy takes the
latest model the Evaluator blessed, also one whose canary was then rolled
back: a broken model blessed by a lax gate and rolled back at the first
canary step became the next month's baseline, and every candidate cleared it.

Here a blessed model is skipped when the latest RolloutDecision about a push
of it (found by lineage: Model -> Pusher -> PushedModel -> CanaryRollout or
cli.rollout -> RolloutDecision -> SignOff -> RolloutDecision; metadata/walks.py
`rollout_standing`) says, by its `decision` (rollout/config.py):

  rolled_back       skipped: a guardrail breached, or the sign-off was
                    rejected or expired (both are recorded as a SignOff
                    outcome `rolled_back`, rollout/signoff_record.py)
  awaiting_signoff  skipped: paused at a canary step; not serving, and its
                    sign-off may still reject or expire it. Once approved, it
                    is `promoted` and eligible from the next run on
  promoted          eligible: it served as stable
  already_stable    eligible: it was already serving
  not_pushed        says nothing: the Pusher did not push (UniquePusher found
                    the same model already under the destination), so the
                    decision before it stands, about this model artifact (a
                    cached model blessed again) or about the same files (a
                    retrained identical model: UniquePusher's fingerprint on
                    the pushes); with none, it is eligible
  no decision       eligible: a pipeline without a rollout, where the push is
                    the deployment
  any other value   eligible: only a decision known to refuse or hold the
                    model excludes it

Among the eligible blessed models the latest (highest MLMD id) wins, as in
LatestBlessedModelStrategy; none eligible resolves to nothing, as a first
run does (consumers treat the baseline as optional). On Kubeflow the
BlessedModelLookup task gives the same answer by the same walk
(components/baseline_lookup/history.py `baseline_model`).

Use with tfx.dsl.Resolver:

  Resolver(strategy_class=ServingBaselineStrategy,
           model=Channel(type=Model),                  # history
           model_blessing=Channel(type=ModelBlessing))  # history

Outputs under the same keys: the chosen model and its blessing, or nothing.
The decisions are read from the store, not from channels: they hang off the
pushes of one model, which the store's events reach directly.
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

from metadata import walks

MODEL_KEY = 'model'
MODEL_BLESSING_KEY = 'model_blessing'
# The Evaluator's custom properties on a ModelBlessing (TFX's evaluator constants).
BLESSED = 'blessed'
CURRENT_MODEL_ID = 'current_model_id'


def _blessing_by_model(blessings: List[types.Artifact]) -> Dict[int, types.Artifact]:
  return {b.get_int_custom_property(CURRENT_MODEL_ID): b for b in blessings
          if b.get_int_custom_property(BLESSED) == 1}


class ServingBaselineStrategy(resolver.ResolverStrategy):
  """See the module docstring."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    result = {key: [] for key in input_dict}
    blessing_of = _blessing_by_model(input_dict.get(MODEL_BLESSING_KEY) or [])
    for model in sorted(input_dict.get(MODEL_KEY) or [], key=lambda m: -m.id):
      if model.id in blessing_of and walks.may_be_baseline(store, model.id):
        result[MODEL_KEY] = [model]
        result[MODEL_BLESSING_KEY] = [blessing_of[model.id]]
        break
    return result
