"""UniquePusher: TFX's Pusher that never pushes a model that already serves.

Same channels and parameters as `tfx.components.Pusher`; only the executor
differs (executor.py): a blessed model whose fingerprint equals a version
already under the push destination is recorded as not pushed, with
`duplicate_of_version` and `model_fingerprint` custom properties on the
PushedModel, so CanaryRollout does not canary a model against itself.
Subclassing with another EXECUTOR_SPEC is TFX's way to change what a standard
component does (`custom_executor_spec` is deprecated); the pipeline keeps the
node id `Pusher` with `.with_id`.
"""

from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.unique_pusher import executor


class UniquePusher(Pusher):
  """A Pusher whose executor skips models already pushed (by fingerprint)."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
