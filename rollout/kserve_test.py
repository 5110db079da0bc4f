"""The KServe rollout plan, validated against the kserve SDK's own models."""

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml

from rollout import kserve

URI = 'gs://models/credit_risk/{version}'


def test_plan_has_a_manifest_per_step_promotion_and_rollback():
  plan = kserve.rollout_plan('credit-risk', URI, 1700000000, 1700000100, namespace='ml')
  assert [s.name for s in plan] == ['stable', 'canary-5', 'canary-25', 'canary-50',
                                    'canary-100', 'promote', 'rollback', 'restore']
  for stage in plan:
    obj = kserve.validate(stage.manifest)
    # The SDK object is the real thing, with the manifest's values.
    assert type(obj).__name__ == 'V1beta1InferenceService'
    assert obj.metadata.name == 'credit-risk' and obj.metadata.namespace == 'ml'
    assert obj.spec.predictor.model.model_format.name == 'tensorflow'
    assert obj.metadata.annotations['serving.kserve.io/deploymentMode'] == 'Serverless'
    pct = obj.spec.predictor.canary_traffic_percent
    uri = obj.spec.predictor.model.storage_uri
    if stage.name.startswith('canary-'):
      assert pct == int(stage.name.split('-')[1]) == stage.weight
      assert uri == 'gs://models/credit_risk/1700000100'
    elif stage.name == 'rollback':
      assert pct == 0 and uri.endswith('1700000100')
    else:
      assert pct is None  # promote/stable/restore: one revision takes everything
      assert uri.endswith('1700000000' if stage.name in ('stable', 'restore') else '1700000100')
  assert [s.weight for s in plan if s.name.startswith('canary-')] == [5, 25, 50, 100]


def test_first_deployment_plan_is_the_candidate_alone():
  plan = kserve.rollout_plan('credit-risk', URI, None, 5)
  assert [s.name for s in plan] == ['promote']
  kserve.validate(plan[0].manifest)


@pytest.mark.parametrize('mutate,fragment', [
    (lambda m: m['spec']['predictor'].update(canaryTraficPercent=10), 'unknown field'),
    (lambda m: m['spec']['predictor'].update(canaryTrafficPercent='25'), 'expected int'),
    (lambda m: m['spec']['predictor'].update(canaryTrafficPercent=True), 'expected int'),
    (lambda m: m['spec']['predictor'].update(canaryTrafficPercent=150), 'not in [0, 100]'),
    (lambda m: m['spec']['predictor']['model'].update(storageUri=['gs://x']), 'expected str'),
    (lambda m: m['spec']['predictor']['model'].update(modelFormat={'nam': 'tensorflow'}),
     'unknown field'),
    (lambda m: m['metadata'].update(name='Credit_Risk'), 'DNS-1123'),
    (lambda m: m.update(kind='Service'), 'expected apiVersion'),
    (lambda m: m['spec'].update(predictor=[]), 'expected a V1beta1PredictorSpec'),
    (lambda m: m['metadata'].update(annotations={'a': 1}), 'expected str'),
    # The SDK model's own required-field check.
    (lambda m: m['spec'].pop('predictor'), 'must not be `None`'),
])
def test_validation_rejects_what_kserve_would_not_take(mutate, fragment):
  manifest = kserve.rollout_plan('credit-risk', URI, 1, 2)[1].manifest
  kserve.validate(manifest)
  bad = copy.deepcopy(manifest)
  mutate(bad)
  with pytest.raises(kserve.ManifestError, match=fragment.replace('[', r'\[').replace(
      ']', r'\]')):
    kserve.validate(bad)


def test_builder_refuses_bad_inputs():
  with pytest.raises(kserve.ManifestError, match='DNS-1123'):
    kserve.inference_service('CreditRisk', 'gs://x')
  with pytest.raises(kserve.ManifestError, match='integer in'):
    kserve.inference_service('credit-risk', 'gs://x', canary_traffic_percent=12.5)
  with pytest.raises(kserve.ManifestError, match='placeholder'):
    kserve.rollout_plan('credit-risk', 'gs://x/fixed', 1, 2)
  with pytest.raises(kserve.ManifestError, match='increase to 100'):
    kserve.rollout_plan('credit-risk', URI, 1, 2, steps=[10, 50])
  with pytest.raises(kserve.ManifestError, match='whole percents'):
    kserve.rollout_plan('credit-risk', URI, 1, 2, steps=[2.5, 100])


