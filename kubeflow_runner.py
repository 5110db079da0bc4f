"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) and optionally submits it.

  python kubeflow_runner.py --image REGISTRY/tfx-e2e-pipeline:TAG \\
      --pipeline-root gs://BUCKET/tfx --data-root gs://BUCKET/data/credit_risk
  python kubeflow_runner.py ... --submit --host https://KFP_HOST [--wait 7200]

The same create_pipeline() local_runner.py runs, compiled by TFX's
KubeflowV2DagRunner into a KFP v2 pipeline definition (YAML, pipeline spec
schema 2.1). These flags have environment variables (flags win):

  --image            PIPELINE_IMAGE      the image `make image` builds
  --pipeline-root    PIPELINE_ROOT       gs://... or s3://... (MinIO: s3:// plus --s3-endpoint)
  --data-root        DATA_ROOT           the CSVs, readable from the pods; also a run
                                         parameter (`--param data_root=...` per run)
  --serving-model-dir SERVING_MODEL_DIR  default: <pipeline root>/serving/<name>
  --beam-arg         BEAM_PIPELINE_ARGS  extra Beam arguments (env: one shell-quoted string)
  --host             KFP_HOST            the KFP API endpoint, for --submit

--backend kfp (default) targets the open-source Kubeflow Pipelines backend,
which cannot run two things TFX compiles for Vertex AI (see kubeflow_support/ir.py):
the Resolver of the last blessed model is left out (the Evaluator gets an
empty baseline: the no-regression gate is not applied; absolute thresholds
still are), and ExampleGen's driver runs inside its pod (kubeflow_support/launch.py).
--backend vertex keeps what TFX compiles, for Vertex AI Pipelines. Resolvers
with custom strategies compile for neither and are left out of both; every
change is printed and recorded in the definition's description.

