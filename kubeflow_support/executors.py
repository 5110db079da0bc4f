"""TFX executors adapted to TFX's KFP v2 container entrypoint.

That entrypoint hands an executor its proto-typed exec properties as JSON
text (kubeflow_v2_entrypoint_utils.parse_execution_properties), where TFX's
own orchestrators hand the decoded proto. Most TFX executors decode text
themselves; TFX 1.16's DistributionValidator does not, and fails with
"'str' object has no attribute 'default_slice_config'" as soon as it has a
baseline to compare with (without one it returns before reading its config,
which is why no Kubeflow run met it while the previous-span resolver was left
out). surgery.adapt_executors() compiles these subclasses in their place.
"""

from typing import Any, Dict

from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2
from tfx.components.distribution_validator import executor as dv_executor
from tfx.proto import distribution_validator_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

DISTRIBUTION_VALIDATOR_PROTOS = {
    standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY:
        distribution_validator_pb2.DistributionValidatorConfig,
    standard_component_specs.CUSTOM_VALIDATION_CONFIG_KEY:
        custom_validation_config_pb2.CustomValidationConfig,
}


def decoded(exec_properties: Dict[str, Any], protos: Dict[str, type]) -> Dict[str, Any]:
  """A copy with the named properties decoded from JSON text where they are text."""
  result = dict(exec_properties)
  for key, proto in protos.items():
    if isinstance(result.get(key), str) and result[key]:
      result[key] = proto_utils.json_to_proto(result[key], proto())
  return result


class DistributionValidatorExecutor(dv_executor.Executor):
  """TFX's DistributionValidator executor, given its configs decoded."""

  def Do(self, input_dict, output_dict, exec_properties):
    return super().Do(input_dict, output_dict,
                      decoded(exec_properties, DISTRIBUTION_VALIDATOR_PROTOS))


# TFX's executor class -> the one to compile in its place.
REPLACEMENTS = {dv_executor.Executor: DistributionValidatorExecutor}
