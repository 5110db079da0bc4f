"""CheckedCsvExampleGen's executor: checks, declared types, split choice."""

import collections
import glob
import gzip
import io
import json
import os

from apache_beam.io import tfrecordio
from apache_beam.options import pipeline_options
import pytest
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

import description
from components.checked_example_gen import component
from components.checked_example_gen import executor
from components import executor_failure
from data import generator
from validation import csv_checks
from validation import csv_examples


def _props(spec, input_base, pattern='span-{SPAN}/*.csv', span=1,
           splits=(('train', 7), ('eval', 2), ('test', 1))):
  return {
      'input_base': str(input_base),
      # As the driver leaves it: {SPAN} resolved, the span recorded.
      'input_config': proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='single_split',
                                      pattern=pattern.replace('{SPAN}', str(span)))])),
      'output_config': proto_utils.proto_to_json(example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b)
              for n, b in splits]))),
      'custom_config': proto_utils.proto_to_json(executor.pack_spec(spec)),
      'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE,
      'output_file_format': example_gen_pb2.FORMAT_TFRECORDS_GZIP,
      'span': span,
  }


def _run(spec, input_base, out_dir, pattern='span-{SPAN}/*.csv', span=1,
         splits=(('train', 7), ('eval', 2), ('test', 1))):
  examples = standard_artifacts.Examples()
  examples.uri = str(out_dir)
  props = _props(spec, input_base, pattern, span, splits)
  result = executor.Executor().Do({}, {'examples': [examples]}, props)
  return result, examples


def _read(examples, split):
  files = glob.glob(os.path.join(examples.uri, f'Split-{split}', '*'))
  return [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
  root = tmp_path_factory.mktemp('eg_data')
  generator.generate(str(root), spans=1, rows_per_span=2000, seed=5, verbose=False)
  return root


def test_small_span_is_split_stratified_with_declared_types(
    data_root, tmp_path, credit_spec):
  result, examples = _run(credit_spec, data_root, tmp_path)
  assert result is None
  props = examples.mlmd_artifact.custom_properties
  assert props['split_method'].string_value == 'stratified'
  assert props['data_rows'].int_value == 2000
  assert json.loads(props['source_files'].string_value) == [
      str(data_root / 'span-1' / 'data.csv')]
  assert examples.span == 1  # The property StatisticsGen copies.
  counts = {s: collections.Counter(
      e.features.feature['outcome'].bytes_list.value[0].decode()
      for e in _read(examples, s)) for s in ('train', 'eval', 'test')}
  totals = collections.Counter()
  for c in counts.values():
    totals.update(c)
  for split, weight in (('train', 0.7), ('eval', 0.2), ('test', 0.1)):
    for label, total in totals.items():
      assert abs(counts[split][label] - total * weight) < 1, (split, label)
  example = _read(examples, 'train')[0].features.feature
  # Declared types: loan_amount is float even where values are whole numbers.
  assert example['loan_amount'].WhichOneof('kind') == 'float_list'
  assert example['credit_score'].WhichOneof('kind') in ('int64_list', None)


def test_missing_values_are_absent_features(data_root, tmp_path, credit_spec):
  _, examples = _run(credit_spec, data_root, tmp_path)
  rows = [e for s in ('train', 'eval', 'test') for e in _read(examples, s)]
  without_income = [e for e in rows if 'annual_income' not in e.features.feature]
  assert 0.02 < len(without_income) / len(rows) < 0.07  # ~4% missing.
  assert all(len(e.features.feature['application_id'].bytes_list.value) == 1
             for e in rows)


def test_above_the_threshold_the_split_is_by_hash(data_root, tmp_path, credit_spec):
  raw = dict(credit_spec.raw)
  raw['splits'] = dict(raw['splits'], stratify_below_rows=1000)
  spec = type(credit_spec).from_config({'source': 'x', 'description': raw})
  result, examples = _run(spec, data_root, tmp_path)
  assert result is None
  assert examples.mlmd_artifact.custom_properties['split_method'].string_value == 'hash'
  assert sum(len(_read(examples, s)) for s in ('train', 'eval', 'test')) == 2000


def _records(examples, split):
  files = sorted(glob.glob(os.path.join(examples.uri, f'Split-{split}', '*')))
  return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def test_the_hash_split_holds_the_records_tfx_partition_gives_each_split(
    data_root, tmp_path, credit_spec, monkeypatch):
  # The records the row reader makes, assigned by TFX's own partition function:
  # the columnar whole-file writer must give every split exactly these.
  monkeypatch.setenv('CREDIT_RISK_PII_KEY', 'test-key')
  raw = dict(_pii_spec(credit_spec, 'hash').raw)
  raw['splits'] = dict(raw['splits'], stratify_below_rows=1000)
  spec = type(credit_spec).from_config({'source': 'x', 'description': raw})
  result, examples = _run(spec, data_root, tmp_path)
  assert result is None
  path = str(data_root / 'span-1' / 'data.csv')
  assert csv_checks.check_files([path], spec)[0].columnar  # The whole-file path ran.
  buckets = [7, 9, 10]
  config = example_gen_pb2.SplitConfig()
  expected = collections.defaultdict(list)
  for record in csv_examples.read_serialized(
      path, {c.name: c.type for c in spec.columns}, description.redactor(spec)):
    expected[base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
        record, 3, buckets, config)].append(record)
  for index, split in enumerate(('train', 'eval', 'test')):
    # In the source's order, as TFX's in-memory run writes them.
    assert _records(examples, split) == expected[index], split


