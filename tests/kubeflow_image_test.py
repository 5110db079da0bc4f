"""The Dockerfile against what the compiled pipeline expects of its image.

No Docker engine runs here (or in CI), so the image is not built; these checks
keep the file and kubeflow_support/settings.py's assumptions about the image in step.
"""

import fnmatch
import os
import re

from kubeflow_support import local_pod
from kubeflow_support import settings
from pipeline import configs

DOCKERFILE = os.path.join(configs.REPO_ROOT, 'Dockerfile')


def _read(name):
  with open(os.path.join(configs.REPO_ROOT, name)) as f:
    return f.read()


def _final_stage(text):
  return re.split(r'^FROM ', text, flags=re.M)[-1]


def test_image_is_python_3_10_with_the_lock_and_the_project():
  text = _read('Dockerfile')
  python = re.search(r'^ARG PYTHON_IMAGE=python:(\d+\.\d+)\.(\d+)', text, re.M)
  assert python, 'the base image is pinned to a Python version'
  assert python.group(1) == _read('.python-version').strip() == '3.10'
  assert re.search(r'pip install [^\n]*--no-deps [^\n]*-r /tmp/requirements.lock', text)
  assert re.search(r'COPY requirements.lock /tmp/requirements.lock', text)
  assert re.search(r'pip install [^\n]*--no-deps [^\n]*/src\n', text)
  assert _final_stage(text).startswith('${PYTHON_IMAGE}')


def test_runtime_environment_matches_the_runner():
  env = local_pod.dockerfile_env(DOCKERFILE)
  assert env['TF_USE_LEGACY_KERAS'] == '1'
  assert env['PYTHONPATH'] == settings.IMAGE_REPO_ROOT
  venv = env['PATH'].split(':')[0]
  assert venv == '/opt/venv/bin'
  assert settings.IMAGE_SITE_PACKAGES == '/opt/venv/lib/python3.10/site-packages'
  final = _final_stage(_read('Dockerfile'))
  assert f'COPY . {settings.IMAGE_REPO_ROOT}\n' in final
  assert f'WORKDIR {settings.IMAGE_REPO_ROOT}\n' in final
  # The build fails unless the modules the compiled tasks name import.
  check = re.search(r'RUN python -c "([^"]+)"', final).group(1)
  for module in ('models.model', 'models.preprocessing', 'pipeline.pipeline',
                 'kubeflow_support.launch',
                 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor'):
    assert module in check, module
  # Usable as a Beam SDK worker image (Dataflow, Flink, Spark).
  assert 'COPY --from=beam /opt/apache/beam /opt/apache/beam' in final
  assert final.rstrip().endswith('ENTRYPOINT ["/opt/apache/beam/boot"]')
  beam = re.search(r'apache/beam_python(\d\.\d+)_sdk:([\d.]+)', _read('Dockerfile'))
  assert beam.group(1) == '3.10'
  assert f'apache-beam=={beam.group(2)}' in _read('requirements.lock')


def test_dockerignore_keeps_what_the_image_needs():
  patterns = [p.strip().rstrip('/') for p in _read('.dockerignore').splitlines()
              if p.strip() and not p.startswith('#')]
  ignored = lambda path: any(fnmatch.fnmatch(path, p) or path.startswith(p + '/')
                             for p in patterns)
  for path in ('.venv', '.git', 'work', 'build', 'data/generated',
               'models/__pycache__'):
    assert ignored(path), path
  for path in ('requirements.lock', 'setup.py', 'kubeflow_support/launch.py',
               'models/model.py', 'pipeline/pipeline.py', 'components/__init__.py',
               'data/descriptions/credit_risk.yaml', 'schema', 'kubeflow_runner.py'):
    assert not ignored(path), path


def test_make_image_builds_the_dockerfile():
  makefile = _read('Makefile')
  assert re.search(r'^image:\n\t\$\(DOCKER\) build -t \$\(IMAGE\) \.$', makefile, re.M)
