"""The atomic writer: all or nothing, owner-only by default, no temporary left behind."""

import json
import os
import stat

import pytest

import durable


def test_json_is_written_whole_and_owner_only(tmp_path):
  path = str(tmp_path / 'deep' / 'state.json')
  durable.write_json(path, {'b': 1, 'a': [1, 2]})
  assert json.load(open(path)) == {'a': [1, 2], 'b': 1}
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
  assert os.listdir(tmp_path / 'deep') == ['state.json']


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
  path = str(tmp_path / 'state.json')
  durable.write_text(path, 'old')
  with pytest.raises(TypeError):
    durable.write_json(path, {'not json': object()})
  assert open(path).read() == 'old'
  assert os.listdir(tmp_path) == ['state.json']


def test_a_wider_mode_is_asked_for_explicitly(tmp_path):
  path = durable.write_text(str(tmp_path / 'report.html'), '<p>', mode=0o640)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_read_json_tells_absent_from_null_and_names_a_broken_file(tmp_path):
  path = str(tmp_path / 'state.json')
  assert durable.read_json(path, 'the state') is durable.ABSENT
  durable.write_text(path, 'null')
  assert durable.read_json(path, 'the state') is None
  durable.write_json(path, {'a': 1})
  assert durable.read_json(path, 'the state') == {'a': 1}
  durable.write_text(path, '{"a": ')
  with pytest.raises(LookupError, match='state.json: cannot read the state'):
    durable.read_json(path, 'the state', LookupError)
