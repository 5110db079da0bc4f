"""CheckedCsvExampleGen's executor: check, convert with declared types, split.

See component.py for what it guarantees; the checks are validation/csv_checks.py,
the conversion validation/csv_examples.py, the stratified split
validation/stratified_split.py.
"""

import json
import os
from typing import Any, Dict, List, Optional

from absl import logging
import apache_beam as beam
from google.protobuf import any_pb2
from google.protobuf import wrappers_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

import description
from components import executor_failure
from validation import csv_checks
from validation import csv_examples
from validation import stratified_split

DATA_ROWS_PROPERTY = 'data_rows'
SPLIT_METHOD_PROPERTY = 'split_method'
SOURCE_FILES_PROPERTY = 'source_files'


# The description rides in ExampleGen's own custom_config, not under
# description.EXEC_PROPERTY like our other components: FileBasedExampleGen's
# parameters are TFX's FileBasedExampleGenSpec, and KubeflowV2DagRunner
# compiles every FileBasedExampleGen with its own driver from that spec
# (tfx/orchestration/kubeflow/v2/step_builder.py), so an extra parameter would
# not survive the Kubeflow compile. The value inside is the same codec's.
def pack_spec(spec: description.DatasetSpec) -> example_gen_pb2.CustomConfig:
  """The description as ExampleGen's custom_config (JSON in a StringValue)."""
  value = any_pb2.Any()
  value.Pack(wrappers_pb2.StringValue(value=description.to_exec_property(spec)))
  return example_gen_pb2.CustomConfig(custom_config=value)


def unpack_spec(exec_properties: Dict[str, Any]) -> description.DatasetSpec:
  config = example_gen_pb2.CustomConfig()
  proto_utils.json_to_proto(
      exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], config)
  text = wrappers_pb2.StringValue()
  config.custom_config.Unpack(text)
  return description.from_exec_property(text.value)


@beam.ptransform_fn
def _ReadCheckedCsv(pipeline, files: List[str], spec: description.DatasetSpec):  # pylint: disable=invalid-name
  types = {c.name: c.type for c in spec.columns}
  # Personal data is dropped or hashed as it is read: nothing downstream
  # (statistics' top values included) ever sees a raw value.
  redactor = description.redactor(spec)
  return (pipeline
          | 'Files' >> beam.Create(files)
          | 'Reshuffle' >> beam.Reshuffle()
          | 'ToExamples' >> beam.FlatMap(csv_examples.read_examples, types, redactor))


@beam.ptransform_fn
def _ReadCheckedCsvSerialized(pipeline, checked: List[csv_checks.FileCheck],  # pylint: disable=invalid-name
                              spec: description.DatasetSpec):
  """As _ReadCheckedCsv, serialized: files checked a column at a time convert so."""
  types = {c.name: c.type for c in spec.columns}
  redactor = description.redactor(spec)
  return (pipeline
          | 'Files' >> beam.Create([(c.path, c.columnar) for c in checked])
          | 'Reshuffle' >> beam.Reshuffle()
          | 'ToExamples' >> beam.FlatMap(_serialized_examples, types, redactor))


def _serialized_examples(file_and_columnar, types, redactor):
  path, columnar = file_and_columnar
  return csv_examples.read_serialized(path, types, redactor, columnar)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Checks, converts with declared types, splits (stratified when small)."""

  _files: List[str] = []
  _checked: List[csv_checks.FileCheck] = []
  _rows = 0
  _split_method = 'none'

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    executor = self

    @beam.ptransform_fn
    def _Checked(pipeline, exec_properties, split_pattern):  # pylint: disable=invalid-name
      return pipeline | _ReadCheckedCsv(  # pylint: disable=no-value-for-parameter
          executor._check(exec_properties, split_pattern),
          unpack_spec(exec_properties))
    return _Checked

  def _check(self, exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    files = sorted(fileio.glob(os.path.join(input_base, split_pattern)))
    spec = unpack_spec(exec_properties)
    description.redactor(spec)  # Raises PIIKeyError before any work.
    logging.info('Checking %d file(s) against %s', len(files), spec.source)
    checked = csv_checks.check_files(files, spec)  # Raises InputDataError.
    self._checked = checked
    self._files = files
    self._rows = sum(c.rows for c in checked)
    return files

  def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                             exec_properties: Dict[str, Any]
                             ) -> Dict[str, beam.pvalue.PCollection]:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    spec = unpack_spec(exec_properties)
    splits = output_config.split_config.splits
    if not splits or len(input_config.splits) != 1:
      self._split_method = 'input'
      return super().GenerateExamplesByBeam(pipeline, exec_properties)

    files = self._check(exec_properties, input_config.splits[0].pattern)
    if self._rows >= spec.stratify_below_rows:
      self._split_method = 'hash'
      # The base class reads through GetInputSourceToExamplePTransform, which
      # would check the files again: hand it the checked list instead.
      return self._hash_split(pipeline, files, spec, input_config, output_config)
    self._split_method = 'stratified'
    names = example_gen_utils.generate_output_split_names(input_config, output_config)
    examples = pipeline | 'InputToRecord' >> _ReadCheckedCsv(files, spec)  # pylint: disable=no-value-for-parameter
    parts = examples | 'StratifiedSplit' >> stratified_split.StratifiedSplit(  # pylint: disable=no-value-for-parameter
        spec, [s.hash_buckets for s in splits])
    return dict(zip(names, parts))

  def _hash_split(self, pipeline, files, spec, input_config, output_config):
    buckets, total = [], 0
    for split in output_config.split_config.splits:
      total += split.hash_buckets
      buckets.append(total)
    names = example_gen_utils.generate_output_split_names(input_config, output_config)
    del files  # self._checked holds them, with how each was checked.
    parts = (pipeline
             | 'InputToRecord' >> _ReadCheckedCsvSerialized(self._checked, spec)  # pylint: disable=no-value-for-parameter
             | 'SplitData' >> beam.Partition(
                 base_example_gen_executor._PartitionFn,  # pylint: disable=protected-access
                 len(buckets), buckets, output_config.split_config))
    return dict(zip(names, parts))

  def Do(self, input_dict, output_dict, exec_properties
         ) -> Optional[execution_result_pb2.ExecutorOutput]:
    try:
      super().Do(input_dict, output_dict, exec_properties)
    except (csv_checks.InputDataError, description.PIIKeyError) as e:
      logging.error('%s', e)
      return executor_failure.reject(executor_failure.INVALID_ARGUMENT, str(e))
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    # TFX 1.16's driver records the span only as a custom property, so
    # StatisticsGen (which copies the `span` property) would label every
    # span's statistics span 0; drift detection needs the real span there.
    if example_gen_utils.SPAN_PROPERTY_NAME in exec_properties:
      examples.span = int(exec_properties[example_gen_utils.SPAN_PROPERTY_NAME])
    examples.set_int_custom_property(DATA_ROWS_PROPERTY, self._rows)
    examples.set_string_custom_property(SPLIT_METHOD_PROPERTY, self._split_method)
    examples.set_string_custom_property(SOURCE_FILES_PROPERTY,
                                        json.dumps(self._files))
    return None
