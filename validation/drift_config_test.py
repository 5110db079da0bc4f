"""Drift configuration: the curated schema's comparators, else the description's defaults."""

import copy

import pytest
import tensorflow_data_validation as tfdv

from tensorflow_metadata.proto.v0 import schema_pb2

import description
from models.conftest import TINY_DESCRIPTION
from pipeline import configs
from validation import drift_config


@pytest.fixture(scope='module')
def credit_spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='module')
def credit_schema_path(credit_spec):
  return configs.curated_schema_path(credit_spec.name)


def test_curated_schema_gives_one_comparator_per_compared_column(
    credit_spec, credit_schema_path):
  config = drift_config.config_for(credit_spec, credit_schema_path)
  by_name = {f.path.step[0]: f.distribution_comparator
             for f in config.default_slice_config.feature}
  # Every column but the id and the month, which change by design, and the
  # personal data, which ExampleGen drops (no statistics, so nothing to compare).
  assert set(by_name) == {c.name for c in credit_spec.columns} - {
      'application_id', 'application_month'} - set(credit_spec.pii.names)
  assert by_name['annual_income'].jensen_shannon_divergence.threshold == 0.06
  assert (by_name['annual_income'].jensen_shannon_divergence.source.type ==
          drift_config.QUANTILES)
  assert by_name['loan_purpose'].infinity_norm.threshold == 0.05
  assert by_name['outcome'].infinity_norm.threshold == 0.03
  # Categorical drift by L-infinity, numeric by Jensen-Shannon, as the schema says.
  schema = tfdv.load_schema_text(credit_schema_path)
  for feature in schema.feature:
    if feature.name not in by_name:
      continue
    categorical = (feature.type == schema_pb2.BYTES or
                   feature.int_domain.is_categorical)
    assert by_name[feature.name].HasField(
        'infinity_norm' if categorical else 'jensen_shannon_divergence'), feature.name


def test_skew_comparators_cover_the_serving_columns(credit_spec, credit_schema_path):
  names = {n for n, _ in drift_config.comparators(
      credit_spec, credit_schema_path, kind='skew')}
  assert names == set(credit_spec.feature_names)


def test_without_a_curated_schema_inputs_and_label_get_the_defaults():
  raw = copy.deepcopy(TINY_DESCRIPTION)
  raw['validation'] = {'default_thresholds': {'categorical_linf': 0.2,
                                              'numeric_jsd': 0.3}}
  spec = description.parse(raw, 'tiny')
  config = drift_config.config_for(spec, None)
  by_name = {f.path.step[0]: f.distribution_comparator
             for f in config.default_slice_config.feature}
  assert set(by_name) == {'income', 'city', 'score', 'outcome'}
  assert by_name['city'].infinity_norm.threshold == 0.2
  assert by_name['outcome'].infinity_norm.threshold == 0.2
  assert by_name['income'].jensen_shannon_divergence.threshold == 0.3
  # An int (bucketized here) has no value counts without a curated schema.
  assert by_name['score'].jensen_shannon_divergence.threshold == 0.3