Beam on a distributed runner (Dataflow, Flink, Spark): docs/kubeflow.md.
"""

import argparse
import json
import os
import re
import shlex
import sys
from typing import Dict, List, Optional, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')  # before TensorFlow loads

from kubeflow_support import ARTIFACT_CLASSES_ENV  # pylint: disable=g-import-not-at-top
from pipeline import configs  # pylint: disable=g-import-not-at-top

# Where the Dockerfile puts the repository and installs the dependencies.
IMAGE_REPO_ROOT = '/pipeline'
IMAGE_SITE_PACKAGES = '/opt/venv/lib/python3.10/site-packages'
DEFAULT_OUTPUT_DIR = os.path.join(configs.REPO_ROOT, 'build', 'kubeflow')
DATA_ROOT_PARAMETER = 'data_root'
BACKENDS = ('kfp', 'vertex')
REMOTE_SCHEMES = ('gs://', 's3://')
# KFP v2 (and TFX's compiler) accept only these pipeline names.
PIPELINE_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')
# The secret KFP's own MinIO credentials live in, and its keys.
S3_SECRET_KEYS = {'accesskey': 'AWS_ACCESS_KEY_ID', 'secretkey': 'AWS_SECRET_ACCESS_KEY'}


class UsageError(ValueError):
  """A flag or environment variable is missing or wrong; says which and why."""


def parse_args(argv=None) -> argparse.Namespace:
  env = os.environ.get
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  where = parser.add_argument_group('where things are')
  where.add_argument('--image', default=env('PIPELINE_IMAGE'),
                     help='container image of every task (env PIPELINE_IMAGE)')
  where.add_argument('--pipeline-root', default=env('PIPELINE_ROOT'),
                     help='artifact root, gs:// or s3:// (env PIPELINE_ROOT)')
  where.add_argument('--data-root', default=env('DATA_ROOT'),
                     help="the CSVs' root as the pods see it (env DATA_ROOT); "
                     "default: the description's input.default_root if it is "
                     "package:// (shipped in the image)")
  where.add_argument('--serving-model-dir', default=env('SERVING_MODEL_DIR'),
                     help='where the Pusher writes blessed models (env '
                     'SERVING_MODEL_DIR; default <pipeline root>/serving/<name>)')
  where.add_argument('--output', help='compiled YAML path (default: '
                     'build/kubeflow/<name>.yaml)')

  pipeline = parser.add_argument_group('the pipeline (as in local_runner.py)')
  pipeline.add_argument('--description', default=configs.DEFAULT_DESCRIPTION,
                        help='dataset description YAML (default: %(default)s)')
  pipeline.add_argument('--span', type=int, help='span to train on (default: '
                        'the latest, resolved in the ExampleGen pod at run time)')
  pipeline.add_argument('--pipeline-name', help='default: the dataset name, with '
                        'dashes (KFP allows [a-z0-9-] only)')
  pipeline.add_argument('--no-cache', action='store_true',
                        help='compile with KFP caching off for every task')
  pipeline.add_argument('--backend', choices=BACKENDS, default='kfp',
                        help='kfp: open-source Kubeflow Pipelines (default); '
                        'vertex: Vertex AI Pipelines, TFX output unchanged')

  beam = parser.add_argument_group('Beam')
  beam.add_argument('--beam-mode', choices=['in_memory', 'multi_processing'],
                    default='in_memory', help="DirectRunner mode in the pods "
                    "(ignored when --beam-arg sets another --runner)")
  beam.add_argument('--beam-workers', type=int, default=0,
                    help='DirectRunner processes for multi_processing: the pod CPU limit')
  beam.add_argument('--beam-arg', action='append', default=None,
                    help='a Beam pipeline argument, e.g. --beam-arg=--runner=DataflowRunner '
                    '(repeatable; env BEAM_PIPELINE_ARGS)')

  s3 = parser.add_argument_group('S3 / MinIO pipeline roots')
  s3.add_argument('--s3-endpoint', default=env('S3_ENDPOINT'),
                  help='S3 API endpoint, e.g. http://minio-service.kubeflow:9000 (env S3_ENDPOINT)')
  s3.add_argument('--s3-credentials-secret', default=env('S3_CREDENTIALS_SECRET'),
                  help='Kubernetes secret with keys accesskey/secretkey, given to every '
                  "task as AWS credentials (KFP's MinIO: mlpipeline-minio-artifact)")

  submit = parser.add_argument_group('submission (kfp.Client)')
  submit.add_argument('--submit', action='store_true',
                      help='submit the compiled pipeline as a run')
  submit.add_argument('--host', default=env('KFP_HOST') or env('KF_PIPELINES_ENDPOINT'),
                      help='KFP API endpoint (env KFP_HOST), e.g. http://localhost:8080 '
                      'after kubectl port-forward svc/ml-pipeline-ui')
  submit.add_argument('--namespace', default=env('KFP_NAMESPACE'),
                      help='Kubeflow profile namespace (multi-user installs)')
  submit.add_argument('--experiment', help='default: the pipeline name')
  submit.add_argument('--run-name', help='default: <pipeline name> <time>')
  submit.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                      help=f'run parameter, e.g. {DATA_ROOT_PARAMETER}=gs://... (repeatable)')
  submit.add_argument('--wait', type=float, metavar='SECONDS',
                      help='wait for the run to finish; exit 1 unless it succeeded')
  return parser.parse_args(argv)


# --- what the flags mean ---------------------------------------------------
def pipeline_name(args, spec) -> str:
  name = args.pipeline_name or spec.name.lower().replace('_', '-')
  if not PIPELINE_NAME.fullmatch(name):
    raise UsageError(f'pipeline name {name!r} is not valid for Kubeflow Pipelines: '
                     f'use lowercase letters, digits and dashes (--pipeline-name)')
  return name


def _require_remote(value: Optional[str], flag: str, env: str, why: str) -> str:
  if not value:
    raise UsageError(f'{flag} is required (or set {env}): {why}')
  if value.startswith('minio://'):
    raise UsageError(
        f'{flag} {value}: TFX writes artifacts through TensorFlow and Beam file '
        f'systems, which have no minio:// scheme. For MinIO use s3://BUCKET/... '
        f'with --s3-endpoint http://minio-service.kubeflow:9000')
  if not value.startswith(REMOTE_SCHEMES):
    raise UsageError(f'{flag} {value!r} must be a gs:// or s3:// URI: the task '
                     f'pods cannot see this machine\'s files')
  return value.rstrip('/')


def data_root(args, spec) -> str:
  """The data root as the pods see it."""
  root = args.data_root
  if not root:
    default = spec.default_root or ''
    if not default.startswith('package://'):
      raise UsageError(
          '--data-root is required (or set DATA_ROOT): the CSVs must be where the '
          'pods can read them, e.g. gs://BUCKET/data/credit_risk (upload with '
          f'`gsutil -m cp -r {default or "DIR"} gs://BUCKET/data/`)')
    # Shipped inside an installed package (the taxi example's data, in tfx):
    # the image has the same package, under its own site-packages.
    spec.resolve_root(None, configs.REPO_ROOT)  # the package is installed here
    package, _, rest = default[len('package://'):].partition('/')
    return os.path.join(IMAGE_SITE_PACKAGES, package, rest).rstrip('/')
  if root.startswith(REMOTE_SCHEMES) or os.path.isabs(root):
    return root.rstrip('/')
  raise UsageError(f'--data-root {root!r}: give a gs:// or s3:// URI, or an absolute '
                   f'path inside the image or a volume mounted in every pod')


def rebase_repo_paths(spec) -> List[str]:
  """Points parameters naming files of this checkout at the image's copy.

  create_pipeline() gets this checkout's paths (the curated schema, the
  description's source), which the pods know under IMAGE_REPO_ROOT.
  """
  pattern = re.compile(r'(?<![\w./-])' + re.escape(configs.REPO_ROOT) + r'(?=/|\b|$)')
  changed = []
  for name, task in sorted(spec['root']['dag']['tasks'].items()):
    for key, parameter in sorted(task.get('inputs', {}).get('parameters', {}).items()):
      constant = parameter.get('runtimeValue', {}).get('constant')
      if isinstance(constant, str) and pattern.search(constant):
        parameter['runtimeValue']['constant'] = pattern.sub(IMAGE_REPO_ROOT, constant)
        changed.append(f'{name}.{key}')
  return changed


def beam_args(args) -> List[str]:
  extra = args.beam_arg
  if extra is None:
    extra = shlex.split(os.environ.get('BEAM_PIPELINE_ARGS', ''))
  runners = [a.split('=', 1)[1] for a in extra if a.startswith('--runner=')]
  if any(r not in ('DirectRunner', 'direct') for r in runners):
    return list(extra)
  if args.beam_mode == 'multi_processing':
    if args.beam_workers <= 0:
      raise UsageError(
          '--beam-mode multi_processing needs --beam-workers N (the pod CPU '
          "limit): Beam's default counts the node's CPUs, not the pod's")
    direct = configs.beam_pipeline_args(sys.maxsize, args.beam_workers)
  else:
    direct = configs.beam_pipeline_args(0)
  overridden = {a.split('=', 1)[0] for a in extra}
  return [a for a in direct if a.split('=', 1)[0] not in overridden] + list(extra)


def run_parameters(items: List[str]) -> Dict[str, str]:
  from kubeflow_support import ir  # pylint: disable=g-import-not-at-top
  try:
    return ir.parse_assignments(items, '--param')
  except ValueError as e:
    raise UsageError(str(e)) from None


# --- compile -----------------------------------------------------------------
def build_pipeline(args):
  """(TFX pipeline, dataset spec, settings) from the flags."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  import description  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top

  if not args.image:
    raise UsageError('--image is required (or set PIPELINE_IMAGE): the image every '
                     'task runs, built by `make image IMAGE=...` and pushed')
  spec = description.load(args.description)
  name = pipeline_name(args, spec)
  root = _require_remote(args.pipeline_root, '--pipeline-root', 'PIPELINE_ROOT',
                         'where KFP and TFX write artifacts, shared by every pod')
  if args.backend == 'vertex' and not root.startswith('gs://'):
    raise UsageError(f'--pipeline-root {root}: Vertex AI Pipelines needs gs://')
  data = data_root(args, spec)
  serving = args.serving_model_dir or f'{root}/serving/{name}'
  if not serving.startswith(REMOTE_SCHEMES) and not os.path.isabs(serving):
    raise UsageError(f'--serving-model-dir {serving!r}: give a gs:// or s3:// URI')
  beam = beam_args(args)
  if args.s3_endpoint:
    beam = [a for a in beam if not a.startswith('--s3_endpoint_url')] + [
        f'--s3_endpoint_url={args.s3_endpoint}']
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=name,
      pipeline_root=root,
      # A run parameter: each run may read another root with the same definition.
      data_root=tfx.dsl.experimental.RuntimeParameter(
          name=DATA_ROOT_PARAMETER, ptype=str, default=data),
      spec=spec,
      serving_model_dir=serving.rstrip('/'),
      span=args.span,
      # Read here at compile time (drift comparators); the compiled parameters
      # are rebased onto the image's copy of the repository afterwards.
      schema_path=configs.curated_schema_path(spec.name),
      # KFP records lineage in the cluster's own ML Metadata store.
      metadata_connection_config=None,
      beam_pipeline_args=beam,
      enable_cache=not args.no_cache)
  return pipeline, spec, {'name': name, 'root': root, 'data_root': data,
                          'serving': serving, 'beam': beam}


