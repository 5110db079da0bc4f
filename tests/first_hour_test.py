"""The first hour with someone else's data (issue 20), end to end.

A sample of the taxi CSV (not a file anybody described by hand), a description
drafted from it with only the label named, and the pipeline run on that
draft as it is. The same runs check the console: a few lines per component,
the full logs in the run's log file, everything streamed with --verbose, and
a failing component named on the console with its error. Three runs share one
store, so the second and third cost little: an unchanged rerun, and a span
with a broken cell that stops at its first component.
"""

import os
import re
import subprocess
import sys

import pandas as pd
import pytest

import description
from cli import draft_description
from pipeline import configs

pytestmark = pytest.mark.e2e

ROWS = 2000
LABEL = 'payment_type'
# A line in absl's or TensorFlow's C++ log format: "I1202 09:18:39..." or
# "W2026-12-02 09:18:39,173 ...".
LOG_LINE = re.compile(r'^[IWEF]\d{4}[ -]')


def _taxi_sample(path: str) -> str:
  taxi = description.load(os.path.join(configs.REPO_ROOT, 'data', 'descriptions',
                                       'taxi.yaml'))
  frame = pd.read_csv(os.path.join(taxi.resolve_root(None, configs.REPO_ROOT), 'data.csv'),
                      dtype=str, keep_default_na=False)
  os.makedirs(os.path.dirname(path))
  frame.sample(ROWS, random_state=1).to_csv(path, index=False)
  return path


def _run(*args):
  return subprocess.run(
      [sys.executable, os.path.join(configs.REPO_ROOT, 'local_runner.py'), *args],
      capture_output=True, text=True, timeout=900,
      env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))


def _log_path(stdout: str) -> str:
  return re.search(r'Full log of this run: (\S+)', stdout).group(1)


@pytest.fixture(scope='module')
def first_hour(tmp_path_factory):
  root = tmp_path_factory.mktemp('first_hour')
  csv = _taxi_sample(str(root / 'taxi' / 'data.csv'))
  drafted = str(root / 'taxi.yaml')
  assert draft_description.main([csv, '--label', LABEL, '--out', drafted]) == 0
  work = str(root / 'work')
  cold = _run('--description', drafted, '--work-dir', work)
  # Unchanged inputs: everything comes from the cache, streamed in full.
  verbose = _run('--description', drafted, '--work-dir', work, '--verbose')
  # New input, so ExampleGen executes again, and fails: nothing else runs.
  broken = pd.read_csv(csv, dtype=str, keep_default_na=False)
  broken.loc[6, 'fare'] = 'twelve'  # line 8 of the file: header, 0-based row 6
  broken_root = root / 'broken'
  broken_root.mkdir()
  broken.to_csv(broken_root / 'data.csv', index=False)
  failed = _run('--description', drafted, '--work-dir', work, '--data-root',
                str(broken_root))
  return drafted, cold, verbose, failed


def test_the_pipeline_runs_on_the_drafted_description_as_is(first_hour):
  drafted, cold, _, _ = first_hour
  assert cold.returncode == 0, cold.stdout[-3000:] + cold.stderr[-3000:]
  assert 'blessed        : yes' in cold.stdout
  assert description.load(drafted).label == LABEL


def test_the_console_shows_a_few_lines_per_component_then_the_summary(first_hour):
  _, cold, _, _ = first_hour
  lines = cold.stdout.splitlines()
  starts = [l for l in lines if l.rstrip().endswith(' started')]
  assert len(starts) >= 10  # every node of the pipeline
  for start in starts:
    node = start.split()[2]
    assert sum(1 for l in lines if l.split()[2:3] == [node]) <= 6, node
  assert not [l for l in lines + cold.stderr.splitlines() if LOG_LINE.match(l)]
  for noise in ('cuDNN', 'cuda', 'property_predicate', 'tft_mapper_use'):
    assert noise not in cold.stdout + cold.stderr
  assert lines.index(starts[-1]) < next(i for i, l in enumerate(lines)
                                        if l.startswith('Pipeline '))


def test_the_log_file_has_the_full_logs(first_hour):
  _, cold, _, _ = first_hour
  log_path = _log_path(cold.stdout)
  assert f'full log       : {log_path}' in cold.stdout
  with open(log_path) as f:
    log = f.read()
  assert 'Component Trainer is running.' in log and 'Component Pusher is finished.' in log
  assert len(log.splitlines()) > 10 * len(cold.stdout.splitlines())
  # Known-harmless lines are filtered from the console only.
  assert 'property_predicate' in log


def test_verbose_streams_everything(first_hour):
  _, _, verbose, _ = first_hour
  assert verbose.returncode == 0, verbose.stderr[-3000:]
  assert 'Component Trainer is running.' in verbose.stderr
  assert 'CACHED' in verbose.stdout
  assert 'property_predicate' not in verbose.stderr


def test_an_error_reaches_the_console_with_its_component(first_hour):
  _, _, _, failed = first_hour
  assert failed.returncode == 3, failed.stdout[-3000:] + failed.stderr[-3000:]
  lines = failed.stdout.splitlines()
  assert any(l.split()[2:4] == ['CsvExampleGen', 'FAILED'] for l in lines), failed.stdout
  assert 'DATA REJECTED by CsvExampleGen' in failed.stderr
  # The error itself, in full: file, line, column and value.
  assert re.search(r"broken/data.csv, line 8, column 'fare'.*twelve",
                   failed.stdout + failed.stderr)
  assert not [l for l in lines if LOG_LINE.match(l)]
