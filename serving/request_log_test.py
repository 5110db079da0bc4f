"""Unit tests of the JSON Lines request log."""

import json
import math
import os
import threading

from serving.request_log import RequestLog, RequestLogReader, count_records, read_records


def _rec(i, role='stable', version=1):
  return {'ts': 1000.0 + i, 'request_id': f'r{i}', 'version': version, 'role': role,
          'inputs': {'x': float(i), 'missing': math.nan, 'blob': b'\x00'}, 'outputs': {}}


def test_concurrent_writers_lose_nothing(tmp_path):
  log = RequestLog(str(tmp_path), max_file_bytes=20000)
  threads, per_thread, batch = 32, 25, 3

  def writer(t):
    for i in range(per_thread):
      log.write('m', 1 + t % 2, [_rec(t * 10000 + i * 10 + j, version=1 + t % 2)
                                 for j in range(batch)])

  ts = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
  for t in ts:
    t.start()
  for t in ts:
    t.join()
  log.close()
  reader = RequestLogReader(str(tmp_path))
  recs = list(reader.records())
  assert len(recs) == threads * per_thread * batch
  assert len({r['request_id'] for r in recs}) == len(recs)
  assert reader.skipped == 0
  assert len(reader.files('m', 1)) > 1  # rotation happened, nothing lost across segments
  assert reader.versions('m') == ['1', '2']
  assert count_records(str(tmp_path), model='m', version=2) == threads // 2 * per_thread * batch


def test_records_are_strict_json_and_filterable(tmp_path):
  log = RequestLog(str(tmp_path), fsync=True)
  log.write('m', 7, [_rec(0), _rec(1, role='shadow')])
  log.close()
  with open(os.path.join(tmp_path, 'm', '7', 'requests.jsonl')) as f:
    lines = f.read().splitlines()
  first = json.loads(lines[0])
  assert first['inputs']['missing'] is None and first['inputs']['blob'] == '\x00'
  assert [r['role'] for r in read_records(str(tmp_path), role='shadow')] == ['shadow']
  assert [r['request_id'] for r in read_records(str(tmp_path), since=1000.5)] == ['r1']


def test_reader_skips_a_torn_last_line(tmp_path):
  log = RequestLog(str(tmp_path))
  log.write('m', 1, [_rec(0)])
  log.close()
  with open(log.path_for('m', 1), 'ab') as f:
    f.write(b'{"ts": 1, "truncated')
  reader = RequestLogReader(str(tmp_path))
  assert len(list(reader.records())) == 1 and reader.skipped == 1
  # Appending after a restart keeps earlier records.
  log2 = RequestLog(str(tmp_path))
  log2.write('m', 1, [_rec(5)])
  log2.close()
  reader = RequestLogReader(str(tmp_path))
  assert [r['request_id'] for r in reader.records()] == ['r0', 'r5']
  assert reader.skipped == 1


# ----------------------------------------------------------------- issue 14, finding 6
def test_rotation_after_retention_never_overwrites_a_segment(tmp_path):
  log = RequestLog(str(tmp_path), max_file_bytes=400)
  for i in range(12):
    log.write('m', 1, [_rec(i)])
  log.close()
  d = tmp_path / 'm' / '1'
  segments = sorted(n for n in os.listdir(d) if n != 'requests.jsonl')
  assert len(segments) >= 3
  os.remove(d / segments[0])  # retention deletes the oldest
  before = {n: (d / n).read_bytes() for n in os.listdir(d) if n != 'requests.jsonl'}
  log = RequestLog(str(tmp_path), max_file_bytes=400)
  for i in range(12, 20):
    log.write('m', 1, [_rec(i)])
  log.close()
  # Every surviving segment is untouched, and every record is still there once.
  for name, data in before.items():
    assert (d / name).read_bytes() == data, name
  ids = [r['request_id'] for r in read_records(str(tmp_path))]
  assert len(ids) == len(set(ids))
  lost = {json.loads(line)['request_id'] for line in
          (b'').join(before.values()).splitlines()}
  assert lost <= set(ids) and {f'r{i}' for i in range(12, 20)} <= set(ids)


def test_short_write_is_cut_back_and_files_are_private(tmp_path, monkeypatch):
  log = RequestLog(str(tmp_path))
  log.write('m', 1, [_rec(0)])
  real_write = os.write
  calls = []

  def half_then_full_disk(fd, data):
    calls.append(len(data))
    if len(calls) == 1:
      return real_write(fd, bytes(data[:len(data) // 2]))
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(os, 'write', half_then_full_disk)
  try:
    log.write('m', 1, [_rec(1)])
    raise AssertionError('the failed write should raise')
  except OSError:
    pass
  monkeypatch.setattr(os, 'write', real_write)
  log.write('m', 1, [_rec(2)])
  log.close()
  path = tmp_path / 'm' / '1' / 'requests.jsonl'
  lines = path.read_bytes().splitlines()
  assert [json.loads(l)['request_id'] for l in lines] == ['r0', 'r2']  # no fragment
  assert os.stat(path).st_mode & 0o777 == 0o600
  assert os.stat(tmp_path / 'm').st_mode & 0o777 == 0o700


def test_group_commit_fsyncs_in_the_background_not_per_write(tmp_path, monkeypatch):
  synced = []
  real_fsync = os.fsync

  def slow_fsync(fd):
    synced.append(fd)
    import time  # pylint: disable=g-import-not-at-top
    time.sleep(0.05)
    real_fsync(fd)

  monkeypatch.setattr(os, 'fsync', slow_fsync)
  log = RequestLog(str(tmp_path), fsync_interval_ms=20)
  import time  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  for i in range(200):
    log.write('m', 1, [_rec(i)])
  elapsed = time.perf_counter() - start
  # 200 writes with a 50 ms fsync each would take 10 s if writes waited for it.
  assert elapsed < 2.0, elapsed
  deadline = time.monotonic() + 5
  while not log.fsync_rounds and time.monotonic() < deadline:
    time.sleep(0.01)
  assert synced and log.fsync_rounds >= 1
  log.close()
  assert count_records(str(tmp_path)) == 200
