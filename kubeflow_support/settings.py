"""The compile and submit settings: flags, environment variables, and what they mean.

Every setting has a flag and most an environment variable (flags win); a
missing or unusable one is a UsageError that names the flag, raised before the
slow compile starts.
"""

import argparse
import os
import re
import shlex
import sys
from typing import Dict, List, Optional

from pipeline import configs

# Where the Dockerfile puts the repository and installs the dependencies.
IMAGE_REPO_ROOT = '/pipeline'
IMAGE_SITE_PACKAGES = '/opt/venv/lib/python3.10/site-packages'
DEFAULT_OUTPUT_DIR = os.path.join(configs.REPO_ROOT, 'build', 'kubeflow')
DATA_ROOT_PARAMETER = 'data_root'
BACKENDS = ('kfp', 'vertex')
REMOTE_SCHEMES = ('gs://', 's3://')
# KFP v2 (and TFX's compiler) accept only these pipeline names.
PIPELINE_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')


class UsageError(ValueError):
  """A flag or environment variable is missing or wrong; says which and why."""


def parser(description: str) -> argparse.ArgumentParser:
  """The runner's flags; defaults come from the environment."""
  env = os.environ.get
  result = argparse.ArgumentParser(
      description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
  where = result.add_argument_group('where things are')
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

  pipeline = result.add_argument_group('the pipeline (as in local_runner.py)')
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
                        'vertex: Vertex AI Pipelines')

  beam = result.add_argument_group('Beam')
  beam.add_argument('--beam-mode', choices=['in_memory', 'multi_processing'],
                    default='in_memory', help="DirectRunner mode in the pods "
                    "(ignored when --beam-arg sets another --runner)")
  beam.add_argument('--beam-workers', type=int, default=0,
                    help='DirectRunner processes for multi_processing: the pod CPU limit')
  beam.add_argument('--beam-arg', action='append', default=None,
                    help='a Beam pipeline argument, e.g. --beam-arg=--runner=DataflowRunner '
                    '(repeatable; env BEAM_PIPELINE_ARGS)')

  s3 = result.add_argument_group('S3 / MinIO pipeline roots')
  s3.add_argument('--s3-endpoint', default=env('S3_ENDPOINT'),
                  help='S3 API endpoint, e.g. http://minio-service.kubeflow:9000 (env S3_ENDPOINT)')
  s3.add_argument('--s3-credentials-secret', default=env('S3_CREDENTIALS_SECRET'),
                  help='Kubernetes secret with keys accesskey/secretkey, given to every '
                  "task as AWS credentials (KFP's MinIO: mlpipeline-minio-artifact)")

  submit = result.add_argument_group('submission (kfp.Client)')
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
  return result


def pipeline_name(args, spec) -> str:
  name = args.pipeline_name or spec.name.lower().replace('_', '-')
  if not PIPELINE_NAME.fullmatch(name):
    raise UsageError(f'pipeline name {name!r} is not valid for Kubeflow Pipelines: '
                     f'use lowercase letters, digits and dashes (--pipeline-name)')
  return name


def require_remote(value: Optional[str], flag: str, env: str, why: str) -> str:
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


def serving_dir(args, root: str, name: str) -> str:
  serving = args.serving_model_dir or f'{root}/serving/{name}'
  if not serving.startswith(REMOTE_SCHEMES) and not os.path.isabs(serving):
    raise UsageError(f'--serving-model-dir {serving!r}: give a gs:// or s3:// URI')
  return serving.rstrip('/')


def beam_args(args) -> List[str]:
  """Beam arguments of every Beam-powered task: ours for the DirectRunner, or the user's."""
  extra = args.beam_arg
  if extra is None:
    extra = shlex.split(os.environ.get('BEAM_PIPELINE_ARGS', ''))
  runners = [a.split('=', 1)[1] for a in extra if a.startswith('--runner=')]
  if any(r not in ('DirectRunner', 'direct') for r in runners):
    beam = list(extra)
  elif args.beam_mode == 'multi_processing':
    if args.beam_workers <= 0:
      raise UsageError(
          '--beam-mode multi_processing needs --beam-workers N (the pod CPU '
          "limit): Beam's default counts the node's CPUs, not the pod's")
    beam = _with_overrides(configs.beam_pipeline_args(sys.maxsize, args.beam_workers), extra)
  else:
    beam = _with_overrides(configs.beam_pipeline_args(0), extra)
  if args.s3_endpoint:
    beam = [a for a in beam if not a.startswith('--s3_endpoint_url')] + [
        f'--s3_endpoint_url={args.s3_endpoint}']
  return beam


def _with_overrides(direct: List[str], extra: List[str]) -> List[str]:
  overridden = {a.split('=', 1)[0] for a in extra}
  return [a for a in direct if a.split('=', 1)[0] not in overridden] + list(extra)


def run_parameters(items: List[str]) -> Dict[str, str]:
  from kubeflow_support import ir  # pylint: disable=g-import-not-at-top
  try:
    return ir.parse_assignments(items, '--param')
  except ValueError as e:
    raise UsageError(str(e)) from None


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
