"""Pipeline artifacts for the validation components' tests, without a pipeline.

`SpanArtifacts` turns a span's CSV into what ExampleGen, StatisticsGen,
ExampleValidator and DistributionValidator would have produced for it, with
the same code paths where it matters: the checked ExampleGen's CSV reader,
TFDV's statistics generators and validation, and TFX's own
DistributionValidator executor.
"""

import json
import os

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tfx.components.distribution_validator import executor as dv_executor
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs

from validation import csv_examples
from validation import drift_config
from validation import example_stats
import description
from pipeline import configs

SPLIT = 'train'


class SpanArtifacts:
  """Builds Examples, ExampleStatistics and ExampleAnomalies for CSV spans."""

  def __init__(self, root: str, spec: description.DatasetSpec, schema_path: str):
    self.root = root
    self.spec = spec
    self.schema_path = schema_path
    self.schema = tfdv.load_schema_text(schema_path)
    self._count = 0

  def _artifact(self, cls, name, span=None):
    self._count += 1
    artifact = cls()
    artifact.uri = os.path.join(self.root, name, str(self._count))
    artifact.id = self._count
    artifact.split_names = artifact_utils.encode_split_names([SPLIT])
    if span is not None:
      artifact.span = span
    os.makedirs(os.path.join(artifact.uri, f'Split-{SPLIT}'), exist_ok=True)
    return artifact

  def span(self, csv_path: str, span: int):
    """(examples, statistics, anomalies) of one CSV, all rows in the train split."""
    types = {c.name: c.type for c in self.spec.columns}
    # As CheckedCsvExampleGen: personal data dropped or hashed as it is read.
    rows = list(csv_examples.read_examples(csv_path, types, description.redactor(self.spec)))
    examples = self._artifact(standard_artifacts.Examples, 'examples', span)
    examples.set_string_custom_property('source_files', json.dumps([csv_path]))
    with tf.io.TFRecordWriter(os.path.join(examples.uri, f'Split-{SPLIT}', 'data.gz'),
                              options='GZIP') as writer:
      for row in rows:
        writer.write(row.SerializeToString())
    stats = example_stats.statistics(rows, self.schema)
    statistics = self._artifact(standard_artifacts.ExampleStatistics, 'statistics', span)
    with open(os.path.join(statistics.uri, f'Split-{SPLIT}', 'FeatureStats.pb'), 'wb') as f:
      f.write(stats.SerializeToString())
    anomalies = self._artifact(standard_artifacts.ExampleAnomalies, 'anomalies', span)
    with open(os.path.join(anomalies.uri, f'Split-{SPLIT}', 'SchemaDiff.pb'), 'wb') as f:
      f.write(tfdv.validate_statistics(stats, self.schema).SerializeToString())
    return examples, statistics, anomalies

  def drift(self, statistics, baseline_statistics):
    """TFX's DistributionValidator executor with the pipeline's config."""
    anomalies = self._artifact(standard_artifacts.ExampleAnomalies, 'drift')
    dv_executor.Executor().Do(
        {standard_component_specs.STATISTICS_KEY: [statistics],
         standard_component_specs.BASELINE_STATISTICS_KEY: [baseline_statistics]},
        {standard_component_specs.ANOMALIES_KEY: [anomalies]},
        {standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY:
             drift_config.config_for(self.spec, self.schema_path),
         standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY: json.dumps([[SPLIT, SPLIT]])})
    return anomalies

  def gate_inputs(self, current, previous=None):
    """The DataValidationGate's input dict for `current` against `previous`."""
    schema = standard_artifacts.Schema()
    schema.uri = os.path.dirname(self.schema_path)
    examples, statistics, anomalies = current
    inputs = {'statistics': [statistics], 'schema': [schema],
              'anomalies': [anomalies], 'examples': [examples]}
    if previous is not None:
      inputs.update(
          drift_anomalies=[self.drift(statistics, previous[1])],
          baseline_statistics=[previous[1]], baseline_examples=[previous[0]])
    return inputs
