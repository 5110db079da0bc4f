"""Edits to the compiled definition (a PipelineSpec as a dict) after TFX's compiler.

Each fills a gap between what TFX writes and what a KFP run needs: parameter
defaults, the image's paths, S3 settings, and a description saying what changed.
"""

import re
from typing import Any, Dict, List, Optional

from kubeflow_support import settings
from pipeline import configs

# The secret KFP's own MinIO credentials live in, and its keys.
S3_SECRET_KEYS = {'accesskey': 'AWS_ACCESS_KEY_ID', 'secretkey': 'AWS_SECRET_ACCESS_KEY'}


def set_parameter_defaults(spec: Dict[str, Any], pipeline) -> None:
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


def rebase_repo_paths(spec: Dict[str, Any]) -> List[str]:
  """Points parameters naming files of this checkout at the image's copy.

  create_pipeline() gets this checkout's paths (the curated schema, the
  description's source), which the pods know under settings.IMAGE_REPO_ROOT.
  """
  pattern = re.compile(r'(?<![\w./-])' + re.escape(configs.REPO_ROOT) + r'(?=/|\b|$)')
  changed = []
  for name, task in sorted(spec['root']['dag']['tasks'].items()):
    for key, parameter in sorted(task.get('inputs', {}).get('parameters', {}).items()):
      constant = parameter.get('runtimeValue', {}).get('constant')
      if isinstance(constant, str) and pattern.search(constant):
        parameter['runtimeValue']['constant'] = pattern.sub(
            settings.IMAGE_REPO_ROOT, constant)
        changed.append(f'{name}.{key}')
  return changed


def add_s3(spec: Dict[str, Any], platform: Dict[str, Any], endpoint: Optional[str],
           secret: Optional[str]) -> None:
  """Endpoint and credentials for every container task (MinIO or S3)."""
  executors = spec['deploymentSpec']['executors']
  for label, executor in sorted(executors.items()):
    container = executor.get('container')
    if container is None:
      continue
    if endpoint:
      env = container.setdefault('env', [])
      # TensorFlow's S3 file system (tensorflow-io) and boto3 (Beam) read these.
      secure = '1' if endpoint.startswith('https') else '0'
      for key, value in (('S3_ENDPOINT', endpoint), ('AWS_ENDPOINT_URL', endpoint),
                         ('S3_USE_HTTPS', secure), ('S3_VERIFY_SSL', secure)):
        env.append({'name': key, 'value': value})
    if secret:
      kubernetes = platform.setdefault('platforms', {}).setdefault(
          'kubernetes', {}).setdefault('deploymentSpec', {}).setdefault('executors', {})
      kubernetes.setdefault(label, {}).setdefault('secretAsEnv', []).append({
          'secretName': secret,
          'keyToEnv': [{'secretKey': k, 'envVar': v} for k, v in S3_SECRET_KEYS.items()]})


def describe(spec: Dict[str, Any], name: str, backend: str, notes: List[str]) -> None:
  """The definition's description: what it is and every change the runner made."""
  spec['pipelineInfo']['description'] = ' '.join(
      [f'TFX pipeline for {name}, compiled by kubeflow_runner.py for the {backend} '
       f'backend.'] + [n.rstrip('.') + '.' for n in notes])


def header(spec: Dict[str, Any], name: str, backend: str, image: str) -> str:
  return (f'# PIPELINE DEFINITION (KFP v2, schema {spec["schemaVersion"]})\n'
          f'# Name: {name}; backend: {backend}; image: {image}\n'
          f'# Compiled by kubeflow_runner.py from pipeline/pipeline.py with '
          f'{spec.get("sdkVersion", "tfx")}. Do not edit: recompile.\n')
