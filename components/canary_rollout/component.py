"""CanaryRollout: after the Pusher, roll the pushed model out behind guardrails.

A thin TFX component over `rollout.engine` (which holds the step loop and is
usable without TFX) and `rollout.guardrails` (the statistics); the work is in
executor.py:

  inputs   pushed_model  PushedModel from the Pusher. Not pushed (e.g. not
                         blessed) -> decision "not_pushed", nothing else runs.
           examples      Examples from ExampleGen (optional): the held-out
                         `replay_split` (default "test") is replayed as traffic.
           model_evaluation  ModelEvaluation from the Evaluator (optional):
                         its per-slice figures, candidate vs baseline, go
                         into the audit (rollout.audit) beside the live ones.
  outputs  rollout_decision  RolloutDecision: rollout.json (decision, step,
                         reason, per-step metrics and guardrail results),
                         rollout.png and rollout.html (the steps at a glance)
                         and, for an in-process server, requests/ (its request
                         log). Custom properties in ML Metadata: decision,
                         step, step_weight, reason, mode, candidate_version,
                         stable_before, stable_after, metrics (per-step JSON),
                         audit_report (+ _sha256), regressed_slices.

Audit sign-off: at the description's `rollout.pause_at_step` the candidate is
audited per slice (audit.html/audit.json in the output); when `rollout.signoff`
asks for it, the rollout pauses there holding that weight, the decision is
"awaiting_signoff" (with signoff_deadline) and the component ends:
`python -m cli.signoff approve|reject` continues it (rollout.signoff).

Parameters: the dataset description (under `description.EXEC_PROPERTY`, like
every custom component), server_url (None: an in-process server on 127.0.0.1,
ephemeral port, over the Pusher's directory), allow_non_loopback (a server_url
that is not on loopback, on purpose), serving_model_dir (default: the
directory the model was pushed into), steps, thresholds (see
rollout.guardrails.Thresholds), replay_split, replay_path (a held-out span's
CSV file or directory instead of `examples`), max_replay_rows,
max_seconds_per_step, concurrency, mode (auto | canary | shadow),
kserve_storage_uri (with `{version}`: also write the same plan as KServe
InferenceService manifests under kserve/ in the output). The admin token of a
remote server comes from the SERVING_ADMIN_TOKEN environment variable.

A rolled-back candidate does not fail the pipeline run: the decision is the
outcome, and stable keeps serving. Only a rollout that cannot run at all
(bad parameters, unreachable server) fails the component.
"""

import json
from typing import Any, Dict, Optional, Sequence, Union

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

import description
from components.canary_rollout.executor import (EXAMPLES_KEY, MODEL_EVALUATION_KEY,
                                                PUSHED_MODEL_KEY, ROLLOUT_DECISION_KEY,
                                                Executor)
from metadata.artifacts import RolloutDecision
from rollout import guardrails
from rollout.config import DEFAULT_CONCURRENCY, DEFAULT_STEPS, RolloutConfig


class CanaryRolloutSpec(ComponentSpec):
  PARAMETERS = {
      description.EXEC_PROPERTY: ExecutionParameter(type=str),
      'server_url': ExecutionParameter(type=str, optional=True),
      'allow_non_loopback': ExecutionParameter(type=int, optional=True),
      'serving_model_dir': ExecutionParameter(type=str, optional=True),
      'steps': ExecutionParameter(type=str, optional=True),
      'thresholds': ExecutionParameter(type=str, optional=True),
      'replay_split': ExecutionParameter(type=str, optional=True),
      'replay_path': ExecutionParameter(type=str, optional=True),
      'max_replay_rows': ExecutionParameter(type=int, optional=True),
      'max_seconds_per_step': ExecutionParameter(type=float, optional=True),
      'concurrency': ExecutionParameter(type=int, optional=True),
      'mode': ExecutionParameter(type=str, optional=True),
      'kserve_storage_uri': ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {
      PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
      MODEL_EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation,
                                             optional=True),
  }
  OUTPUTS = {
      ROLLOUT_DECISION_KEY: ChannelParameter(type=RolloutDecision),
  }


def _as_spec(dataset_description: Union['description.DatasetSpec', Dict[str, Any], str]
             ) -> 'description.DatasetSpec':
  if isinstance(dataset_description, description.DatasetSpec):
    return dataset_description
  return description.from_exec_property(dataset_description)


class CanaryRollout(base_component.BaseComponent):
  """Canary (or, for a first deployment, shadow) rollout of the pushed model."""

  SPEC_CLASS = CanaryRolloutSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self,
               pushed_model: types.BaseChannel,
               dataset_description: Union['description.DatasetSpec', Dict[str, Any], str],
               examples: Optional[types.BaseChannel] = None,
               server_url: Optional[str] = None,
               allow_non_loopback: bool = False,
               serving_model_dir: Optional[str] = None,
               steps: Sequence[float] = DEFAULT_STEPS,
               thresholds: Optional[Dict[str, Any]] = None,
               replay_split: str = 'test',
               replay_path: Optional[str] = None,
               max_replay_rows: int = 2000,
               max_seconds_per_step: float = 300.0,
               concurrency: int = DEFAULT_CONCURRENCY,
               mode: str = 'auto',
               kserve_storage_uri: Optional[str] = None,
               model_evaluation: Optional[types.BaseChannel] = None):
    """`dataset_description`: a DatasetSpec (or its to_config() dict)."""
    # Fail at pipeline construction, not minutes later in the executor.
    RolloutConfig(steps=list(steps), mode=mode, max_requests_per_step=max_replay_rows,
                  max_seconds_per_step=max_seconds_per_step,
                  concurrency=concurrency).validate()
    guardrails.Thresholds.from_json(thresholds)
    if examples is None and not replay_path:
      raise ValueError('CanaryRollout needs `examples` (a held-out split) or `replay_path`')
    spec = CanaryRolloutSpec(
        pushed_model=pushed_model,
        examples=examples,
        model_evaluation=model_evaluation,
        server_url=server_url,
        allow_non_loopback=int(bool(allow_non_loopback)),
        serving_model_dir=serving_model_dir,
        steps=json.dumps([float(s) for s in steps]),
        thresholds=json.dumps(thresholds or {}),
        replay_split=replay_split,
        replay_path=replay_path,
        max_replay_rows=max_replay_rows,
        max_seconds_per_step=float(max_seconds_per_step),
        concurrency=concurrency,
        mode=mode,
        kserve_storage_uri=kserve_storage_uri,
        rollout_decision=types.Channel(type=RolloutDecision),
        **{description.EXEC_PROPERTY: description.to_exec_property(
            _as_spec(dataset_description))})
    super().__init__(spec=spec)
