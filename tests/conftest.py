"""The session's one small pipeline run that trained, blessed and pushed.

`validation_pipeline` (session scope) is one pipeline with one ML Metadata
store: a full run on a clean span 2 (trains, blesses and pushes the "last
good model"), after which every bad-input and drift case runs as span 3 of
its own data root, against span 2 as the previous good span. Bad cases run
the whole pipeline through local_runner.main; it stops by itself, so they
cost only what runs before the failure.

Every test that needs "a pipeline that ran and blessed" uses this run rather
than running its own (a run costs minutes, a copy of its serving directory
milliseconds): monitoring_e2e_test serves it, validation_commands_test reads
its store, bulk_scoring_test reads its InferenceResult. exported_model_test
keeps its own run: its description adds an `automation` section whose target
must sit above the small model's all-cases accuracy. Only the bad-input and drift cases add runs to the store, and they
stop before the Pusher, so the serving directory keeps the one good model.
"""

import contextlib
import copy
import io
import os
import shutil
import time
from typing import List, Optional

import pytest
import yaml

from data import generator
from pipeline import configs
from metadata import run_summary

NAME = 'credit_risk'
ROWS = 5000  # Concept drift needs ~5k rows per span to be significant.
SEED = 42


def fast_description(path: str) -> str:
  """The default description, trimmed for speed where the tests do not look.

  The tests need a blessed model in the serving directory, not a good one:
  two epochs, a relaxed blessing floor, and no slices (the Evaluator's cost
  grows with them), no labelers. Columns, label, splits and validation are
  unchanged. The `scoring` section puts TFX's BulkInferrer into the full runs
  (the test split, a tenth of the span): tests/bulk_scoring_test.py reads its
  InferenceResult.
  """
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw = copy.deepcopy(raw)
  raw['protected_attributes'], raw['tags'] = [], []
  raw.pop('slices', None)
  raw.pop('labelers', None)  # No human-level analysis (the data has no labels).
  raw['training'].update(epochs=2, early_stopping_patience=1)
  raw['evaluation'] = {'min_accuracy': 0.5, 'min_rare_class_recall': 0.0,
                       'fairness_thresholds': [0.5]}
  raw['scoring'] = {'split': 'test'}
  with open(path, 'w') as f:
    yaml.safe_dump(raw, f, sort_keys=False)
  return path


class Run:
  """One local_runner invocation: exit code, output, and its MLMD summary."""

  def __init__(self, code: int, out: str, err: str, summary: run_summary.RunSummary,
               seconds: float):
    self.code, self.out, self.err = code, out, err
    self.summary = summary
    self.seconds = seconds

  @property
  def text(self) -> str:
    return self.out + '\n' + self.err

  def state(self, node: str) -> Optional[str]:
    component = self.summary.component(node)
    return component.state if component else None


class ValidationPipeline:
  """Data roots, the work dir, and helpers to run cases against them."""

  def __init__(self, root: str):
    self.root = root
    self.work_dir = os.path.join(root, 'work')
    self.description = fast_description(os.path.join(root, 'description.yaml'))
    self.metadata = configs.metadata_path(self.work_dir, NAME)
    self.pipeline_root = configs.pipeline_root(self.work_dir, NAME)
    self.serving_dir = configs.serving_model_dir(self.work_dir, NAME)
    self.scenarios = {}
    for scenario in generator.SCENARIOS:
      out = os.path.join(root, 'data', scenario)
      generator.generate(out, spans=3, rows_per_span=ROWS, scenario=scenario,
                         seed=SEED, labeler_fraction=0.0, verbose=False)
      self.scenarios[scenario] = out
    self.good: Optional[Run] = None
    self.pushed_before: List[str] = []
    self._cases = 0
    self._drift_runs = {}

  def clean_span(self, span: int) -> str:
    return os.path.join(self.scenarios['clean'], f'span-{span}', 'data.csv')

  def case_root(self, name: str, text: Optional[str] = None,
                source: Optional[str] = None) -> str:
    """A data root whose span 3 holds `text` (or a copy of `source`)."""
    self._cases += 1
    root = os.path.join(self.root, 'cases', f'{self._cases:02d}-{name}')
    os.makedirs(os.path.join(root, 'span-3'))
    target = os.path.join(root, 'span-3', 'data.csv')
    if text is not None:
      with open(target, 'w') as f:
        f.write(text)
    else:
      shutil.copy(source, target)
    return root

  def run(self, data_root: str, span: int = 3) -> Run:
    import local_runner  # pylint: disable=g-import-not-at-top
    out, err = io.StringIO(), io.StringIO()
    started = time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      code = local_runner.main([
          '--description', self.description, '--data-root', data_root,
          '--work-dir', self.work_dir, '--span', str(span)])
    summary = run_summary.summarize(self.metadata, NAME)
    run = Run(code, out.getvalue(), err.getvalue(), summary, time.time() - started)
    print(f'[validation e2e] {os.path.basename(data_root)} span {span}: exit {code} '
          f'in {run.seconds:.0f} s', flush=True)
    return run

  def drifted(self, scenario: str) -> Run:
    """The scenario's span 3 through the whole pipeline (once per session)."""
    if scenario not in self._drift_runs:
      self._drift_runs[scenario] = self.run(self.scenarios[scenario], span=3)
    return self._drift_runs[scenario]

  def run_to_gate(self, data_root: str, span: int = 3) -> Run:
    """The pipeline as local_runner builds it, but only up to the data gate."""
    from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
    from tfx.orchestration import pipeline as pipeline_py  # pylint: disable=g-import-not-at-top
    import description  # pylint: disable=g-import-not-at-top
    from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
    spec = description.load(self.description)
    pipeline = pipeline_lib.create_pipeline(
        pipeline_name=NAME, pipeline_root=self.pipeline_root, data_root=data_root,
        spec=spec, serving_model_dir=self.serving_dir, span=span,
        schema_path=configs.curated_schema_path(spec.name),
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(self.metadata),
        beam_pipeline_args=configs.beam_pipeline_args(ROWS, setup_file=configs.SETUP_FILE))
    started = time.time()
    tfx.orchestration.LocalDagRunner().run(
        pipeline, run_options=pipeline_py.RunOptions(to_nodes=['DataValidationGate']))
    summary = run_summary.summarize(self.metadata, NAME)
    return Run(0, '', '', summary, time.time() - started)

  def pushed(self) -> List[str]:
    if not os.path.isdir(self.serving_dir):
      return []
    return sorted(os.listdir(self.serving_dir))


@pytest.fixture(scope='session')
def validation_pipeline(tmp_path_factory):
  env = ValidationPipeline(str(tmp_path_factory.mktemp('validation_e2e')))
  env.good = env.run(env.scenarios['clean'], span=2)
  assert env.good.code == 0, env.good.text[-5000:]
  env.pushed_before = env.pushed()
  assert len(env.pushed_before) == 1, env.pushed_before
  return env
