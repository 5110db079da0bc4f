"""executor_failure: returned where TFX records it, raised where it would be lost."""

import os
import subprocess
import sys

import pytest

from components import executor_failure


def test_returns_a_failed_executor_output_under_tfx_orchestrators():
  output = executor_failure.reject(executor_failure.INVALID_ARGUMENT, 'bad row at line 3')
  assert output.execution_result.code == executor_failure.INVALID_ARGUMENT
  assert output.execution_result.result_message == 'bad row at line 3'


def test_raises_under_the_kfp_entrypoint_that_ignores_returned_outputs(monkeypatch):
  monkeypatch.setattr(executor_failure, 'running_entrypoint',
                      lambda: executor_failure.RESULT_IGNORING_ENTRYPOINTS[0])
  with pytest.raises(executor_failure.ExecutionRejected, match='drifted') as rejected:
    executor_failure.reject(executor_failure.FAILED_PRECONDITION, 'annual_income drifted')
  assert rejected.value.code == executor_failure.FAILED_PRECONDITION


def test_running_entrypoint_is_the_module_python_was_started_with(tmp_path):
  (tmp_path / 'probe_entry.py').write_text(
      'from components import executor_failure\n'
      'print(executor_failure.running_entrypoint())\n')
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path)] + sys.path))
  started = subprocess.run([sys.executable, '-m', 'probe_entry'], capture_output=True,
                           text=True, env=env, check=True)
  assert started.stdout.strip() == 'probe_entry'
