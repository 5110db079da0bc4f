"""The optional-baseline DistributionValidator is otherwise TFX's component."""

from tfx import types
from tfx.types import standard_artifacts

from components.drift_validator import component as drift_validator
from validation import drift_config


def test_the_baseline_input_is_optional_and_the_rest_is_tfxs_component(
    credit_spec, credit_schema_path):
  stats = types.Channel(type=standard_artifacts.ExampleStatistics)
  validator = drift_validator.DistributionValidator(
      statistics=stats, baseline_statistics=stats,
      config=drift_config.config_for(credit_spec, credit_schema_path),
      include_split_pairs=[('train', 'train')])
  assert validator.spec.INPUTS['baseline_statistics'].optional
  assert not validator.spec.INPUTS['statistics'].optional
  assert validator.id == 'DistributionValidator'
  assert validator.outputs['anomalies'].type is standard_artifacts.ExampleAnomalies
  assert validator.exec_properties['include_split_pairs'] == '[["train", "train"]]'
