"""Drift between spans: TFX's DistributionValidator, configured from the schema.

The thresholds live in one place: the curated schema's `drift_comparator` per
feature (L-infinity distance for categorical features, Jensen-Shannon
divergence for numeric ones; schema/<dataset>/schema.pbtxt justifies each).
DistributionValidator takes them as a DistributionValidatorConfig, which
`config_for` builds from the schema when the pipeline is created. Without a
curated schema, the model inputs and the label get the description's
default thresholds (validation.default_thresholds).

`DistributionValidator` below is TFX's component with one change: its
baseline input is optional. TFX's executor already handles a missing
baseline (it "rubber stamps" the first span), but the stock spec declares the
input required, so input resolution fails the node whenever there is no
earlier span, and backends that cannot run resolvers (open-source Kubeflow
Pipelines) cannot drop the resolver that feeds it.
"""

from typing import List, Optional, Tuple

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.anomalies.proto import custom_validation_config_pb2
from tfx import types
from tfx.components.distribution_validator import component as dv_component
from tfx.proto import distribution_validator_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from tensorflow_metadata.proto.v0 import schema_pb2

import description

# Quantile histograms: equal-mass buckets, so a heavy tail (annual_income up to
# 1.5M) does not squeeze the bulk of the data into one equal-width bucket.
QUANTILES = schema_pb2.HistogramSelection.QUANTILES


def _comparator_for(column: description.Column, spec: description.DatasetSpec
                    ) -> schema_pb2.FeatureComparator:
  comparator = schema_pb2.FeatureComparator()
  # Only strings have value counts without a schema saying an int is
  # categorical (a curated schema can: int_domain.is_categorical).
  if column.type == 'string':
    comparator.infinity_norm.threshold = spec.validation.categorical_linf
  else:
    comparator.jensen_shannon_divergence.threshold = spec.validation.numeric_jsd
    comparator.jensen_shannon_divergence.source.type = QUANTILES
  return comparator


def comparators(spec: description.DatasetSpec, schema_path: Optional[str],
                kind: str = 'drift') -> List[Tuple[str, schema_pb2.FeatureComparator]]:
  """(feature, comparator) pairs: the curated schema's, else the defaults.

  `kind` is 'drift' (span to span) or 'skew' (training to serving).
  """
  field = f'{kind}_comparator'
  if schema_path:
    schema = tfdv.load_schema_text(schema_path)
    return [(f.name, getattr(f, field)) for f in schema.feature
            if f.HasField(field)]
  names = [c.name for c in spec.features()]
  if not spec.label_rule:
    names.append(spec.label)
  return [(n, _comparator_for(spec.column(n), spec)) for n in names]


def config_for(spec: description.DatasetSpec, schema_path: Optional[str]
               ) -> distribution_validator_pb2.DistributionValidatorConfig:
  config = distribution_validator_pb2.DistributionValidatorConfig()
  for name, comparator in comparators(spec, schema_path, 'drift'):
    feature = config.default_slice_config.feature.add()
    feature.path.step.append(name)
    feature.distribution_comparator.CopyFrom(comparator)
  return config


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
