"""How an executor fails on purpose (bad data, a blocking finding).

Under TFX's own orchestrators (LocalDagRunner, Beam, Airflow) an executor that
returns an ExecutorOutput with a non-OK code fails its node, and the launcher
stores the message with the FAILED execution in ML Metadata, where
local_runner and the validation report read it back; a raised exception
leaves only a stack trace. TFX's KFP v2 container entrypoint (the command
every Kubeflow and Vertex AI pod runs) ignores what Do() returns: the pod
would exit 0 and the next task would run on rejected data. There, `reject`
raises instead, so the pod fails and the run stops.
"""

import sys

from tfx.proto.orchestration import execution_result_pb2

# google.rpc.Code values.
INVALID_ARGUMENT = 3      # the input, not the system, is at fault
FAILED_PRECONDITION = 9   # the input is readable but must not go further

# Entrypoints that run Executor.Do and discard its return value.
RESULT_IGNORING_ENTRYPOINTS = (
    'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor',
)


class ExecutionRejected(RuntimeError):
  """Raised where a returned failure would go unnoticed."""

  def __init__(self, code: int, message: str):
    super().__init__(message)
    self.code = code


def running_entrypoint() -> str:
  """The module this process was started as (`python -m NAME`), or ''."""
  spec = getattr(sys.modules.get('__main__'), '__spec__', None)
  return getattr(spec, 'name', '') or ''


def reject(code: int, message: str) -> execution_result_pb2.ExecutorOutput:
  """The ExecutorOutput that fails this execution with `message`.

  Raises ExecutionRejected instead when the process runs an entrypoint that
  would ignore the returned output.
  """
  if running_entrypoint() in RESULT_IGNORING_ENTRYPOINTS:
    raise ExecutionRejected(code, message)
  return execution_result_pb2.ExecutorOutput(
      execution_result=execution_result_pb2.ExecutionResult(
          code=code, result_message=message))
