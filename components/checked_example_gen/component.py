"""CsvExampleGen that refuses broken CSV and stratifies small data.

A FileBasedExampleGen (same driver: spans, versions, range_config, input
fingerprints and caching are TFX's own) with its own executor (executor.py):

1. Checks every input file of the span row by row against the dataset
   description (validation/csv_checks.py). Any problem fails the execution
   with a message naming file, line and column; MLMD records the execution
   as FAILED with that message, and nothing downstream runs.
2. Converts rows to tf.Examples with the declared column types
   (validation/csv_examples.py). An empty field becomes an absent feature, so
   the schema's presence constraints see missing values.
3. Splits: below `splits.stratify_below_rows` data rows, stratified by label
   (validation/stratified_split.py); otherwise by hash, as CsvExampleGen does.

The Examples artifact records what was done in custom properties: data_rows,
split_method (stratified | hash) and source_files.
"""

from tfx.components.example_gen import component as example_gen_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

import description
from components.checked_example_gen import executor


class CheckedCsvExampleGen(example_gen_component.FileBasedExampleGen):
  """FileBasedExampleGen for CSV described by a DatasetSpec (see module doc)."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, spec: description.DatasetSpec, input_base,
               input_config: example_gen_pb2.Input,
               output_config: example_gen_pb2.Output,
               range_config=None):
    # The description travels in custom_config: see executor.pack_spec for why.
    super().__init__(
        input_base=input_base, input_config=input_config,
        output_config=output_config, range_config=range_config,
        custom_config=executor.pack_spec(spec))
