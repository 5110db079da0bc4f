"""Drift between spans: TFX's DistributionValidator with an optional baseline.

Its configuration (the comparators, from the curated schema or the
description's defaults) is built by validation/drift_config.py; the executor
is TFX's own.

The one change to TFX's component: its baseline input is optional. TFX's
executor already handles a missing baseline (it "rubber stamps" the first
span), but the stock spec declares the input required, so input resolution
fails the node whenever there is no earlier span, and backends that cannot
run resolvers (open-source Kubeflow Pipelines) cannot drop the resolver that
feeds it.
"""

from typing import List, Optional, Tuple

from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2
from tfx import types
from tfx.components.distribution_validator import component as dv_component
from tfx.proto import distribution_validator_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils


class _OptionalBaselineSpec(standard_component_specs.DistributionValidatorSpec):
  INPUTS = dict(standard_component_specs.DistributionValidatorSpec.INPUTS)
  INPUTS[standard_component_specs.BASELINE_STATISTICS_KEY] = ChannelParameter(
      type=standard_artifacts.ExampleStatistics, optional=True)


class DistributionValidator(dv_component.DistributionValidator):
  """tfx.components.DistributionValidator whose baseline may be absent."""

  SPEC_CLASS = _OptionalBaselineSpec

  def __init__(  # pylint: disable=super-init-not-called
      self,
      statistics: types.BaseChannel,
      baseline_statistics: types.BaseChannel,
      config: distribution_validator_pb2.DistributionValidatorConfig,
      include_split_pairs: Optional[List[Tuple[str, str]]] = None,
      custom_validation_config: Optional[
          custom_validation_config_pb2.CustomValidationConfig] = None):
    # The parent's __init__ builds the stock spec by name, so this repeats it
    # with the optional-baseline spec.
    spec = _OptionalBaselineSpec(**{
        standard_component_specs.STATISTICS_KEY: statistics,
        standard_component_specs.BASELINE_STATISTICS_KEY: baseline_statistics,
        standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY: config,
        standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY:
            json_utils.dumps(include_split_pairs),
        standard_component_specs.CUSTOM_VALIDATION_CONFIG_KEY:
            custom_validation_config,
        standard_component_specs.ANOMALIES_KEY:
            types.Channel(type=standard_artifacts.ExampleAnomalies),
    })
    super(dv_component.DistributionValidator, self).__init__(spec=spec)
