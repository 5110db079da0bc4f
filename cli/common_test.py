"""The shared --work-dir / --metadata / --pipeline-name resolver."""

import argparse
import os

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from cli import common


def _args(argv):
  return common.add_location_arguments(argparse.ArgumentParser()).parse_args(argv)


def _store(path, *pipelines):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  store = metadata_store.MetadataStore(config)
  type_id = store.put_context_type(metadata_store_pb2.ContextType(name='pipeline'))
  store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=p) for p in pipelines])


def test_the_only_pipeline_in_the_work_dir_is_chosen_whatever_its_name(tmp_path):
  os.makedirs(tmp_path / 'my_churn')
  _store(str(tmp_path / 'my_churn' / 'metadata.sqlite'), 'my_churn')
  location = common.resolve(_args(['--work-dir', str(tmp_path)]))
  assert location.pipeline_name == 'my_churn'
  assert location.metadata_path == str(tmp_path / 'my_churn' / 'metadata.sqlite')
  assert location.pipeline_root.endswith(os.path.join('my_churn', 'pipeline_root'))


def test_several_pipelines_need_a_name_and_the_error_lists_them(tmp_path):
  for name in ('a_data', 'b_data'):
    os.makedirs(tmp_path / name)
    _store(str(tmp_path / name / 'metadata.sqlite'), name)
  with pytest.raises(common.LocationError, match='a_data, b_data'):
    common.resolve(_args(['--work-dir', str(tmp_path)]))
  chosen = common.resolve(_args(['--work-dir', str(tmp_path), '--pipeline-name', 'b_data']))
  assert chosen.pipeline_name == 'b_data'


def test_a_store_given_directly_names_its_pipeline(tmp_path):
  path = str(tmp_path / 'elsewhere.sqlite')
  _store(path, 'taxi')
  location = common.resolve(_args(['--metadata', path]))
  assert (location.pipeline_name, location.metadata_path) == ('taxi', path)


def test_an_empty_work_dir_and_a_missing_store_are_clear_errors(tmp_path):
  with pytest.raises(common.LocationError, match='no pipeline has run'):
    common.resolve(_args(['--work-dir', str(tmp_path)]))
  with pytest.raises(common.LocationError, match='no metadata store'):
    common.resolve(_args(['--metadata', str(tmp_path / 'missing.sqlite')]))
