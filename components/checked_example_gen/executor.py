"""CheckedCsvExampleGen's executor: check, convert with declared types, split.

See component.py for what it guarantees; the checks are validation/csv_checks.py,
the conversion validation/csv_examples.py, the stratified split
validation/stratified_split.py.
"""

import bisect
from concurrent import futures
import hashlib
import json
import os
import struct
import zlib
from typing import Any, Dict, List, Optional

from absl import logging
import apache_beam as beam
from apache_beam.options import pipeline_options
import google_crc32c
from google.protobuf import any_pb2
from google.protobuf import wrappers_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

import description
from components import executor_failure
from validation import csv_checks
from validation import csv_columnar
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


def split_index(record: bytes, buckets: List[int]) -> int:
  """The split a serialized example goes to: base_example_gen_executor._PartitionFn's
  arithmetic (sha256 of the bytes as a big-endian number, modulo the buckets)
  without its hex string; executor_test compares the two.
  """
  return bisect.bisect(buckets, int.from_bytes(hashlib.sha256(record).digest(), 'big')
                       % buckets[-1])


def _io_configs(exec_properties: Dict[str, Any]):
  """The component's input and output configs, decoded from their JSON."""
  input_config = example_gen_pb2.Input()
  proto_utils.json_to_proto(
      exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
  output_config = example_gen_pb2.Output()
  proto_utils.json_to_proto(
      exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
  return input_config, output_config


_LENGTH = struct.Struct('<Q').pack
_MASKED_CRC = struct.Struct('<I').pack


def _masked_crc32c(value: bytes) -> int:
  crc = google_crc32c.value(value)
  return (((crc >> 15) | (crc << 17)) + 0xa282ead8) & 0xffffffff


def tfrecord_frames(records: List[bytes]) -> bytes:
  """The records framed as Beam's TFRecord writer frames each one, joined.

  What apache_beam.io.tfrecordio._TFRecordUtil.write_record writes (length,
  masked crc32c of the length, data, masked crc32c of the data), without its
  three calls and a buffer write per record (9.5 of the executor's 40 s at a
  million rows, under cProfile). A length's 12 bytes are made once per length.
  """
  headers = {}
  parts = []
  for record in records:
    size = len(record)
    header = headers.get(size)
    if header is None:
      length = _LENGTH(size)
      header = headers[size] = length + _MASKED_CRC(_masked_crc32c(length))
    parts += (header, record, _MASKED_CRC(_masked_crc32c(record)))
  return b''.join(parts)


class _WriteSplitShards(beam.DoFn):
  """One checked file: encoded, split and written as gzipped TFRecord shards.

  The records and their split are those of TFX's path (FlatMap, Partition,
  WriteSplit's Reshuffle and WriteToTFRecord), written with Beam's TFRecord
  framing and gzip settings; what is saved is Beam's per-element work on
  every row (about 250 microseconds of CPU a row in-memory, more between
  worker processes), not any of the row's bytes. A file's rows are cut into
  `shards_per_file` consecutive runs (TFX's path spreads them over one shard
  per worker at random), so downstream readers have as many files to share
  between workers as before.

  Compression runs on a thread beside the encoding of the next chunk: zlib
  lets go of the GIL while it deflates, a fifth of the work on one core.
  """

  def __init__(self, types, redactor, split_uris: List[str], buckets: List[int],
               shards_per_file: int, file_count: int):
    super().__init__()
    self._types, self._redactor = types, redactor
    self._split_uris, self._buckets = split_uris, buckets
    self._shards_per_file, self._file_count = shards_per_file, file_count

  def process(self, element):
    index, path, header, rows = element
    chunks = csv_columnar.encode_file(path, header, self._types, self._redactor)
    if chunks is None:  # _check saw it columnar; the file changed under us.
      raise RuntimeError(f'{path} is no longer readable a column at a time')
    shards = self._shards_per_file
    total = self._file_count * shards
    outputs = [[_GzipRecordFile(os.path.join(
        uri, f'{write_split.DEFAULT_TF_RECORD_FILE_NAME}-{index * shards + j:05d}'
        f'-of-{total:05d}.gz')) for j in range(shards)] for uri in self._split_uris]
    seen = 0
    with futures.ThreadPoolExecutor(max_workers=1) as compressor:
      # One chunk compressing while the next encodes: a single thread keeps
      # every file's writes in order, and waiting for it bounds the memory.
      writing = []
      for chunk in chunks:
        runs = [[[] for _ in range(shards)] for _ in self._split_uris]
        for record in chunk:
          runs[split_index(record, self._buckets)][seen * shards // max(rows, 1)].append(record)
          seen += 1
        framed = [(output, tfrecord_frames(run))
                  for split_runs, split_outputs in zip(runs, outputs)
                  for run, output in zip(split_runs, split_outputs) if run]
        for done in writing:
          done.result()  # Raises what the write raised.
        writing = [compressor.submit(output.write, data) for output, data in framed]
      for done in writing:
        done.result()
    if seen != rows:
      raise RuntimeError(f'{path}: {seen} rows encoded, {rows} checked')
    for split_outputs in outputs:
      for output in split_outputs:
        output.close()
        yield output.path


class _GzipRecordFile:
  """A gzip file written as Beam's CompressedFile writes one, renamed into place when closed."""

  def __init__(self, path: str):
    self.path = path
    self._partial = path + '.incomplete'
    fileio.makedirs(os.path.dirname(path))
    self._file = fileio.open(self._partial, 'wb')
    self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                        zlib.MAX_WBITS | 16)

  def write(self, data: bytes):
    if data:
      self._file.write(self._compressor.compress(data))

  def close(self):
    self._file.write(self._compressor.flush())
    self._file.close()
    fileio.rename(self._partial, self.path, overwrite=True)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Checks, converts with declared types, splits (stratified when small)."""

  _files: List[str] = []
  _checked: List[csv_checks.FileCheck] = []
  _rows = 0
  _split_method = 'none'
  _examples_output: List[Any] = []
  _exec_properties: Dict[str, Any] = {}
  _checked_pattern: Optional[tuple] = None

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
    if self._checked_pattern == (input_base, split_pattern):
      return self._files  # Checked already, to choose the Beam pipeline.
    files = sorted(fileio.glob(os.path.join(input_base, split_pattern)))
    spec = unpack_spec(exec_properties)
    description.redactor(spec)  # Raises PIIKeyError before any work.
    logging.info('Checking %d file(s) against %s', len(files), spec.source)
    checked = csv_checks.check_files(files, spec)  # Raises InputDataError.
    self._checked = checked
    self._files = files
    self._rows = sum(c.rows for c in checked)
    self._checked_pattern = (input_base, split_pattern)
    return files

  def _writes_whole_files(self, exec_properties: Dict[str, Any]) -> bool:
    """Whether _hash_split will write every file whole (checks the files)."""
    input_config, output_config = _io_configs(exec_properties)
    split_config = output_config.split_config
    if (not split_config.splits or len(input_config.splits) != 1
        or split_config.HasField('partition_feature_name')):
      return False
    self._check(exec_properties, input_config.splits[0].pattern)
    return (self._rows >= unpack_spec(exec_properties).stratify_below_rows
            and all(c.columnar for c in self._checked))

  def _make_beam_pipeline(self):
    # One file written whole is one DoFn call: Beam's worker processes would
    # have no work to share, and each costs its start-up (importing Beam,
    # TensorFlow and TFX: about 20 CPU-s). The shard count still follows
    # the configured workers (_shards_per_file), for the readers downstream.
    if (self._make_beam_pipeline_fn is None
        and self._writes_whole_files(self._exec_properties)
        and len(self._checked) == 1):
      configured = [a for a in self._beam_pipeline_args
                    if not a.startswith(('--direct_running_mode', '--direct_num_workers'))]
      return beam.Pipeline(argv=configured + ['--direct_running_mode=in_memory',
                                              '--direct_num_workers=1'])
    return super()._make_beam_pipeline()

  def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                             exec_properties: Dict[str, Any]
                             ) -> Dict[str, beam.pvalue.PCollection]:
    input_config, output_config = _io_configs(exec_properties)
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
    if self._writes_whole_files(self._exec_properties):
      # Written here, whole files at a time: the base class's Do() writes
      # the splits returned, and there are none for it to write.
      uris = [artifact_utils.get_split_uri(self._examples_output, n) for n in names]
      _ = (pipeline
           | 'Files' >> beam.Create([(i, c.path, c.header, c.rows)
                                     for i, c in enumerate(self._checked)])
           | 'Reshuffle' >> beam.Reshuffle()
           | 'EncodeSplitWrite' >> beam.ParDo(_WriteSplitShards(
               {c.name: c.type for c in spec.columns}, description.redactor(spec),
               uris, buckets, self._shards_per_file(), len(self._checked))))
      return {}
    parts = (pipeline
             | 'InputToRecord' >> _ReadCheckedCsvSerialized(self._checked, spec)  # pylint: disable=no-value-for-parameter
             | 'SplitData' >> beam.Partition(
                 base_example_gen_executor._PartitionFn,  # pylint: disable=protected-access
                 len(buckets), buckets, output_config.split_config))
    return dict(zip(names, parts))

  def _shards_per_file(self) -> int:
    """One shard per Beam worker, as WriteToTFRecord leaves them (1 in memory)."""
    options = pipeline_options.PipelineOptions(
        self._beam_pipeline_args or []).view_as(pipeline_options.DirectOptions)
    if options.direct_running_mode == 'in_memory':
      return 1
    return options.direct_num_workers or os.cpu_count() or 1

  def Do(self, input_dict, output_dict, exec_properties
         ) -> Optional[execution_result_pb2.ExecutorOutput]:
    self._examples_output = output_dict[standard_component_specs.EXAMPLES_KEY]
    self._exec_properties = exec_properties
    self._checked_pattern = None
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
