"""The rollout plan as KServe InferenceService manifests (for a cluster).

KServe's canary rollout (serverless mode) works on one InferenceService: the
predictor's `storageUri` names the new model and `canaryTrafficPercent: N`
sends N% of the traffic to that latest revision, the rest to the last revision
that took all the traffic (stable). The plan has one manifest per stage:

  stable          the current model, no canary field (what runs before)
  canary-<N>      candidate at N%, one per rollout step (5, 25, 50, 100)
  promote         candidate, no canary field: the latest revision takes it all
  pause-<N>        (with a sign-off: after canary-<N> of the description's
                  rollout.pause_at_step) the same spec, so applying it
                  changes no traffic: the candidate holds N% while the
                  reviewers decide; its annotations say so and how to go on
  rollback        candidate spec with canaryTrafficPercent 0: instantly all
                  traffic back to the previous (stable) revision
  restore         the stable spec again, so the next reconcile cannot revive
                  the rejected model

`kubectl apply -f` them in order, running the guardrails of `rollout.engine`
between the steps; on a breach apply rollback then restore. A pause stage is
where applying stops, as an Argo Rollouts `pause: {}` step stops a rollout:
the audit is reviewed and `python -m cli.signoff approve|reject --reviewer
NAME --reason TEXT` decides (recorded in ML Metadata). Approved: apply the
stage plan.json names in `pause.resume_with` and the rest in order; rejected,
or no decision before the deadline: apply rollback then restore
(`pause.on_reject`). plan.json's `pause` holds all of it for a CD tool.

TF Serving (KServe's `tensorflow` runtime) loads the highest numbered version
under `storageUri`, so each version is published under its own prefix, e.g.
`gs://models/credit_risk/1732262400/1732262400/saved_model.pb` with the
template `gs://models/credit_risk/{version}`.

`validate()` checks a manifest against the `kserve` SDK's generated models
(kserve==0.21.0, installed with --no-deps: only its models are used, which
need `six`, `urllib3` and `kubernetes`, not its server's FastAPI/gRPC stack):
unknown fields, wrong types and the models' own required-field and enum
checks are errors, and the SDK's serialization must give the manifest back.

CLI: python -m rollout.kserve --name credit-risk --stable 1 --candidate 2 \\
       --storage-uri 'gs://models/credit_risk/{version}' --out DIR
"""

import argparse
import dataclasses
import importlib
import importlib.util
import os
import re
import sys
import types
from typing import Any, Dict, List, Mapping, Optional, Sequence

import durable

# KServe's API group is serving.kserve.io (kserve.constants.KSERVE_V1BETA1).
API_VERSION = 'serving.kserve.io/v1beta1'
KIND = 'InferenceService'
SDK_PIN = 'kserve==0.21.0'
_DNS1123 = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
ANNOTATION_PREFIX = 'rollout.tfx-e2e/'


class ManifestError(ValueError):
  """A manifest the KServe API would reject (or silently change)."""


@dataclasses.dataclass(frozen=True)
class Stage:
  name: str  # stable | canary-<N> | pause-<N> | promote | rollback | restore
  manifest: Dict[str, Any]
  weight: Optional[float]  # canary percent, None when there is no canary