def drop_uncompilable_resolvers(pipeline) -> Tuple[List[str], List[Tuple[str, str]]]:
  """Takes out Resolver nodes whose strategy the KFP v2 compiler cannot build.

  TFX compiles only LatestBlessedModelStrategy and LatestArtifactStrategy
  into KFP v2 (as MLMD queries); a custom ResolverStrategy is Python that runs
  inside TFX's own orchestrator, which no KFP v2 backend has. Such a node can
  go only if every input it feeds is optional; the consumer then runs as it
  does when the resolver finds nothing (kubeflow_support/launch.py passes the input
  empty). Returns (notes, the (component id, input key) pairs it fed).
  """
  from tfx.dsl.components.common import resolver  # pylint: disable=g-import-not-at-top
  from tfx.dsl.input_resolution.strategies import latest_artifact_strategy  # pylint: disable=g-import-not-at-top
  from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy  # pylint: disable=g-import-not-at-top
  from tfx.utils import deprecation_utils  # pylint: disable=g-import-not-at-top
  compilable = (latest_blessed_model_strategy.LatestBlessedModelStrategy,
                latest_artifact_strategy.LatestArtifactStrategy)
  notes, dropped = [], []
  for node in list(pipeline.components):
    if not isinstance(node, resolver.Resolver):
      continue
    strategy = node.exec_properties.get(resolver.RESOLVER_STRATEGY_CLASS)
    if strategy and deprecation_utils.get_first_nondeprecated_class(strategy) in compilable:
      continue
    fed = []
    for consumer in pipeline.components:
      spec_class = getattr(consumer, 'SPEC_CLASS', None)
      for key, channel in list(consumer.inputs.items()):
        if getattr(channel, 'producer_component_id', None) != node.id:
          continue
        if spec_class is None or not spec_class.INPUTS[key].optional:
          raise UsageError(
              f'{consumer.id}.{key} comes from the Resolver {node.id}, whose '
              f'strategy {getattr(strategy, "__name__", strategy)} cannot be '
              f'compiled for Kubeflow Pipelines, and the input is not optional')
        del consumer.inputs[key]
        fed.append(f'{consumer.id}.{key}')
        dropped.append((consumer.id, key))
      if node in consumer.upstream_nodes:  # both directions go together
        consumer.remove_upstream_node(node)
    for upstream in list(node.upstream_nodes):
      node.remove_upstream_node(upstream)
    pipeline.components = [c for c in pipeline.components if c is not node]
    notes.append(
        f'{node.id} ({getattr(strategy, "__name__", strategy)}) was left out: '
        f'custom resolver strategies run only in TFX\'s own orchestrator; '
        f'{", ".join(fed) or "nothing"} always empty')
  return notes, dropped