def test_split_index_is_tfx_partition_function():
  config = example_gen_pb2.SplitConfig()
  for n in range(2000):
    record = f'record {n}'.encode() * (n % 7 + 1)
    for buckets in ([7, 9, 10], [1, 2], [80, 100]):
      assert executor.split_index(record, buckets) == (
          base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
              record, len(buckets), buckets, config))


def test_tfrecord_frames_are_beams_tfrecord_framing():
  records = [b'', b'x', b'record' * 50, b'\x00\xff' * 300, b'x', b'record' * 50]
  expected = io.BytesIO()
  for record in records:
    tfrecordio._TFRecordUtil.write_record(expected, record)  # pylint: disable=protected-access
  assert executor.tfrecord_frames(records) == expected.getvalue()
  assert executor.tfrecord_frames([]) == b''


@pytest.mark.parametrize('args, shards', [
    ([], 1),
    (['--direct_running_mode=in_memory', '--direct_num_workers=1'], 1),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=3'], 3),
    (['--direct_running_mode=multi_processing', '--direct_num_workers=0'],
     os.cpu_count()),
])
def test_one_shard_per_beam_worker_as_write_to_tfrecord_leaves_them(args, shards):
  runner = executor.Executor(base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=args))
  assert runner._shards_per_file() == shards  # pylint: disable=protected-access


@pytest.mark.parametrize('stratify_below_rows, mode', [
    (1000, 'in_memory'),  # One file written whole: no worker processes.
    (5000, 'multi_processing'),  # Stratified: Beam's own transforms, as configured.
])
def test_worker_processes_only_where_beam_has_rows_to_share(
    data_root, credit_spec, stratify_below_rows, mode):
  raw = dict(credit_spec.raw)
  raw['splits'] = dict(raw['splits'], stratify_below_rows=stratify_below_rows)
  spec = type(credit_spec).from_config({'source': 'x', 'description': raw})
  runner = executor.Executor(base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=['--direct_running_mode=multi_processing',
                          '--direct_num_workers=2']))
  runner._exec_properties = _props(spec, data_root)  # pylint: disable=protected-access
  options = runner._make_beam_pipeline().options.view_as(  # pylint: disable=protected-access
      pipeline_options.DirectOptions)
  assert options.direct_running_mode == mode
  assert runner._shards_per_file() == 2  # pylint: disable=protected-access


def test_bad_rows_fail_the_execution_with_a_recorded_message(tmp_path, credit_spec):
  root = tmp_path / 'data'
  (root / 'span-4').mkdir(parents=True)
  header = ','.join(c.name for c in credit_spec.columns)
  (root / 'span-4' / 'data.csv').write_text(header + '\n' + 'x,' * 5 + '\n')
  result, _ = _run(credit_spec, root, tmp_path / 'out', span=4)
  assert result.execution_result.code == executor_failure.INVALID_ARGUMENT
  message = result.execution_result.result_message
  assert str(root / 'span-4' / 'data.csv') in message and 'line 2' in message
  assert 'malformed row: 6 field(s) where the header has 24' in message


def _pii_spec(credit_spec, email_treatment):
  raw = dict(credit_spec.raw)
  raw['pii'] = dict(raw['pii'], columns={'applicant_name': 'drop',
                                         'email': email_treatment})
  return type(credit_spec).from_config({'source': 'x', 'description': raw})


def test_personal_data_never_reaches_the_examples(data_root, tmp_path, credit_spec,
                                                 monkeypatch):
  monkeypatch.setenv('CREDIT_RISK_PII_KEY', 'test-key')
  spec = _pii_spec(credit_spec, 'hash')
  result, examples = _run(spec, data_root, tmp_path)
  assert result is None
  raw_names = set()
  with open(data_root / 'span-1' / 'data.csv') as f:
    for line in list(f)[1:]:
      raw_names.update(line.split(',')[1:3])
  rows = [e for s in ('train', 'eval', 'test') for e in _read(examples, s)]
  assert all('applicant_name' not in e.features.feature for e in rows)
  emails = [e.features.feature['email'].bytes_list.value[0].decode() for e in rows]
  assert all(e.startswith('hmac-sha256:') for e in emails)
  assert len(set(emails)) == len(rows)  # Unique values stay distinct.
  text = b''.join(gzip.decompress(open(p, 'rb').read()) for p in glob.glob(
      os.path.join(examples.uri, '*', '*')))
  assert text and not [v for v in raw_names if v.encode() in text]


def test_a_missing_hash_key_fails_the_execution_naming_the_variable(
    data_root, tmp_path, credit_spec, monkeypatch):
  monkeypatch.delenv('CREDIT_RISK_PII_KEY', raising=False)
  result, _ = _run(_pii_spec(credit_spec, 'hash'), data_root, tmp_path)
  assert result.execution_result.code == executor_failure.INVALID_ARGUMENT
  assert 'CREDIT_RISK_PII_KEY' in result.execution_result.result_message


def test_component_hands_the_description_to_its_executor(credit_spec):
  example_gen = component.CheckedCsvExampleGen(
      spec=credit_spec, input_base='/data',
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='single_split', pattern='*.csv')]),
      output_config=example_gen_pb2.Output())
  # As the driver hands it on: the proto's JSON form.
  config = example_gen.exec_properties['custom_config']
  if not isinstance(config, str):
    config = proto_utils.proto_to_json(config)
  assert executor.unpack_spec({'custom_config': config}) == credit_spec
