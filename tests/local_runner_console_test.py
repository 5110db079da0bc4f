"""local_runner's console when a component raises: the run is stood in for by
a runner that logs what TFX's LocalDagRunner logs and then raises, so the
path from the exception to the console is checked in seconds (the real
pipeline's console is checked in tests/first_hour_test.py)."""

import contextlib
import io
import os

from absl import logging as absl_logging
from tfx.orchestration.local import local_dag_runner

from data import generator
import local_runner


class _FailsInTransform:
  """Logs like LocalDagRunner for two nodes; the second raises."""

  def run(self, pipeline):  # pylint: disable=unused-argument
    absl_logging.info('Component %s is running.', 'CsvExampleGen')
    absl_logging.info('Going to run a new execution %d', 1)
    absl_logging.info('Component %s is finished.', 'CsvExampleGen')
    absl_logging.info('Component %s is running.', 'Transform')
    absl_logging.error('Execution %d failed.', 2)
    raise RuntimeError('preprocessing_fn: the column fare has no values')


def test_a_failing_component_is_named_on_the_console_with_its_error(tmp_path, monkeypatch):
  data_root = str(tmp_path / 'data')
  generator.generate(data_root, spans=1, rows_per_span=200, seed=1, labeler_fraction=0.0,
                     verbose=False)
  monkeypatch.setattr(local_dag_runner, 'LocalDagRunner', _FailsInTransform)
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = local_runner.main(['--data-root', data_root, '--work-dir', str(tmp_path / 'work')])
  assert code == 1
  lines = out.getvalue().splitlines()
  assert any(l.split()[2:4] == ['CsvExampleGen', 'COMPLETE'] for l in lines), lines
  assert any(l.split()[2:4] == ['Transform', 'FAILED'] for l in lines), lines
  assert 'FAILED in Transform: RuntimeError: preprocessing_fn: the column fare has no values' \
      in err.getvalue()
  log_path = lines[0].split(': ', 1)[1]
  assert log_path.startswith(os.path.join(str(tmp_path / 'work'), 'credit_risk', 'logs'))
  with open(log_path) as f:
    log = f.read()
  # The traceback is in the log file, with the component named.
  assert 'The pipeline run failed in Transform' in log and 'Traceback' in log