def test_written_yaml_round_trips_through_the_sdk(tmp_path):
  plan = kserve.rollout_plan('credit-risk', URI, 1, 2, min_replicas=1, max_replicas=3,
                             resources={'requests': {'cpu': '500m', 'memory': '1Gi'}})
  paths = kserve.write_plan(plan, str(tmp_path))
  assert [os.path.basename(p) for p in paths][:2] == ['00-stable.yaml', '01-canary-5.yaml']
  for path, stage in zip(paths, plan):
    with open(path) as f:
      loaded = yaml.safe_load(f)
    assert loaded == stage.manifest
    obj = kserve.validate(loaded)
    assert obj.spec.predictor.min_replicas == 1
    assert obj.spec.predictor.model.resources.requests == {'cpu': '500m', 'memory': '1Gi'}
  with open(tmp_path / 'plan.json') as f:
    index = json.load(f)
  assert index['on_breach'] == ['rollback', 'restore']
  assert [s['weight'] for s in index['stages']] == [None, 5, 25, 50, 100, None, 0, None]


def test_cli(tmp_path):
  out = str(tmp_path / 'plan')
  proc = subprocess.run(
      [sys.executable, '-m', 'rollout.kserve', '--name', 'credit-risk', '--stable', '1',
       '--candidate', '2', '--storage-uri', URI, '--steps', '10,100', '--out', out,
       '--pause-at-step', '1'],
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert sorted(os.listdir(out)) == ['00-stable.yaml', '01-canary-10.yaml',
                                     '02-pause-10.yaml', '03-canary-100.yaml',
                                     '04-promote.yaml', '05-rollback.yaml', '06-restore.yaml',
                                     'plan.json']


def test_the_api_group_is_kserves_own():
  import importlib  # pylint: disable=g-import-not-at-top
  kserve.sdk_models()
  constants = importlib.import_module('kserve.constants.constants')
  manifest = kserve.rollout_plan('credit-risk', URI, 1, 2)[1].manifest
  assert manifest['apiVersion'] == constants.KSERVE_V1BETA1 == 'serving.kserve.io/v1beta1'
  assert 'serving.kserve.io/deploymentMode' in manifest['metadata']['annotations']


def test_a_signoff_pause_holds_the_step_weight_until_the_decision(tmp_path):
  plan = kserve.rollout_plan('credit-risk', URI, 1, 2, pause_at_step=2,
                             signoff_deadline_hours=24)
  names = [s.name for s in plan]
  assert names == ['stable', 'canary-5', 'canary-25', 'pause-25', 'canary-50', 'canary-100',
                   'promote', 'rollback', 'restore']
  canary, pause = plan[2].manifest, plan[3].manifest
  obj = kserve.validate(pause)
  assert obj.spec.predictor.canary_traffic_percent == 25
  # Applying the pause changes no traffic: the same spec as the step it holds.
  assert pause['spec'] == canary['spec']
  annotations = obj.metadata.annotations
  assert annotations[kserve.PAUSE_ANNOTATION] == 'awaiting-signoff'
  assert annotations[kserve.DEADLINE_ANNOTATION] == '24'
  assert 'cli.signoff approve|reject' in annotations[kserve.RESUME_ANNOTATION]
  kserve.write_plan(plan, str(tmp_path))
  with open(tmp_path / 'plan.json') as f:
    index = json.load(f)
  assert index['pause'] == {
      'stage': 'pause-25', 'file': '03-pause-25.yaml', 'hold_weight': 25.0,
      'decide_with': kserve.SIGNOFF_COMMAND, 'resume_with': '04-canary-50.yaml',
      'on_reject': ['rollback', 'restore'], 'on_deadline': ['rollback', 'restore'],
      'deadline_hours': 24.0}
  with open(tmp_path / '03-pause-25.yaml') as f:
    assert kserve.validate(yaml.safe_load(f)).spec.predictor.canary_traffic_percent == 25
  # At the last step, approval resumes with the promotion.
  last = kserve.rollout_plan('credit-risk', URI, 1, 2, steps=[50, 100], pause_at_step=2)
  assert [s.name for s in last][3:5] == ['pause-100', 'promote']
  with pytest.raises(kserve.ManifestError, match='pause_at_step 3'):
    kserve.rollout_plan('credit-risk', URI, 1, 2, steps=[50, 100], pause_at_step=3)
