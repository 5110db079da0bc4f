"""CanaryRollout: after the Pusher, roll the pushed model out behind guardrails.

A thin TFX component over `rollout.rollout` (which holds the step loop and is
usable without TFX) and `rollout.guardrails` (the statistics):

  inputs   pushed_model  PushedModel from the Pusher. Not pushed (e.g. not
                         blessed) -> decision "not_pushed", nothing else runs.
           examples      Examples from ExampleGen (optional): the held-out
                         `replay_split` (default "test") is replayed as traffic.
  outputs  rollout_decision  RolloutDecision: rollout.json (decision, step,
                         reason, per-step metrics and guardrail results),
                         rollout.png and rollout.html (the steps at a glance)
                         and, for an in-process server, requests/ (its request
                         log). Custom properties in ML Metadata: decision,
                         step, step_weight, reason, mode, candidate_version,
                         stable_before, stable_after, metrics (per-step JSON).

Parameters: dataset_description (DatasetSpec.to_config()), server_url (None:
an in-process server on 127.0.0.1, ephemeral port, over the Pusher's
directory), serving_model_dir (default: the directory the model was pushed
into), steps, thresholds (see rollout.guardrails.Thresholds), replay_split,
replay_path (a held-out span's CSV file or directory instead of `examples`),
max_replay_rows, max_seconds_per_step, concurrency, mode (auto | canary |
shadow), kserve_storage_uri (with `{version}`: also write the same plan as
KServe InferenceService manifests, validated with the kserve SDK, under
kserve/ in the output). The admin token, if the server needs one, comes from the
SERVING_ADMIN_TOKEN environment variable, never from an exec property
(those are recorded in ML Metadata).

A rolled-back candidate does not fail the pipeline run: the decision is the
outcome, and stable keeps serving. Only a rollout that cannot run at all
(bad parameters, unreachable server) fails the component.
"""

import json
import os
from typing import Any, Dict, List, Optional, Sequence

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from rollout import guardrails
from rollout import rollout as rollout_lib
from metadata.artifacts import RolloutDecision

PUSHED_MODEL_KEY = 'pushed_model'
EXAMPLES_KEY = 'examples'
ROLLOUT_DECISION_KEY = 'rollout_decision'




class CanaryRolloutSpec(ComponentSpec):
  PARAMETERS = {
      'dataset_description': ExecutionParameter(type=str),
      'server_url': ExecutionParameter(type=str, optional=True),
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
  }
  OUTPUTS = {
      ROLLOUT_DECISION_KEY: ChannelParameter(type=RolloutDecision),
  }


def _split_dir(examples: types.Artifact, split: str) -> Optional[str]:
  names = artifact_utils.decode_split_names(examples.split_names)
  if split not in names:
    return None
  return artifact_utils.get_split_uri([examples], split)


def _thresholds(spec, overrides: Dict[str, Any]) -> guardrails.Thresholds:
  """Shadow mode's absolute limits default to the description's blessing gates."""
  th = dict(overrides)
  ev = spec.evaluation or {}
  if 'min_accuracy' not in th and 'min_accuracy' in ev:
    th['min_accuracy'] = float(ev['min_accuracy'])
  if 'min_rare_recall' not in th and 'min_rare_class_recall' in ev:
    th['min_rare_recall'] = float(ev['min_rare_class_recall'])
  return guardrails.Thresholds.from_json(th)


def _record(output: types.Artifact, result: rollout_lib.RolloutResult) -> None:
  paths = rollout_lib.write_report(result, output.uri)
  compact = [{
      'step': s['step'], 'weight': s['weight'], 'requests': s['requests'],
      'stable': s.get('stable'), 'canary': s.get('canary'),
      'checks': {c['name']: c['status'] for c in s['checks']},
  } for s in result.steps]
  output.set_string_custom_property('decision', result.decision)
  output.set_int_custom_property('step', int(result.step))
  output.set_float_custom_property('step_weight', float(result.step_weight or 0.0))
  output.set_string_custom_property('reason', result.reason)
  output.set_string_custom_property('mode', result.mode or '')
  output.set_string_custom_property('model_name', result.model)
  output.set_string_custom_property(
      'candidate_version', '' if result.candidate is None else str(result.candidate))
  output.set_string_custom_property(
      'stable_before', '' if result.stable_before is None else str(result.stable_before))
  output.set_string_custom_property(
      'stable_after', '' if result.stable_after is None else str(result.stable_after))
  output.set_string_custom_property('metrics', json.dumps(compact, default=str))
  output.set_string_custom_property('report', paths['html'])


