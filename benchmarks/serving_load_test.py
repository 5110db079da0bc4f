"""Load drill: 200 concurrent clients (10% malformed) through a canary, a
promotion and a `kill -9` + restart of the server process.

Passes when no valid request got a 5xx and every answered request (HTTP 200)
is in the request log under the version that answered it. Requests that found
no server (the seconds between the kill and the restart) are counted apart:
they were not answered, so they cannot be lost. Traffic only to 127.0.0.1.

  python benchmarks/serving_load_test.py [--clients 200] [--seconds 20]
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Dict, List, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from serving.request_log import RequestLogReader  # noqa: E402
from testing import toy_model  # noqa: E402

MODEL = 'credit_risk'
MALFORMED = [
    b'{"instances": [',  # truncated
    b'{"instances": [{"annual_income": NaN}]}',  # non-finite literal
    b'{"instances": ' + b'[' * 500 + b']' * 500 + b'}',  # deep
    b'{"instances": [{"zipcode": "x"}]}',  # unknown input
    b'{"instances": [{"annual_income": ' + b'9' * 400 + b'}]}',  # overflow
]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def start_server(root: str, port: int, log_dir: str, token_file: str) -> subprocess.Popen:
  proc = subprocess.Popen(
      [sys.executable, '-m', 'cli.serve', '--serving-root', root, '--model-name', MODEL,
       '--port', str(port), '--settle-seconds', '0', '--request-log-dir', log_dir,
       '--log-fsync-interval-ms', '20', '--admin-token-file', token_file,
       '--log-level', 'WARNING'],
      cwd=ROOT, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
  line = proc.stdout.readline()
  if 'serving model' not in line:
    proc.kill()
    raise SystemExit(f'server did not start: {line!r}')
  return proc


def admin(port: int, token: str, action: str, body: dict) -> dict:
  conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
  conn.request('POST', f'/v1/admin/models/{MODEL}/{action}', body=json.dumps(body),
               headers={'Content-Type': 'application/json', 'Authorization': f'Bearer {token}'})
  resp = conn.getresponse()
  payload = json.loads(resp.read())
  conn.close()
  if resp.status != 200:
    raise SystemExit(f'admin {action}: HTTP {resp.status}: {payload}')
  return payload


class Drill:
  """The client threads and what they saw."""

  def __init__(self, port: int, clients: int):
    self.port = port
    self.clients = clients
    self.stop = threading.Event()
    self.lock = threading.Lock()
    self.valid = Counter()  # status -> count (0 = no server to answer)
    self.malformed = Counter()
    self.answered: Dict[str, str] = {}  # request key -> version that answered

  def client(self, tid: int) -> None:
    rng = random.Random(tid)
    conn = None
    i = 0
    while not self.stop.is_set():
      i += 1
      key = f'c{tid}-{i}'
      bad = rng.random() < 0.10
      data = (rng.choice(MALFORMED) if bad else
              json.dumps({'instances': [toy_model.example_instance(tid * 1000 + i)]}).encode())
      try:
        if conn is None:
          conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=60)
        conn.request('POST', f'/v1/models/{MODEL}:predict', body=data, headers={
            'Content-Type': 'application/json', 'X-Request-Key': key})
        resp = conn.getresponse()
        resp.read()
        status, version = resp.status, resp.getheader('X-Model-Version')
        if resp.getheader('Connection', '').lower() == 'close':
          conn.close()
          conn = None
      except (OSError, http.client.HTTPException):
        if conn is not None:
          conn.close()
        conn, status, version = None, 0, None
        time.sleep(0.05)  # the server is down (kill -9): retry shortly
      with self.lock:
        (self.malformed if bad else self.valid)[status] += 1
        if status == 200 and not bad:
          self.answered[key] = version


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--clients', type=int, default=200)
  p.add_argument('--seconds', type=float, default=20.0, help='whole drill, about')
  args = p.parse_args(argv)
  clients = max(1, min(args.clients, 500))
  phase = max(2.0, args.seconds / 5)
  with tempfile.TemporaryDirectory() as work:
    root = os.path.join(work, 'serving')
    os.makedirs(os.path.join(root, MODEL))
    for version, bias in ((1, -30.0), (2, 30.0)):  # answers tell them apart
      src = toy_model.write_toy_model(os.path.join(work, f'bank{version}'), 1, bias=bias)
      os.rename(src, os.path.join(root, MODEL, str(version)))
    log_dir, token_file = os.path.join(work, 'log'), os.path.join(work, 'admin.token')
    port = free_port()
    proc = start_server(root, port, log_dir, token_file)
    with open(token_file) as f:
      token = f.read().strip()
    admin(port, token, 'labels', {'labels': {'stable': 1}})
    drill = Drill(port, clients)
    threads = [threading.Thread(target=drill.client, args=(t,), daemon=True)
               for t in range(clients)]
    timeline: List[Tuple[float, str]] = []
    t0 = time.monotonic()
    for t in threads:
      t.start()
    time.sleep(phase)
    admin(port, token, 'canary', {'version': 2, 'weight': 30})
    timeline.append((time.monotonic() - t0, 'canary 2 at 30%'))
    time.sleep(phase)
    admin(port, token, 'promote', {'version': 2})
    timeline.append((time.monotonic() - t0, 'promote 2'))
    time.sleep(phase)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    timeline.append((time.monotonic() - t0, 'kill -9'))
    proc = start_server(root, port, log_dir, token_file)
    timeline.append((time.monotonic() - t0, 'restarted (listening again)'))
    time.sleep(phase)
    drill.stop.set()
    for t in threads:
      t.join(120)
    proc.terminate()
    proc.wait(60)
    logged = {}
    for rec in RequestLogReader(log_dir).records(model=MODEL):
      logged[rec['request_key']] = str(rec['version'])
    lost = [k for k in drill.answered if k not in logged]
    wrong = [k for k, v in drill.answered.items() if k in logged and logged[k] != v]
    with open(os.path.join(root, MODEL + '.routing.json')) as f:
      routing = json.load(f)
  five_xx = sum(n for s, n in drill.valid.items() if s >= 500)
  malformed_5xx = sum(n for s, n in drill.malformed.items() if s >= 500)
  print(f'{clients} clients, {sum(drill.valid.values()) + sum(drill.malformed.values())} '
        f'requests in {time.monotonic() - t0:.1f} s')
  for at, what in timeline:
    print(f'  t={at:5.1f}s  {what}')
  print(f'valid requests by status:     {dict(sorted(drill.valid.items()))} '
        f'(0 = no server to answer, during the restart)')
  print(f'malformed requests by status: {dict(sorted(drill.malformed.items()))}')
  print(f'answered: {len(drill.answered)}, in the request log: {len(drill.answered) - len(lost)}, '
        f'lost: {len(lost)}, logged under another version: {len(wrong)}')
  print(f'versions that answered: {dict(Counter(drill.answered.values()))}; routing after the '
        f'restart: labels {routing["labels"]}')
  ok = (five_xx == 0 and malformed_5xx == 0 and not lost and not wrong and
        routing['labels'].get('stable') == 2)
  print('PASS' if ok else 'FAIL')
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
