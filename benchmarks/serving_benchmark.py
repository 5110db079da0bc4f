"""Latency, throughput and memory of the REST model server against its floor.

The floor is a direct in-process call of the same signature on the same batch
(already decoded to tensors). The server runs as its own process
(`python -m cli.serve`, as in production; `--in-process` runs it in this
process instead) on 127.0.0.1. Printed side by side, in one run: p50/p99 of a
sequential client against the direct call (and their ratio), sustained
requests/s at each --clients level (default 1, 16 and 200 concurrent
keep-alive clients, each level bounded by --seconds-per-level), and the
server's resident memory (peak and at the end of the 200-client level).

  python benchmarks/serving_benchmark.py                      # the toy model
  python benchmarks/serving_benchmark.py --model-dir SERVING_ROOT/credit_risk
  python benchmarks/serving_benchmark.py --clients 1,16,200 --seconds-per-level 8

Loops are bounded by --requests and the seconds; traffic goes only to 127.0.0.1.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from serving import rest_codec  # noqa: E402
from testing import toy_model  # noqa: E402

MODEL = 'credit_risk'


def percentile(values: List[float], q: float) -> float:
  if not values:
    return float('nan')
  s = sorted(values)
  k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
  return s[k]


def resolve_model(model_dir: Optional[str], work: str) -> Tuple[str, int]:
  """(base path holding integer versions, version to benchmark)."""
  if model_dir is None:
    base = os.path.join(work, MODEL)
    toy_model.write_toy_model(base, 1)
    return base, 1
  model_dir = os.path.abspath(model_dir)
  if os.path.exists(os.path.join(model_dir, 'saved_model.pb')):
    name = os.path.basename(model_dir.rstrip('/'))
    if name.isdigit():
      return os.path.dirname(model_dir), int(name)
    base = os.path.join(work, MODEL)
    os.makedirs(base)
    os.symlink(model_dir, os.path.join(base, '1'))
    return base, 1
  versions = [int(n) for n in os.listdir(model_dir)
              if n.isdigit() and os.path.exists(os.path.join(model_dir, n, 'saved_model.pb'))]
  if not versions:
    raise SystemExit(f'{model_dir}: no <version>/saved_model.pb and no saved_model.pb')
  return model_dir, max(versions)


def make_instances(sig: rest_codec.SignatureInfo, n: int,
                   request_file: Optional[str], toy: bool) -> List[Dict[str, Any]]:
  if request_file:
    with open(request_file) as f:
      rows = json.load(f)
    rows = rows.get('instances', rows) if isinstance(rows, dict) else rows
    return [rows[i % len(rows)] for i in range(n)]
  if toy:
    return [toy_model.example_instance(i) for i in range(n)]
  out = []
  for i in range(n):
    row = {}
    for name, info in sig.inputs.items():
      row[name] = '' if info.dtype == 'string' else (float(i % 7) if info.dtype.startswith(
          'float') else i % 7)
    out.append(row)
  return out


def bench_direct(base: str, version: int, body: Dict[str, Any], requests: int, threads: int,
                 max_seconds: float, contract: bool) -> Dict[str, float]:
  from serving.model_store import Contract, ModelStore  # pylint: disable=g-import-not-at-top
  store = ModelStore(MODEL, base, contract=Contract() if contract else None)
  model = store.load_version(version)
  req = rest_codec.decode_request(body, model.signatures)
  for _ in range(20):
    model.predict(req.signature_name, req.tensors)
  # Latency: sequential calls.
  lat = []
  deadline = time.monotonic() + max_seconds / 2
  for _ in range(min(requests, 2000)):
    t0 = time.perf_counter()
    model.predict(req.signature_name, req.tensors)
    lat.append(time.perf_counter() - t0)
    if time.monotonic() > deadline:
      break
  # Throughput: the same number of threads as the HTTP clients.
  done = [0]
  lock = threading.Lock()
  deadline = time.monotonic() + max_seconds / 2
  per = max(1, requests // threads)

  def worker():
    for _ in range(per):
      model.predict(req.signature_name, req.tensors)
      with lock:
        done[0] += 1
      if time.monotonic() > deadline:
        break

  t0 = time.perf_counter()
  ts = [threading.Thread(target=worker) for _ in range(threads)]
  for t in ts:
    t.start()
  for t in ts:
    t.join()
  wall = time.perf_counter() - t0
  return {'p50_ms': 1e3 * percentile(lat, 50), 'p99_ms': 1e3 * percentile(lat, 99),
          'rps': done[0] / wall, 'n': done[0]}


def start_server_process(serving_root: str, log_dir: Optional[str], contract: bool,
                         extra: List[str] = ()) -> Tuple[subprocess.Popen, int]:
  cmd = [sys.executable, '-m', 'cli.serve', '--model-name', MODEL, '--serving-root',
         serving_root, '--port', '0', '--settle-seconds', '0', '--log-level', 'WARNING',
         '--admin-token-file', os.path.join(os.path.dirname(serving_root), 'admin.token')]
  if log_dir:
    cmd += ['--request-log-dir', log_dir, '--log-fsync-interval-ms', '50']
  if not contract:
    cmd.append('--no-contract-check')
  cmd += list(extra)
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ))
  line = proc.stdout.readline()
  if 'http://' not in line:
    proc.kill()
    raise SystemExit(f'server did not start: {line!r}')
  port = int(line.split('http://')[1].split(':')[1].split()[0].rstrip(','))
  return proc, port


def rss_mb(pid: int) -> Dict[str, float]:
  """Resident memory of a process from /proc: now and its peak (VmHWM)."""
  out = {}
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith(('VmRSS:', 'VmHWM:')):
          out[line.split(':')[0]] = int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return {'rss_mb': out.get('VmRSS', float('nan')), 'peak_rss_mb': out.get('VmHWM',
                                                                          float('nan'))}


def sequential(port: int, path: str, payloads: List[bytes], requests: int,
               max_seconds: float) -> Dict[str, float]:
  """Per-request latency without queueing: one client, one request at a time."""
  conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
  for i in range(20):  # warm-up
    conn.request('POST', path, body=payloads[i % len(payloads)],
                 headers={'Content-Type': 'application/json'})
    conn.getresponse().read()
  seq = []
  deadline = time.monotonic() + max_seconds
  for i in range(min(requests, 2000)):
    t1 = time.perf_counter()
    conn.request('POST', path, body=payloads[i % len(payloads)],
                 headers={'Content-Type': 'application/json'})
    conn.getresponse().read()
    seq.append(time.perf_counter() - t1)
    if time.monotonic() > deadline:
      break
  conn.close()
  return {'p50_ms': 1e3 * percentile(seq, 50), 'p99_ms': 1e3 * percentile(seq, 99),
          'n': len(seq)}


def concurrent_level(port: int, path: str, payloads: List[bytes], clients: int,
                     seconds: float, pid: Optional[int]) -> Dict[str, float]:
  """`clients` keep-alive connections sending for `seconds`; req/s, latency, memory."""
  lat: List[float] = []
  statuses: Dict[int, int] = {}
  lock = threading.Lock()
  start = threading.Barrier(clients + 1, timeout=120)
  stop_at = [0.0]

  def client(tid):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    local, codes, i = [], {}, 0
    start.wait()
    while time.monotonic() < stop_at[0]:
      data = payloads[(tid + i) % len(payloads)]
      t0 = time.perf_counter()
      try:
        conn.request('POST', path, body=data, headers={
            'Content-Type': 'application/json', 'X-Request-Key': f'{tid}-{i}'})
        resp = conn.getresponse()
        resp.read()
        code = resp.status
      except (OSError, http.client.HTTPException):
        conn.close()
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
        code = 0
      local.append(time.perf_counter() - t0)
      codes[code] = codes.get(code, 0) + 1
      i += 1
    conn.close()
    with lock:
      lat.extend(local)
      for k, v in codes.items():
        statuses[k] = statuses.get(k, 0) + v

  ts = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(clients)]
  for t in ts:
    t.start()
  stop_at[0] = time.monotonic() + seconds
  t0 = time.perf_counter()
  start.wait()
  memory = {}
  for t in ts:
    t.join(seconds + 120)
    if pid and not memory:
      memory = rss_mb(pid)  # while the other clients are still connected
  wall = time.perf_counter() - t0
  ok = statuses.get(200, 0)
  out = {'clients': clients, 'rps': ok / wall, 'p50_ms': 1e3 * percentile(lat, 50),
         'p99_ms': 1e3 * percentile(lat, 99), 'n': len(lat),
         'non_200': sum(v for k, v in statuses.items() if k != 200), 'statuses': statuses}
  out.update(memory)
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--model-dir', help='a pushed model: <serving_root>/<name> or a version dir '
                 '(default: the toy model)')
  p.add_argument('--request-file', help='JSON list of instances (or {"instances": [...]})')
  p.add_argument('--requests', type=int, default=2000, help='bound of the sequential runs')
  p.add_argument('--clients', default='1,16,200', help='concurrent client levels')
  p.add_argument('--seconds-per-level', type=float, default=8.0)
  p.add_argument('--batch-size', type=int, default=1, help='instances per request')
  p.add_argument('--max-seconds', type=float, default=20.0, help='bound of the sequential runs')
  p.add_argument('--in-process', action='store_true', help='run the server in this process')
  p.add_argument('--no-request-log', action='store_true')
  p.add_argument('--no-contract-check', action='store_true')
  p.add_argument('--server-arg', action='append', default=[],
                 help='passed to python -m cli.serve, e.g. --server-arg=--worker-threads=4')
  p.add_argument('--json', help='also write the results to this JSON file')
  args = p.parse_args(argv)
  requests = max(1, min(args.requests, 100000))
  levels = [max(1, min(int(c), 500)) for c in args.clients.split(',')]
  contract = not args.no_contract_check

  with tempfile.TemporaryDirectory() as work:
    base, version = resolve_model(args.model_dir, work)
    serving_root = os.path.join(work, 'root')
    os.makedirs(serving_root)
    os.symlink(os.path.abspath(base), os.path.join(serving_root, MODEL))
    from serving.model_store import Contract, ModelStore  # pylint: disable=g-import-not-at-top
    probe = ModelStore(MODEL, base, contract=Contract() if contract else None)
    sig = probe.load_version(version).signatures['serving_default']
    del probe
    instances = make_instances(sig, max(64, args.batch_size * 8), args.request_file,
                               toy=args.model_dir is None)
    batches = [instances[i:i + args.batch_size]
               for i in range(0, len(instances) - args.batch_size + 1, args.batch_size)]
    payloads = [json.dumps({'instances': b}).encode() for b in batches]
    body = {'instances': batches[0]}

    direct = bench_direct(base, version, body, requests, 16, args.max_seconds, contract)
    log_dir = None if args.no_request_log else os.path.join(work, 'requests')
    path = f'/v1/models/{MODEL}/versions/{version}:predict'
    if args.in_process:
      from serving.server import ModelServer  # pylint: disable=g-import-not-at-top
      srv = ModelServer(serving_root, MODEL, request_log_dir=log_dir,
                        contract=Contract() if contract else None).serve_in_background()
      port, pid, stop = srv.port, None, srv.shutdown
    else:
      proc, port = start_server_process(serving_root, log_dir, contract, args.server_arg)
      pid = proc.pid

      def stop():
        proc.terminate()
        try:
          proc.wait(30)
        except subprocess.TimeoutExpired:
          proc.kill()

    try:
      seq = sequential(port, path, payloads, requests, args.max_seconds)
      at_start = rss_mb(pid) if pid else {}
      results = [concurrent_level(port, path, payloads, n, args.seconds_per_level, pid)
                 for n in levels]
      at_end = rss_mb(pid) if pid else {}
    finally:
      stop()

  report(args, version, direct, seq, results, at_start, at_end)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'direct': direct, 'sequential': seq, 'levels': results,
                 'memory_at_start': at_start, 'memory_at_end': at_end, 'args': vars(args)},
                f, indent=2, default=str)
  return 1 if any(r['non_200'] for r in results) else 0


def report(args, version, direct, seq, results, at_start, at_end) -> None:
  print(f'model: {"toy" if args.model_dir is None else args.model_dir} (version {version}), '
        f'batch {args.batch_size}, {"in-process" if args.in_process else "separate"} server, '
        f'request log {"off" if args.no_request_log else "on"}, {os.cpu_count()} CPUs')
  print(f'{"":34s}{"p50 ms":>9s}{"p99 ms":>9s}{"req/s":>9s}{"RSS MB":>9s}{"non-200":>9s}')
  print(f'{"direct signature call (1 thread)":34s}{direct["p50_ms"]:9.3f}'
        f'{direct["p99_ms"]:9.3f}{"":>9s}')
  print(f'{"direct signature call (16 thr.)":34s}{"":>18s}{direct["rps"]:9.0f}')
  print(f'{"server, 1 sequential client":34s}{seq["p50_ms"]:9.3f}{seq["p99_ms"]:9.3f}'
        f'{"":>9s}{at_start.get("rss_mb", float("nan")):9.0f}')
  for r in results:
    print(f'{"server, %d concurrent clients" % r["clients"]:34s}{r["p50_ms"]:9.3f}'
          f'{r["p99_ms"]:9.3f}{r["rps"]:9.0f}{r.get("rss_mb", float("nan")):9.0f}'
          f'{r["non_200"]:9d}')
  print(f'ratio server/direct: p50 x{seq["p50_ms"] / direct["p50_ms"]:.2f}, '
        f'p99 x{seq["p99_ms"] / direct["p99_ms"]:.2f}; server peak RSS '
        f'{at_end.get("peak_rss_mb", float("nan")):.0f} MB')


if __name__ == '__main__':
  sys.exit(main())