def alias_custom_artifact_types(pipeline) -> Dict[type, str]:
  """Aliases for custom artifact types KFP v2 cannot name as they are.

  In KFP v2 a custom type is named by its TYPE_NAME, which must read
  `module.Class` (compiler_utils._SCHEMA_TITLE_RE) and is imported by that
  path in the pod. A TYPE_NAME like `DataValidationVerdict` is published as
  `kubeflow_support.DataValidationVerdict` instead; kubeflow_support/__init__.py resolves it
  back through ARTIFACT_CLASSES_ENV. Renaming the type to an importable
  `module.Class` makes the alias unnecessary.
  """
  from tfx.orchestration.kubeflow.v2 import compiler_utils  # pylint: disable=g-import-not-at-top
  from kubeflow_support import ARTIFACT_ALIAS_MODULE  # pylint: disable=g-import-not-at-top
  aliases = {}
  for component in pipeline.components:
    for channel in list(component.inputs.values()) + list(component.outputs.values()):
      cls = channel.type
      try:
        compiler_utils.get_artifact_schema(cls)
      except ValueError:
        aliases[cls] = f'{ARTIFACT_ALIAS_MODULE}.{cls.__name__}'
  return aliases


def optional_inputs(pipeline) -> List[Tuple[str, str]]:
  """(component id, input key) pairs a component runs without."""
  pairs = []
  for component in pipeline.components:
    spec_class = getattr(component, 'SPEC_CLASS', None)  # None: Resolver nodes
    for key, channel in (spec_class.INPUTS.items() if spec_class else ()):
      if channel.optional:
        pairs.append((component.id, key))
  return pairs


