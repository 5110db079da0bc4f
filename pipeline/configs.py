"""Pipeline constants: where things live and which code the components run.

The dataset itself is described in data/descriptions/*.yaml; nothing here is
specific to one dataset.
"""

import os
from typing import List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_DESCRIPTION = os.path.join(REPO_ROOT, 'data', 'descriptions',
                                   'credit_risk.yaml')
# Everything a run writes (artifacts, ML Metadata, pushed models) goes here.
DEFAULT_WORK_DIR = os.path.join(REPO_ROOT, 'work')
# This project's package (models/, components/ ...), the Beam jobs' dependency.
SETUP_FILE = os.path.join(REPO_ROOT, 'setup.py')
# Curated schemas: schema/<dataset name>/schema.pbtxt, imported when present.
SCHEMA_DIR = os.path.join(REPO_ROOT, 'schema')

# The user code TFX runs, by import path: the package is installed, so the
# same names resolve inside a Kubeflow pod.
PREPROCESSING_FN = 'models.preprocessing.preprocessing_fn'
RUN_FN = 'models.model.run_fn'

# Up to this many input rows Beam's in-memory DirectRunner beats worker
# processes that each import TensorFlow (../shared/STACK.md: 173 s vs 216 s on
# the 15k-row taxi data). Measured on the default data, 2 cores: 50,000 rows
# 101 s in-memory vs 105 s with workers; 100,000 rows 182 s vs 160 s, the
# Evaluator's per-example metrics then split over two ExampleGen shards.
IN_MEMORY_MAX_ROWS = 60_000


def pipeline_root(work_dir: str, pipeline_name: str) -> str:
  return os.path.join(work_dir, pipeline_name, 'pipeline_root')


def metadata_path(work_dir: str, pipeline_name: str) -> str:
  return os.path.join(work_dir, pipeline_name, 'metadata.sqlite')


def serving_model_dir(work_dir: str, pipeline_name: str) -> str:
  # TensorFlow Serving layout: <root>/<model name>/<version>/saved_model.pb.
  return os.path.join(work_dir, pipeline_name, 'serving', pipeline_name)


def curated_schema_path(dataset_name: str):
  path = os.path.join(SCHEMA_DIR, dataset_name, 'schema.pbtxt')
  return path if os.path.exists(path) else None


def beam_pipeline_args(num_rows: int, num_workers: int = 0,
                       setup_file: Optional[str] = None) -> List[str]:
  """Beam DirectRunner arguments suited to the data size.

  The runner is named: Beam 2.74's default DirectRunner first tries to fetch
  and start the Prism runner for every Beam pipeline (on a machine with
  internet access it then runs there; behind a firewall it waits for the
  download to fail), then checks the pipeline against the FnApiRunner, which
  runs TFX's pipelines in the end anyway: about 1.4 s per Beam component.

  `setup_file` (local runs: SETUP_FILE) names this project's package as the
  Beam job's dependency. Without one, every TFX Beam executor copies the
  installed tfx package and builds an sdist of it in a subprocess, for remote
  workers the DirectRunner does not have: about 1 s per Beam component.
  """
  runner = ['--runner=FnApiRunner']
  if setup_file:
    runner.append(f'--setup_file={setup_file}')
  if num_rows <= IN_MEMORY_MAX_ROWS:
    return runner + ['--direct_running_mode=in_memory', '--direct_num_workers=1']
  return runner + ['--direct_running_mode=multi_processing',
                   f'--direct_num_workers={num_workers}']