def inference_service(name: str, storage_uri: str, *, namespace: str = 'default',
                      canary_traffic_percent: Optional[int] = None,
                      model_format: str = 'tensorflow',
                      runtime_version: Optional[str] = None,
                      min_replicas: Optional[int] = None,
                      max_replicas: Optional[int] = None,
                      resources: Optional[Mapping[str, Mapping[str, str]]] = None,
                      annotations: Optional[Mapping[str, str]] = None,
                      labels: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
  """One InferenceService manifest (a plain dict, as `kubectl apply` takes)."""
  if not _DNS1123.match(name) or len(name) > 63:
    raise ManifestError(f'InferenceService name {name!r} must be a DNS-1123 label '
                        f'(lowercase letters, digits and -, at most 63)')
  model: Dict[str, Any] = {'modelFormat': {'name': model_format}, 'storageUri': storage_uri}
  if runtime_version:
    model['runtimeVersion'] = runtime_version
  if resources:
    model['resources'] = {k: dict(v) for k, v in resources.items()}
  predictor: Dict[str, Any] = {'model': model}
  if min_replicas is not None:
    predictor['minReplicas'] = int(min_replicas)
  if max_replicas is not None:
    predictor['maxReplicas'] = int(max_replicas)
  if canary_traffic_percent is not None:
    pct = canary_traffic_percent
    if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
      raise ManifestError(f'canaryTrafficPercent must be an integer in [0, 100], got {pct!r}')
    predictor['canaryTrafficPercent'] = pct
  # Canary traffic splitting needs Knative revisions: say so rather than
  # depend on the cluster's default deployment mode.
  ann = {'serving.kserve.io/deploymentMode': 'Serverless'}
  ann.update(annotations or {})
  metadata: Dict[str, Any] = {'name': name, 'namespace': namespace, 'annotations': ann}
  if labels:
    metadata['labels'] = dict(labels)
  return {'apiVersion': API_VERSION, 'kind': KIND, 'metadata': metadata,
          'spec': {'predictor': predictor}}


PAUSE_ANNOTATION = ANNOTATION_PREFIX + 'pause'
AWAITING_SIGNOFF = 'awaiting-signoff'
RESUME_ANNOTATION = ANNOTATION_PREFIX + 'resume'
DEADLINE_ANNOTATION = ANNOTATION_PREFIX + 'signoff-deadline-hours'
SIGNOFF_COMMAND = 'python -m cli.signoff approve|reject --reviewer NAME --reason TEXT'


def rollout_plan(name: str, storage_uri: str, stable_version: Optional[int],
                 candidate_version: int, steps: Sequence[float] = (5, 25, 50, 100), *,
                 namespace: str = 'default', pause_at_step: Optional[int] = None,
                 signoff_deadline_hours: Optional[float] = None, **kwargs) -> List[Stage]:
  """The stages of a canary rollout; `storage_uri` may contain `{version}`.

  Without a stable version (first deployment) there is nothing to split
  traffic with: the plan is the candidate alone (promote) and, as its
  rollback, deleting the InferenceService. `pause_at_step` (1-based, the
  description's rollout.pause_at_step when it asks for a sign-off) adds a
  pause-<N> stage holding that step's weight until the decision.
  """
  steps = [float(s) for s in steps]
  if not steps or steps != sorted(set(steps)) or steps[-1] != 100 or steps[0] <= 0:
    raise ManifestError(f'steps must increase to 100, got {steps}')
  if any(s != int(s) for s in steps):
    raise ManifestError(f'KServe takes whole percents, got {steps}')
  if pause_at_step is not None and not 1 <= pause_at_step <= len(steps):
    raise ManifestError(f'pause_at_step {pause_at_step} is not one of the {len(steps)} '
                        f'steps {steps}')

  def uri(version: int) -> str:
    return storage_uri.format(version=version) if '{version}' in storage_uri else storage_uri

  if '{version}' not in storage_uri and stable_version is not None:
    raise ManifestError('storage_uri needs a {version} placeholder: stable and candidate '
                        'must be different revisions')

  def ann(stage: str, version: int, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    a = {ANNOTATION_PREFIX + 'stage': stage, ANNOTATION_PREFIX + 'model-version': str(version)}
    if stable_version is not None:
      a[ANNOTATION_PREFIX + 'stable-version'] = str(stable_version)
    a.update(extra or {})
    return a

  def isvc(stage: str, version: int, pct: Optional[int]) -> Dict[str, Any]:
    return inference_service(name, uri(version), namespace=namespace,
                             canary_traffic_percent=pct, annotations=ann(stage, version),
                             **kwargs)

  if stable_version is None:
    return [Stage('promote', isvc('promote', candidate_version, None), None)]
  plan = [Stage('stable', isvc('stable', stable_version, None), None)]
  for index, s in enumerate(steps, start=1):
    plan.append(Stage(f'canary-{int(s)}', isvc(f'canary-{int(s)}', candidate_version, int(s)),
                      s))
    if index == pause_at_step:
      following = (f'canary-{int(steps[index])}' if index < len(steps) else 'promote')
      held = isvc(f'pause-{int(s)}', candidate_version, int(s))
      held['metadata']['annotations'].update({
          PAUSE_ANNOTATION: AWAITING_SIGNOFF,
          RESUME_ANNOTATION: (f'{SIGNOFF_COMMAND}; approved: apply {following} and on, '
                              f'rejected or past the deadline: apply rollback, restore')})
      if signoff_deadline_hours is not None:
        held['metadata']['annotations'][DEADLINE_ANNOTATION] = f'{signoff_deadline_hours:g}'
      plan.append(Stage(f'pause-{int(s)}', held, s))
  plan.append(Stage('promote', isvc('promote', candidate_version, None), None))
  plan.append(Stage('rollback', isvc('rollback', candidate_version, 0), 0.0))
  plan.append(Stage('restore', isvc('restore', stable_version, None), None))
  return plan


def to_yaml(manifest: Mapping[str, Any]) -> str:
  import yaml  # pylint: disable=g-import-not-at-top
  return yaml.safe_dump(dict(manifest), sort_keys=False)


def write_plan(plan: Sequence[Stage], out_dir: str) -> List[str]:
  """NN-<stage>.yaml per stage plus plan.json (the order and the weights)."""
  os.makedirs(out_dir, exist_ok=True)
  paths, index = [], []
  for i, stage in enumerate(plan):
    path = durable.write_text(os.path.join(out_dir, f'{i:02d}-{stage.name}.yaml'),
                              to_yaml(stage.manifest), mode=0o644)
    paths.append(path)
    index.append({'stage': stage.name, 'file': os.path.basename(path), 'weight': stage.weight})
  document = {'stages': index,
              'on_breach': ['rollback', 'restore'] if len(plan) > 1 else ['delete']}
  pauses = [i for i, stage in enumerate(plan) if stage.name.startswith('pause-')]
  if pauses:
    at = pauses[0]
    annotations = plan[at].manifest['metadata']['annotations']
    document['pause'] = {
        'stage': plan[at].name, 'file': index[at]['file'], 'hold_weight': plan[at].weight,
        'decide_with': SIGNOFF_COMMAND, 'resume_with': index[at + 1]['file'],
        'on_reject': ['rollback', 'restore'], 'on_deadline': ['rollback', 'restore'],
        'deadline_hours': (float(annotations[DEADLINE_ANNOTATION])
                           if DEADLINE_ANNOTATION in annotations else None)}
  durable.write_json(os.path.join(out_dir, 'plan.json'), document, mode=0o644)
  return paths


# ----------------------------------------------------------------- validation
def sdk_models():
  """kserve.models, without running kserve/__init__.py.

  The package's __init__ imports its model server (FastAPI, uvicorn, gRPC
  stubs built for protobuf >= 6), which cannot coexist with TFX's protobuf
  3.20; the generated API models only need six, urllib3 and kubernetes. So
  when the full package is not already imported, `kserve` is registered as a
  bare namespace over the installed files and only `kserve.models` loads.
  """
  loaded = sys.modules.get('kserve')
  if loaded is None:
    spec = importlib.util.find_spec('kserve')
    if spec is None or not spec.submodule_search_locations:
      raise ImportError(f'the kserve SDK is not installed: pip install --no-deps {SDK_PIN}')
    stub = types.ModuleType('kserve')
    stub.__path__ = list(spec.submodule_search_locations)
    stub.__file__ = spec.origin
    sys.modules['kserve'] = stub
  return importlib.import_module('kserve.models')


def _kubernetes_models():
  from kubernetes.client import models  # pylint: disable=g-import-not-at-top
  return models


_PRIMITIVES = {'str': (str,), 'int': (int,), 'float': (int, float), 'bool': (bool,),
               'object': (object,), 'datetime': (str,), 'date': (str,)}


def _build(data: Any, klass: str, path: str, kserve_models, k8s_models) -> Any:
  if klass.startswith('list['):
    if not isinstance(data, list):
      raise ManifestError(f'{path}: expected a list, got {type(data).__name__}')
    inner = klass[5:-1]
    return [_build(v, inner, f'{path}[{i}]', kserve_models, k8s_models)
            for i, v in enumerate(data)]
  if klass.startswith('dict('):
    if not isinstance(data, dict):
      raise ManifestError(f'{path}: expected a mapping, got {type(data).__name__}')
    inner = re.match(r'dict\(([^,]*), (.*)\)', klass).group(2)
    return {k: _build(v, inner, f'{path}.{k}', kserve_models, k8s_models)
            for k, v in data.items()}
  if klass in _PRIMITIVES:
    ok = isinstance(data, _PRIMITIVES[klass])
    if klass in ('int', 'float') and isinstance(data, bool):
      ok = False
    if not ok:
      raise ManifestError(f'{path}: expected {klass}, got {type(data).__name__} {data!r}')
    return data
  cls = getattr(kserve_models, klass, None) or getattr(k8s_models, klass, None)
  if cls is None:
    raise ManifestError(f'{path}: type {klass} is in neither the kserve nor the '
                        f'kubernetes models')
  if not isinstance(data, dict):
    raise ManifestError(f'{path}: expected a {klass} object, got {type(data).__name__}')
  by_json = {v: k for k, v in cls.attribute_map.items()}
  unknown = sorted(set(data) - set(by_json))
  if unknown:
    raise ManifestError(f'{path}: unknown field(s) {unknown} for {klass}')
  kwargs = {by_json[k]: _build(v, cls.openapi_types[by_json[k]], f'{path}.{k}',
                               kserve_models, k8s_models) for k, v in data.items()}
  try:
    return cls(**kwargs)
  except ValueError as e:  # the generated models' own required/enum checks
    raise ManifestError(f'{path}: {klass}: {e}') from e


def _missing(expected: Any, got: Any, path: str) -> List[str]:
  """Where `got` (the SDK's serialization) lost or changed part of `expected`."""
  if isinstance(expected, dict):
    if not isinstance(got, dict):
      return [path]
    out = []
    for k, v in expected.items():
      out += _missing(v, got.get(k), f'{path}.{k}') if k in got else [f'{path}.{k}']
    return out
  if isinstance(expected, list):
    if not isinstance(got, list) or len(got) != len(expected):
      return [path]
    return [m for i, (a, b) in enumerate(zip(expected, got))
            for m in _missing(a, b, f'{path}[{i}]')]
  return [] if expected == got else [path]


def validate(manifest: Mapping[str, Any]):
  """Parses a manifest into kserve's V1beta1InferenceService; raises ManifestError.

  Returns the SDK object (e.g. to hand to KServeClient.create on a cluster).
  """
  from kubernetes import client as k8s  # pylint: disable=g-import-not-at-top
  models = sdk_models()
  if manifest.get('apiVersion') != API_VERSION or manifest.get('kind') != KIND:
    raise ManifestError(f'expected apiVersion {API_VERSION} kind {KIND}, got '
                        f'{manifest.get("apiVersion")} {manifest.get("kind")}')
  name = (manifest.get('metadata') or {}).get('name', '')
  if not isinstance(name, str) or not _DNS1123.match(name) or len(name) > 63:
    raise ManifestError(f'metadata.name {name!r} is not a DNS-1123 label')
  obj = _build(dict(manifest), 'V1beta1InferenceService', '$', models, _kubernetes_models())
  pct = obj.spec.predictor.canary_traffic_percent if obj.spec and obj.spec.predictor else None
  if pct is not None and not 0 <= pct <= 100:
    raise ManifestError(f'$.spec.predictor.canaryTrafficPercent {pct} is not in [0, 100]')
  back = k8s.ApiClient().sanitize_for_serialization(obj)
  lost = _missing(dict(manifest), back, '$')
  if lost:
    raise ManifestError(f'the kserve SDK does not keep {lost}')
  return obj


# ----------------------------------------------------------------- CLI
def main(argv: Optional[List[str]] = None) -> int:
  p = argparse.ArgumentParser(prog='python -m rollout.kserve',
                              description=__doc__.split('\n')[0])
  p.add_argument('--name', required=True, help='InferenceService name (DNS-1123)')
  p.add_argument('--namespace', default='default')
  p.add_argument('--storage-uri', required=True, help='with {version}, e.g. '
                 "'gs://models/credit_risk/{version}'")
  p.add_argument('--stable', type=int, help='the stable version (none: first deployment)')
  p.add_argument('--candidate', type=int, required=True)
  p.add_argument('--steps', default='5,25,50,100')
  p.add_argument('--pause-at-step', type=int,
                 help='hold this step\'s weight for a sign-off (rollout.pause_at_step)')
  p.add_argument('--signoff-deadline-hours', type=float)
  p.add_argument('--out', required=True)
  p.add_argument('--no-validate', action='store_true')
  args = p.parse_args(argv)
  plan = rollout_plan(args.name, args.storage_uri, args.stable, args.candidate,
                      [float(s) for s in args.steps.split(',')], namespace=args.namespace,
                      pause_at_step=args.pause_at_step,
                      signoff_deadline_hours=args.signoff_deadline_hours)
  if not args.no_validate:
    for stage in plan:
      validate(stage.manifest)
  for path in write_plan(plan, args.out):
    print(path)
  return 0


if __name__ == '__main__':
  sys.exit(main())