def _set_parameter_defaults(spec, pipeline) -> None:
  """Writes RuntimeParameter defaults into the definition.

  TFX's compiler declares the pipeline inputs without their defaults, so a run
  submitted without the parameter would fail in the KFP driver.
  """
  from tfx.orchestration import data_types  # pylint: disable=g-import-not-at-top
  declared = spec['root'].get('inputDefinitions', {}).get('parameters', {})
  for component in pipeline.components:
    for value in component.exec_properties.values():
      if isinstance(value, data_types.RuntimeParameter) and value.default is not None:
        declared[value.name]['defaultValue'] = value.default


def _add_env(spec, name: str, value: str) -> None:
  for executor in spec['deploymentSpec']['executors'].values():
    if 'container' in executor:
      executor['container'].setdefault('env', []).append({'name': name, 'value': value})


def _add_s3(spec, platform, endpoint: Optional[str], secret: Optional[str]) -> None:
  """Endpoint and credentials for every container task (MinIO or S3)."""
  executors = spec['deploymentSpec']['executors']
  for label, executor in sorted(executors.items()):
    container = executor.get('container')
    if container is None:
      continue
    if endpoint:
      env = container.setdefault('env', [])
      # TensorFlow's S3 file system (tensorflow-io) and boto3 (Beam) read these.
      for key, value in (('S3_ENDPOINT', endpoint), ('AWS_ENDPOINT_URL', endpoint),
                         ('S3_USE_HTTPS', '1' if endpoint.startswith('https') else '0'),
                         ('S3_VERIFY_SSL', '1' if endpoint.startswith('https') else '0')):
        env.append({'name': key, 'value': value})
    if secret:
      kubernetes = platform.setdefault('platforms', {}).setdefault(
          'kubernetes', {}).setdefault('deploymentSpec', {}).setdefault('executors', {})
      kubernetes.setdefault(label, {}).setdefault('secretAsEnv', []).append({
          'secretName': secret,
          'keyToEnv': [{'secretKey': k, 'envVar': v} for k, v in S3_SECRET_KEYS.items()]})