class Executor(base_executor.BaseExecutor):
  """Runs rollout.rollout for the pushed model and records the decision."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    import description  # pylint: disable=g-import-not-at-top

    self._log_startup(input_dict, output_dict, exec_properties)
    output = artifact_utils.get_single_instance(output_dict[ROLLOUT_DECISION_KEY])
    pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
    spec = description.DatasetSpec.from_config(json.loads(exec_properties['dataset_description']))

    destination = (pushed.get_string_custom_property('pushed_destination')
                   if pushed.has_custom_property('pushed_destination') else '')
    was_pushed = (pushed.has_custom_property('pushed') and
                  pushed.get_int_custom_property('pushed') == 1)
    if not was_pushed or not destination:
      result = rollout_lib.RolloutResult(
          decision=rollout_lib.NOT_PUSHED, model=spec.name, candidate=None,
          reason='the Pusher did not push this model (not blessed?): nothing to roll out',
          started=rollout_lib.now_iso(), finished=rollout_lib.now_iso())
      _record(output, result)
      logging.info('CanaryRollout: %s', result.reason)
      return

    destination = destination.rstrip('/')
    model_dir = exec_properties.get('serving_model_dir') or os.path.dirname(destination)
    model_name = os.path.basename(model_dir.rstrip('/'))
    serving_root = os.path.dirname(model_dir.rstrip('/'))
    version = (pushed.get_string_custom_property('pushed_version')
               if pushed.has_custom_property('pushed_version') else '')
    version = version or os.path.basename(destination)
    if not version.isdigit():
      raise rollout_lib.RolloutError(f'pushed version {version!r} is not an integer version')

    max_rows = int(exec_properties.get('max_replay_rows') or 2000)
    replay_path = exec_properties.get('replay_path')
    if replay_path:
      rows = rollout_lib.load_replay_csv(replay_path, spec, max_rows)
      source = replay_path
    else:
      if not input_dict.get(EXAMPLES_KEY):
        raise rollout_lib.RolloutError('CanaryRollout needs `examples` or `replay_path`')
      examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
      split = exec_properties.get('replay_split') or 'test'
      split_dir = _split_dir(examples, split)
      if split_dir is None and split == 'test':
        # Descriptions without a test split: eval was not trained on either
        # (early stopping only watched it), the closest thing to held out.
        split_dir = _split_dir(examples, 'eval')
        split = 'eval'
      if split_dir is None:
        raise rollout_lib.RolloutError(
            f'examples have no split {split!r} (splits: '
            f'{artifact_utils.decode_split_names(examples.split_names)})')
      rows = rollout_lib.load_replay_examples(split_dir, spec, max_rows)
      source = f'{split_dir} (split {split})'

    steps = json.loads(exec_properties.get('steps') or 'null') or rollout_lib.DEFAULT_STEPS
    config = rollout_lib.RolloutConfig(
        steps=[float(s) for s in steps],
        mode=exec_properties.get('mode') or 'auto',
        thresholds=_thresholds(spec, json.loads(exec_properties.get('thresholds') or '{}')),
        max_requests_per_step=max_rows,
        max_seconds_per_step=float(exec_properties.get('max_seconds_per_step') or 300.0),
        concurrency=int(exec_properties.get('concurrency') or 4))
    server_url = exec_properties.get('server_url') or None
    result = rollout_lib.run_rollout(
        model_name, int(version), rows, spec, config, server_url=server_url,
        serving_root=serving_root,
        request_log_dir=None if server_url else os.path.join(output.uri, 'requests'),
        admin_token=os.environ.get('SERVING_ADMIN_TOKEN'), replay_source=source)
    _record(output, result)
    if exec_properties.get('kserve_storage_uri'):
      _write_kserve_plan(output, result, exec_properties['kserve_storage_uri'], config)
    logging.info('CanaryRollout: %s', result.summary_line())


def _write_kserve_plan(output: types.Artifact, result: rollout_lib.RolloutResult,
                       storage_uri: str, config: rollout_lib.RolloutConfig) -> None:
  """The same plan for a cluster: KServe manifests under <output>/kserve/."""
  from rollout import kserve  # pylint: disable=g-import-not-at-top
  name = result.model.lower().replace('_', '-')
  plan = kserve.rollout_plan(name, storage_uri, result.stable_before, result.candidate,
                             [float(s) for s in config.steps])
  for stage in plan:
    kserve.validate(stage.manifest)
  kserve.write_plan(plan, os.path.join(output.uri, 'kserve'))
  output.set_string_custom_property('kserve_plan', os.path.join(output.uri, 'kserve'))


class CanaryRollout(base_component.BaseComponent):
  """Canary (or, for a first deployment, shadow) rollout of the pushed model."""

  SPEC_CLASS = CanaryRolloutSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self,
               pushed_model: types.BaseChannel,
               dataset_description: Dict[str, Any],
               examples: Optional[types.BaseChannel] = None,
               server_url: Optional[str] = None,
               serving_model_dir: Optional[str] = None,
               steps: Sequence[float] = rollout_lib.DEFAULT_STEPS,
               thresholds: Optional[Dict[str, Any]] = None,
               replay_split: str = 'test',
               replay_path: Optional[str] = None,
               max_replay_rows: int = 2000,
               max_seconds_per_step: float = 300.0,
               concurrency: int = 4,
               mode: str = 'auto',
               kserve_storage_uri: Optional[str] = None):
    # Fail at pipeline construction, not minutes later in the executor.
    rollout_lib.RolloutConfig(steps=list(steps), mode=mode,
                              max_requests_per_step=max_replay_rows,
                              max_seconds_per_step=max_seconds_per_step,
                              concurrency=concurrency).validate()
    guardrails.Thresholds.from_json(thresholds)
    if examples is None and not replay_path:
      raise ValueError('CanaryRollout needs `examples` (a held-out split) or `replay_path`')
    spec = CanaryRolloutSpec(
        pushed_model=pushed_model,
        examples=examples,
        dataset_description=json_utils.dumps(dataset_description),
        server_url=server_url,
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
        rollout_decision=types.Channel(type=RolloutDecision))
    super().__init__(spec=spec)
