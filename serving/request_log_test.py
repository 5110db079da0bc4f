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