def compile_pipeline(args) -> Tuple[str, Dict, List[str]]:
  """Writes the definition; returns (path, settings, notes for the user)."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner  # pylint: disable=g-import-not-at-top
  from kubeflow_support import ir  # pylint: disable=g-import-not-at-top

  logging.set_verbosity(logging.WARNING)
  pipeline, _, settings = build_pipeline(args)
  notes, empty_inputs = drop_uncompilable_resolvers(pipeline)
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
          default_image=args.image,
          # Schema 2.1: parameters as parameterValues, the only form the
          # open-source KFP driver fills in (2.0 `parameters` reach TFX empty).
          use_pipeline_spec_2_1=True))
  aliases = alias_custom_artifact_types(pipeline)
  originals = {cls: cls.TYPE_NAME for cls in aliases}
  try:
    for cls, alias in aliases.items():
      cls.TYPE_NAME = alias
    job = runner.run(pipeline, write_out=False)
  finally:
    for cls, name in originals.items():
      cls.TYPE_NAME = name
  spec = job['pipelineSpec']
  if aliases:
    _add_env(spec, ARTIFACT_CLASSES_ENV, json.dumps(
        {cls.__name__: f'{cls.__module__}.{cls.__qualname__}' for cls in aliases},
        sort_keys=True))
    notes += [f'custom artifact type {originals[cls]} is {alias} in KFP (its '
              f'TYPE_NAME is not an importable module.Class)'
              for cls, alias in sorted(aliases.items(), key=lambda kv: kv[1])]
  if args.backend == 'kfp':
    spec, kfp_notes = ir.adapt_for_kfp(
        spec, optional_inputs=optional_inputs(pipeline), empty_inputs=empty_inputs,
        cache_pre_cache_check_tasks=args.span is not None and not args.no_cache)
    notes += kfp_notes
  elif empty_inputs:
    spec = ir.with_empty_inputs(spec, empty_inputs)
  _set_parameter_defaults(spec, pipeline)
  rebased = rebase_repo_paths(spec)
  if rebased:
    notes.append(f'paths into this checkout now point at {IMAGE_REPO_ROOT} in '
                 f'the image: {", ".join(rebased)}')
  spec['defaultPipelineRoot'] = settings['root']
  platform: Dict = {}
  if settings['root'].startswith('s3://') or args.s3_endpoint or args.s3_credentials_secret:
    _add_s3(spec, platform, args.s3_endpoint, args.s3_credentials_secret)
    notes.append('s3:// needs TensorFlow\'s S3 file system (tensorflow-io) and '
                 'Beam\'s (apache-beam[aws]) in the image; requirements.lock has '
                 'neither (docs/kubeflow.md, "S3 and MinIO")')
  spec['pipelineInfo']['description'] = ' '.join(
      [f'TFX pipeline for {settings["name"]}, compiled by kubeflow_runner.py for '
       f'the {args.backend} backend.'] + [n.rstrip('.') + '.' for n in notes])
  path = args.output or os.path.join(DEFAULT_OUTPUT_DIR, f'{settings["name"]}.yaml')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  header = (f'# PIPELINE DEFINITION (KFP v2, schema {spec["schemaVersion"]})\n'
            f'# Name: {settings["name"]}; backend: {args.backend}; image: {args.image}\n'
            f'# Compiled by kubeflow_runner.py from pipeline/pipeline.py with '
            f'{spec.get("sdkVersion", "tfx")}. Do not edit: recompile.\n')
  ir.dump(path, spec, platform, header)
  return path, settings, notes


# --- submit --------------------------------------------------------------------
def submit(args, path: str, settings: Dict) -> int:
  import kfp  # pylint: disable=g-import-not-at-top
  import kfp_server_api  # pylint: disable=g-import-not-at-top
  import urllib3  # pylint: disable=g-import-not-at-top

  experiment = args.experiment or settings['name']
  try:
    client = kfp.Client(host=args.host, namespace=args.namespace)
    result = client.create_run_from_pipeline_package(
        path,
        arguments=run_parameters(args.param),
        run_name=args.run_name,
        experiment_name=experiment,
        namespace=args.namespace,
        pipeline_root=settings['root'])
    print(f'Submitted run {result.run_id} to {args.host} (experiment {experiment}): '
          f'{args.host.rstrip("/")}/#/runs/details/{result.run_id}', flush=True)
    if args.wait is None:
      return 0
    run = client.wait_for_run_completion(result.run_id, timeout=args.wait)
  except (kfp_server_api.ApiException, urllib3.exceptions.HTTPError,
          TimeoutError, ConnectionError) as e:
    print(f'kubeflow_runner.py: the KFP API at {args.host} refused or did not '
          f'answer: {str(e).strip()[:2000]}', file=sys.stderr)
    return 1
  state = str(run.state)
  print(f'Run {result.run_id} finished: {state}')
  return 0 if state.upper() == 'SUCCEEDED' else 1


def check_submission(args) -> None:
  """Submission settings, checked before the (slow) compile."""
  if args.param and not args.submit:
    raise UsageError('--param applies to a submitted run: add --submit')
  run_parameters(args.param)
  if not args.submit:
    return
  if args.backend != 'kfp':
    raise UsageError('--submit talks to a Kubeflow Pipelines API; submit Vertex AI '
                     'definitions with google.cloud.aiplatform.PipelineJob '
                     '(docs/kubeflow.md)')
  if not args.host:
    raise UsageError('--submit needs --host (or KFP_HOST): the KFP API endpoint, e.g. '
                     'http://localhost:8080 after `kubectl -n kubeflow port-forward '
                     'svc/ml-pipeline-ui 8080:80`')


def main(argv=None) -> int:
  from kubeflow_support import ir  # pylint: disable=g-import-not-at-top
  import description  # pylint: disable=g-import-not-at-top
  args = parse_args(argv)
  try:
    check_submission(args)
    path, settings, notes = compile_pipeline(args)
    print(f'Compiled {settings["name"]} for the {args.backend} backend: {path}\n'
          f'  image         {args.image}\n'
          f'  pipeline root {settings["root"]}\n'
          f'  data root     {settings["data_root"]} (run parameter '
          f'{DATA_ROOT_PARAMETER})\n'
          f'  serving dir   {settings["serving"]}\n'
          f'  beam args     {" ".join(settings["beam"])}', flush=True)
    for note in notes:
      print(f'  note: {note}', flush=True)
    if args.submit:
      return submit(args, path, settings)
    return 0
  except (UsageError, description.DatasetSpecError) as e:
    print(f'kubeflow_runner.py: error: {e}', file=sys.stderr)
    return 2
  except ir.IncompatibleError as e:
    print(f'kubeflow_runner.py: the pipeline cannot run on the {args.backend} '
          f'backend: {e}', file=sys.stderr)
    return 1


if __name__ == '__main__':
  sys.exit(main())
