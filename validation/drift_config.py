"""DistributionValidator's configuration, from the schema or the description.

The thresholds live in one place: the curated schema's `drift_comparator` per
feature (L-infinity distance for categorical features, Jensen-Shannon
divergence for numeric ones; schema/<dataset>/schema.pbtxt justifies each).
DistributionValidator takes them as a DistributionValidatorConfig, which
`config_for` builds from the schema when the pipeline is created. Without a
curated schema, the model inputs and the label get the description's
default thresholds (validation.default_thresholds).
"""

from typing import List, Optional, Tuple

import tensorflow_data_validation as tfdv
from tfx.proto import distribution_validator_pb2

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
