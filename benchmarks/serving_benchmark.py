"""Latency and throughput of the REST model server against its floor.

The floor is a direct in-process call of the same signature on the same batch
(already decoded to tensors). The server runs as its own process
(`python -m serving.server`, as in production; `--in-process` runs it in this
process instead) on 127.0.0.1, and several client threads with keep-alive
connections send a bounded number of requests. Printed: p50/p99 latency and
sustained requests/s for both, and the ratios server/direct.

  python benchmarks/serving_benchmark.py                      # the toy model
  python benchmarks/serving_benchmark.py --model-dir SERVING_ROOT/credit_risk
  python benchmarks/serving_benchmark.py --model-dir .../credit_risk/1732262400 \\
      --request-file rows.json --threads 8 --requests 4000

Loops are bounded by --requests and --max-seconds; traffic goes only to 127.0.0.1.
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


def start_server_process(serving_root: str, log_dir: Optional[str],
                         contract: bool) -> Tuple[subprocess.Popen, int]:
  cmd = [sys.executable, '-m', 'serving.server', '--model-name', MODEL, '--serving-root',
         serving_root, '--port', '0', '--settle-seconds', '0', '--log-level', 'WARNING']
  if log_dir:
    cmd += ['--request-log-dir', log_dir]
  if not contract:
    cmd.append('--no-contract-check')
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ))
  line = proc.stdout.readline()
  if 'http://' not in line:
    proc.kill()
    raise SystemExit(f'server did not start: {line!r}')
  port = int(line.split('http://')[1].split(':')[1].split()[0])
  return proc, port


def bench_http(port: int, path: str, payloads: List[bytes], requests: int, threads: int,
               max_seconds: float) -> Dict[str, float]:
  lat: List[float] = []
  errors = [0]
  lock = threading.Lock()
  per = max(1, requests // threads)

  def client(tid):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    local = []
    bad = 0
    deadline = time.monotonic() + max_seconds
    for i in range(per):
      data = payloads[(tid * per + i) % len(payloads)]
      t0 = time.perf_counter()
      conn.request('POST', path, body=data, headers={
          'Content-Type': 'application/json', 'X-Request-Key': f'{tid}-{i}'})
      resp = conn.getresponse()
      resp.read()
      local.append(time.perf_counter() - t0)
      bad += resp.status != 200
      if time.monotonic() > deadline:
        break
    conn.close()
    with lock:
      lat.extend(local)
      errors[0] += bad

  # Warm-up (connections, first calls).
  warm = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
  for i in range(20):
    warm.request('POST', path, body=payloads[i % len(payloads)],
                 headers={'Content-Type': 'application/json'})
    warm.getresponse().read()
  warm.close()
  t0 = time.perf_counter()
  ts = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
  for t in ts:
    t.start()
  for t in ts:
    t.join()
  wall = time.perf_counter() - t0
  # Per-request latency without queueing: one client, sequential.
  seq = []
  conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
  deadline = time.monotonic() + max_seconds / 2
  for i in range(min(requests, 1000)):
    t1 = time.perf_counter()
    conn.request('POST', path, body=payloads[i % len(payloads)],
                 headers={'Content-Type': 'application/json'})
    conn.getresponse().read()
    seq.append(time.perf_counter() - t1)
    if time.monotonic() > deadline:
      break
  conn.close()
  return {'p50_ms': 1e3 * percentile(seq, 50), 'p99_ms': 1e3 * percentile(seq, 99),
          'loaded_p50_ms': 1e3 * percentile(lat, 50), 'loaded_p99_ms': 1e3 * percentile(lat, 99),
          'rps': len(lat) / wall, 'n': len(lat), 'errors': errors[0]}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--model-dir', help='a pushed model: <serving_root>/<name> or a version dir '
                 '(default: the toy model)')
  p.add_argument('--request-file', help='JSON list of instances (or {"instances": [...]})')
  p.add_argument('--requests', type=int, default=2000, help='requests per measurement')
  p.add_argument('--threads', type=int, default=8)
  p.add_argument('--batch-size', type=int, default=1, help='instances per request')
  p.add_argument('--max-seconds', type=float, default=60.0, help='bound per measurement')
  p.add_argument('--in-process', action='store_true', help='run the server in this process')
  p.add_argument('--no-request-log', action='store_true')
  p.add_argument('--no-contract-check', action='store_true')
  p.add_argument('--json', help='also write the results to this JSON file')
  args = p.parse_args(argv)
  requests = max(1, min(args.requests, 100000))
  threads = max(1, min(args.threads, 64))
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

    direct = bench_direct(base, version, body, requests, threads, args.max_seconds, contract)
    log_dir = None if args.no_request_log else os.path.join(work, 'requests')
    path = f'/v1/models/{MODEL}/versions/{version}:predict'
    if args.in_process:
      from serving.server import ModelServer  # pylint: disable=g-import-not-at-top
      srv = ModelServer(serving_root, MODEL, request_log_dir=log_dir,
                        contract=Contract() if contract else None).serve_in_background()
      try:
        http_res = bench_http(srv.port, path, payloads, requests, threads, args.max_seconds)
      finally:
        srv.shutdown()
    else:
      proc, port = start_server_process(serving_root, log_dir, contract)
      try:
        http_res = bench_http(port, path, payloads, requests, threads, args.max_seconds)
      finally:
        proc.terminate()
        try:
          proc.wait(20)
        except subprocess.TimeoutExpired:
          proc.kill()

  ratios = {
      'p50_latency_ratio': http_res['p50_ms'] / direct['p50_ms'],
      'p99_latency_ratio': http_res['p99_ms'] / direct['p99_ms'],
      'throughput_ratio': http_res['rps'] / direct['rps'],
  }
  cpu = os.cpu_count()
  print(f'model: {"toy" if args.model_dir is None else args.model_dir} (version {version}), '
        f'batch {args.batch_size}, {threads} client threads, {requests} requests, '
        f'{"in-process" if args.in_process else "separate"} server, '
        f'request log {"off" if args.no_request_log else "on"}, {cpu} CPUs')
  print(f'{"":28s}{"p50 ms":>10s}{"p99 ms":>10s}{"req/s":>10s}')
  print(f'{"direct signature call":28s}{direct["p50_ms"]:10.3f}{direct["p99_ms"]:10.3f}'
        f'{direct["rps"]:10.0f}')
  print(f'{"server, sequential client":28s}{http_res["p50_ms"]:10.3f}{http_res["p99_ms"]:10.3f}'
        f'{"":>10s}')
  print(f'{f"server, {threads} clients":28s}{http_res["loaded_p50_ms"]:10.3f}'
        f'{http_res["loaded_p99_ms"]:10.3f}{http_res["rps"]:10.0f}')
  print(f'ratios server/direct: p50 x{ratios["p50_latency_ratio"]:.1f}, '
        f'p99 x{ratios["p99_latency_ratio"]:.1f}, throughput x{ratios["throughput_ratio"]:.2f} '
        f'({http_res["errors"]} non-200 of {http_res["n"]})')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'direct': direct, 'server': http_res, 'ratios': ratios,
                 'args': vars(args)}, f, indent=2)
  return 1 if http_res['errors'] else 0


if __name__ == '__main__':
  sys.exit(main())
