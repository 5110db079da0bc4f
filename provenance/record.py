"""Records what MLMD does not know by itself onto a run's executions.

TFX records the data (artifacts, fingerprints) and the configuration (exec
properties) but not which code ran. After a run, `annotate_run` writes onto
every execution that actually executed in it (not the cached ones: they ran
no code) custom properties:

  code_git_commit, code_git_dirty, code_version   the checkout the run used
  hyperparameters        (Trainer) the `training:` block it was given, as JSON
  input_files_sha256     (ExampleGen) content hashes of the files it read

Why after the run and not as exec properties: exec properties are part of
TFX's cache key, so a commit that only touches docs would retrain everything.

MLMD moves an execution's last_update_time on every update, and per-component
wall times are computed from it (metadata/run_summary.py); the original value
is kept in FINISHED_MS_PROPERTY first, and run_summary reads that when set.
"""

import dataclasses
import json
import os
import subprocess
from typing import Dict, List, Optional, Sequence

import durable
from metadata import connection
from metadata import run_summary
from metadata import values

# The checkout this code runs from; the caller may name another one.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CODE_COMMIT = 'code_git_commit'
CODE_DIRTY = 'code_git_dirty'
CODE_VERSION = 'code_version'
HYPERPARAMETERS = 'hyperparameters'
INPUT_FILES = 'input_files_sha256'
FINISHED_MS_PROPERTY = run_summary.FINISHED_MS_PROPERTY

UNKNOWN = 'unknown'


@dataclasses.dataclass(frozen=True)
class CodeVersion:
  commit: str
  dirty: bool
  changed_files: int

  @property
  def label(self) -> str:
    if self.commit == UNKNOWN:
      return UNKNOWN
    return self.commit[:12] + ('-dirty' if self.dirty else '')


def _git(args: Sequence[str], repo: str) -> Optional[str]:
  try:
    result = subprocess.run(['git', '-C', repo] + list(args), capture_output=True,
                            text=True, timeout=30, check=False)
  except (OSError, subprocess.SubprocessError):
    return None
  return result.stdout if result.returncode == 0 else None


def code_version(repo: str = REPO_ROOT) -> CodeVersion:
  """The checkout's commit; dirty if tracked files changed or new files exist.

  Untracked files count: a new module the pipeline imports is code that ran
  but is in no commit. Outside a git checkout (an installed image) the
  PIPELINE_CODE_VERSION environment variable names the version, else
  'unknown'.
  """
  commit = _git(['rev-parse', 'HEAD'], repo)
  if commit is None:
    return CodeVersion(os.environ.get('PIPELINE_CODE_VERSION', UNKNOWN), False, 0)
  status = _git(['status', '--porcelain', '--untracked-files=normal'], repo) or ''
  changed = [line for line in status.splitlines() if line.strip()]
  return CodeVersion(commit.strip(), bool(changed), len(changed))


def file_hashes(files: Sequence[str], root: str) -> Dict[str, str]:
  """Content hashes keyed by path relative to the data root.

  ExampleGen's own fingerprint is size and mtime only, so a file rewritten
  with the same size in the same second looks unchanged; a hash does not.
  """
  return {os.path.relpath(f, root): durable.sha256_of(f) for f in sorted(files)}


@dataclasses.dataclass
class Annotation:
  executions: List[int]
  code: CodeVersion
  hyperparameters: Optional[dict]


def annotate_run(metadata_path: str, pipeline_name: str, code: CodeVersion,
                 run_id: Optional[str] = None, span: Optional[int] = None,
                 input_files: Optional[Dict[str, str]] = None) -> Annotation:
  """Writes the code version (and the rest, above) onto the run's executions.

  `input_files` (from file_hashes, taken before the run started) is written
  only onto an ExampleGen execution that executed and read `span`, so a
  hash can never be attached to data it does not describe.
  """
  summary = run_summary.summarize(metadata_path, pipeline_name, run_id)
  store = connection.open_store(metadata_path, writable=True)
  executed = [c.execution_id for c in summary.components
              if c.state in ('COMPLETE', 'FAILED')]
  updated, hyperparameters = [], None
  for execution in store.get_executions_by_id(executed):
    props = execution.custom_properties
    if FINISHED_MS_PROPERTY not in props:
      props[FINISHED_MS_PROPERTY].int_value = execution.last_update_time_since_epoch
    props[CODE_COMMIT].string_value = code.commit
    props[CODE_DIRTY].int_value = int(code.dirty)
    props[CODE_VERSION].string_value = code.label
    training = training_block(execution)
    if training is not None and _is_trainer(store, execution):
      hyperparameters = training
      props[HYPERPARAMETERS].string_value = json.dumps(training, sort_keys=True)
    if input_files and span is not None and _read_span(store, execution) == span:
      props[INPUT_FILES].string_value = json.dumps(input_files, sort_keys=True)
    updated.append(execution)
  if updated:
    store.put_executions(updated)
  return Annotation([e.id for e in updated], code, hyperparameters)


def training_block(execution) -> Optional[dict]:
  config = values.json_property(execution, 'custom_config')
  if isinstance(config, dict):
    training = (config.get('description') or {}).get('training')
    if isinstance(training, dict):
      return training
  return None


def is_trainer_type(type_name: str) -> bool:
  return type_name.rsplit('.', 1)[-1] in ('Trainer', 'Tuner')


def _is_trainer(store, execution) -> bool:
  return is_trainer_type(store.get_execution_types_by_id([execution.type_id])[0].name)


def _read_span(store, execution) -> Optional[int]:
  """The span an ExampleGen execution read (None for anything else)."""
  if 'input_fingerprint' not in execution.custom_properties:
    return None
  span = execution.custom_properties.get('span')
  return span.int_value if span is not None else None
