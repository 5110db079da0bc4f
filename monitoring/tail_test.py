"""Following the request log: rotation, restarts, torn and garbled lines."""

import json
import os

from monitoring import tail
from serving.request_log import RequestLog


def _rec(i, version=1):
  return {'ts': 1000.0 + i, 'request_id': f'r{i}', 'model': 'm', 'version': version,
          'inputs': {'x': [float(i)]}, 'outputs': {}}


def _ids(items):
  return [i.data['request_id'] for i in items if isinstance(i, tail.Record)]


def test_reads_each_record_once_across_rotation(tmp_path):
  log = RequestLog(str(tmp_path), max_file_bytes=400)
  reader = tail.VersionTail(str(tmp_path), 'm', '1')
  seen = []
  for i in range(40):
    log.write('m', 1, [_rec(i)])
    if i % 7 == 0:
      seen += _ids(reader.poll())
  seen += _ids(reader.poll())
  log.close()
  assert len(os.listdir(tmp_path / 'm' / '1')) > 3  # it did rotate
  assert seen == [f'r{i}' for i in range(40)]


def test_a_restart_resumes_from_saved_positions(tmp_path):
  log = RequestLog(str(tmp_path), max_file_bytes=300)
  for i in range(10):
    log.write('m', 1, [_rec(i)])
  first = tail.VersionTail(str(tmp_path), 'm', '1')
  assert _ids(first.poll()) == [f'r{i}' for i in range(10)]
  saved = json.loads(json.dumps(tail.positions_to_json(first.positions)))
  for i in range(10, 20):
    log.write('m', 1, [_rec(i)])
  log.close()
  second = tail.VersionTail(str(tmp_path), 'm', '1', tail.positions_from_json(saved))
  assert _ids(second.poll()) == [f'r{i}' for i in range(10, 20)]


def test_an_unterminated_line_waits_until_it_is_complete(tmp_path):
  directory = tmp_path / 'm' / '1'
  directory.mkdir(parents=True)
  path = directory / 'requests.jsonl'
  line = json.dumps(_rec(1)).encode()
  path.write_bytes(line[:10])
  reader = tail.VersionTail(str(tmp_path), 'm', '1')
  assert list(reader.poll()) == []
  with open(path, 'ab') as f:
    f.write(line[10:] + b'\n')
  assert _ids(reader.poll()) == ['r1']


def test_garbled_and_torn_lines_are_reported_with_file_and_offset(tmp_path):
  directory = tmp_path / 'm' / '1'
  directory.mkdir(parents=True)
  good = [json.dumps(_rec(i)).encode() + b'\n' for i in range(3)]
  torn = b'{"ts": 12, "torn\n'
  data = good[0] + torn + good[1] + b'[1, 2]\n' + good[2] + b'{"half'
  (directory / 'requests.jsonl').write_bytes(data)
  items = list(tail.VersionTail(str(tmp_path), 'm', '1').poll(final=True))
  assert _ids(items) == ['r0', 'r1', 'r2']
  bad = [i for i in items if isinstance(i, tail.BadLine)]
  assert [b.offset for b in bad] == [len(good[0]), len(good[0]) + len(torn) + len(good[1]),
                                     len(data) - len(b'{"half')]
  assert 'not JSON' in bad[0].reason and 'not a JSON object' in bad[1].reason
  assert 'torn' in bad[2].reason and bad[2].text == '{"half'
  assert all(b.path.endswith('requests.jsonl') for b in bad)


def test_a_new_file_in_a_reused_inode_is_read_from_the_start(tmp_path):
  directory = tmp_path / 'm' / '1'
  directory.mkdir(parents=True)
  path = directory / 'requests.jsonl'
  path.write_bytes(b''.join(json.dumps(_rec(i)).encode() + b'\n' for i in range(5)))
  reader = tail.VersionTail(str(tmp_path), 'm', '1')
  assert len(_ids(reader.poll())) == 5
  # Same inode, other content (truncated and rewritten by someone).
  with open(path, 'r+b') as f:
    f.truncate(0)
    f.write(b''.join(json.dumps(_rec(i)).encode() + b'\n' for i in range(100, 110)))
  assert _ids(reader.poll()) == [f'r{i}' for i in range(100, 110)]


def test_large_files_are_read_in_chunks_without_losing_lines(tmp_path, monkeypatch):
  monkeypatch.setattr(tail, 'CHUNK_BYTES', 37)  # lines straddle every chunk boundary
  log = RequestLog(str(tmp_path))
  log.write('m', 1, [_rec(i) for i in range(25)])
  log.close()
  reader = tail.VersionTail(str(tmp_path), 'm', '1')
  assert _ids(reader.poll()) == [f'r{i}' for i in range(25)]
  size = os.path.getsize(tmp_path / 'm' / '1' / 'requests.jsonl')
  assert [p.offset for p in reader.positions.values()] == [size]
