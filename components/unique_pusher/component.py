"""UniquePusher: TFX's Pusher that never pushes a model that already serves.

Same channels and parameters as `tfx.components.Pusher`; only the executor
differs (executor.py): a blessed model whose fingerprint equals a version
already under the push destination is recorded as not pushed, with
`duplicate_of_version` and `model_fingerprint` custom properties on the
PushedModel, so CanaryRollout does not canary a model against itself.
Subclassing with another EXECUTOR_SPEC is TFX's way to change what a standard
component does (`custom_executor_spec` is deprecated); the pipeline keeps the
node id `Pusher` with `.with_id`.

One more, optional input: `automation_policy` (components/automation_policy).
Its automation_policy.json is pushed into the version directory with the
model, so the server applies the band chosen for exactly that model.
"""

from typing import Any, Dict, Optional

from tfx import types
from tfx.components import Pusher
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.unique_pusher import executor
from metadata.artifacts import AutomationPolicy


class UniquePusherSpec(standard_component_specs.PusherSpec):
  INPUTS = dict(standard_component_specs.PusherSpec.INPUTS, **{
      executor.POLICY_KEY: ChannelParameter(type=AutomationPolicy, optional=True)})


class UniquePusher(Pusher):
  """A Pusher whose executor skips models already pushed (by fingerprint)."""

  SPEC_CLASS = UniquePusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel,
               push_destination: pusher_pb2.PushDestination,
               model_blessing: Optional[types.BaseChannel] = None,
               automation_policy: Optional[types.BaseChannel] = None,
               custom_config: Optional[Dict[str, Any]] = None):
    # Pusher.__init__ builds a PusherSpec, which has no policy input.
    base_component.BaseComponent.__init__(self, spec=UniquePusherSpec(
        model=model, model_blessing=model_blessing, push_destination=push_destination,
        custom_config=json_utils.dumps(custom_config),
        pushed_model=types.Channel(type=standard_artifacts.PushedModel),
        **({executor.POLICY_KEY: automation_policy} if automation_policy is not None
           else {})))
