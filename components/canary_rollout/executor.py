"""The work of CanaryRollout: replay held-out traffic through a canary (or a
shadow, for a first deployment) and record the decision on the output artifact.

The admin token of a remote server comes from the SERVING_ADMIN_TOKEN
environment variable, never from an exec property (those are recorded in ML
Metadata); an in-process server generates its own.
"""

import json
import os
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

import description
from components.canary_rollout import evaluation_slices
from metadata import record as mlmd_record
from rollout import replay
from rollout import report
from rollout import signoff as signoff_lib
from rollout import signoff_decision
from rollout import signoff_record
from rollout.config import (DEFAULT_CONCURRENCY, DEFAULT_STEPS, NOT_PUSHED, RolloutConfig,
                            RolloutError, RolloutResult, now_iso, thresholds_for)
from rollout.engine import run_rollout

PUSHED_MODEL_KEY = 'pushed_model'
EXAMPLES_KEY = 'examples'
MODEL_EVALUATION_KEY = 'model_evaluation'
ROLLOUT_DECISION_KEY = 'rollout_decision'
ADMIN_TOKEN_ENV = 'SERVING_ADMIN_TOKEN'


def _split_dir(examples: types.Artifact, split: str) -> Optional[str]:
  names = artifact_utils.decode_split_names(examples.split_names)
  if split not in names:
    return None
  return artifact_utils.get_split_uri([examples], split)


def _record(output: types.Artifact, result: RolloutResult,
            settled: Optional[signoff_decision.Decision] = None) -> None:
  paths = report.write_report(result, output.uri)
  properties = signoff_record.decision_properties(result, paths['html'])
  if settled is not None:
    # This executor cannot write ML Metadata: the run's end (or the next
    # cli.signoff) records the expiry it settled, from this property.
    properties[signoff_record.SETTLED_PROPERTY] = settled.record_path
  mlmd_record.set_properties(output.mlmd_artifact, properties)


def _replay_rows(input_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any],
                 spec, max_rows: int):
  """The held-out rows to replay, where they came from, and how to read them
  again (a paused rollout continues from the same rows)."""
  replay_path = exec_properties.get('replay_path')
  if replay_path:
    rows = replay.load_replay_csv(replay_path, spec, max_rows)
    return rows, replay_path, (replay_path, signoff_lib.REPLAY_CSV)
  else:
    if not input_dict.get(EXAMPLES_KEY):
      raise RolloutError('CanaryRollout needs `examples` or `replay_path`')
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    split = exec_properties.get('replay_split') or 'test'
    split_dir = _split_dir(examples, split)
    if split_dir is None and split == 'test':
      # Descriptions without a test split: eval was not trained on either
      # (early stopping only watched it), the closest thing to held out.
      split_dir = _split_dir(examples, 'eval')
      split = 'eval'
    if split_dir is None:
      raise RolloutError(
          f'examples have no split {split!r} (splits: '
          f'{artifact_utils.decode_split_names(examples.split_names)})')
    rows = replay.load_replay_examples(split_dir, spec, max_rows)
    return rows, f'{split_dir} (split {split})', (split_dir, signoff_lib.REPLAY_EXAMPLES)


class Executor(base_executor.BaseExecutor):
  """Runs rollout.engine for the pushed model and records the decision."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    output = artifact_utils.get_single_instance(output_dict[ROLLOUT_DECISION_KEY])
    pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
    spec = description.from_exec_property(exec_properties[description.EXEC_PROPERTY])

    destination = (pushed.get_string_custom_property('pushed_destination')
                   if pushed.has_custom_property('pushed_destination') else '')
    was_pushed = (pushed.has_custom_property('pushed') and
                  pushed.get_int_custom_property('pushed') == 1)
    if not was_pushed or not destination:
      result = RolloutResult(
          decision=NOT_PUSHED, model=spec.name, candidate=None,
          reason='the Pusher did not push this model (not blessed?): nothing to roll out',
          started=now_iso(), finished=now_iso())
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
      raise RolloutError(f'pushed version {version!r} is not an integer version')

    max_rows = int(exec_properties.get('max_replay_rows') or 2000)
    rows, source, (again, kind) = _replay_rows(input_dict, exec_properties, spec, max_rows)
    evaluation, evaluation_source = {}, ''
    if input_dict.get(MODEL_EVALUATION_KEY):
      evaluation_source = artifact_utils.get_single_instance(
          input_dict[MODEL_EVALUATION_KEY]).uri
      evaluation = evaluation_slices.load(evaluation_source, spec)
    plan = signoff_lib.SignoffPlan(policy=spec.rollout, out_dir=output.uri,
                                   replay_source=again, replay_kind=kind,
                                   evaluation=evaluation, evaluation_source=evaluation_source)

    steps = json.loads(exec_properties.get('steps') or 'null') or DEFAULT_STEPS
    config = RolloutConfig(
        steps=[float(s) for s in steps],
        mode=exec_properties.get('mode') or 'auto',
        thresholds=thresholds_for(spec, json.loads(exec_properties.get('thresholds') or '{}')),
        max_requests_per_step=max_rows,
        max_seconds_per_step=float(exec_properties.get('max_seconds_per_step') or 300.0),
        concurrency=int(exec_properties.get('concurrency') or DEFAULT_CONCURRENCY))
    server_url = exec_properties.get('server_url') or None
    admin_token = os.environ.get(ADMIN_TOKEN_ENV) or None
    settled = signoff_decision.clear_the_way(
        serving_root, model_name, int(version), admin_token=admin_token,
        allow_non_loopback=bool(exec_properties.get('allow_non_loopback')))
    result = run_rollout(
        model_name, int(version), rows, spec, config, server_url=server_url,
        serving_root=serving_root,
        request_log_dir=None if server_url else os.path.join(output.uri, 'requests'),
        admin_token=admin_token,
        allow_non_loopback=bool(exec_properties.get('allow_non_loopback')),
        replay_source=source, signoff=plan)
    if settled is not None:
      result.notes.append(f'an expired sign-off was settled first: {settled.summary_line()} '
                          f'({settled.record_path})')
    _record(output, result, settled)
    if exec_properties.get('kserve_storage_uri'):
      _write_kserve_plan(output, result, exec_properties['kserve_storage_uri'], config,
                         spec.rollout)
    logging.info('CanaryRollout: %s', result.summary_line())


def _write_kserve_plan(output: types.Artifact, result: RolloutResult,
                       storage_uri: str, config: RolloutConfig, policy) -> None:
  """The same plan for a cluster: KServe manifests under <output>/kserve/,
  holding at the pause step when this candidate needs a sign-off."""
  from rollout import kserve  # pylint: disable=g-import-not-at-top
  name = result.model.lower().replace('_', '-')
  pause = policy.requires_signoff(bool(result.audit.get('regressed')))
  plan = kserve.rollout_plan(name, storage_uri, result.stable_before, result.candidate,
                             [float(s) for s in config.steps],
                             pause_at_step=policy.pause_at_step if pause else None,
                             signoff_deadline_hours=policy.deadline_hours if pause else None)
  for stage in plan:
    kserve.validate(stage.manifest)
  kserve.write_plan(plan, os.path.join(output.uri, 'kserve'))
  output.set_string_custom_property('kserve_plan', os.path.join(output.uri, 'kserve'))
