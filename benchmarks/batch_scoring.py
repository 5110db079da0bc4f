"""Batch scoring throughput: the Beam command against the REST server and the floor.

For each size, rows of the default generator are scored three ways with the
same model version, and rows per second are printed side by side:

  command  `python -m cli.score` end to end, as a user runs it (process start,
           header checks, Beam with the local mode picked by size, the joined
           output and rejects files), and the largest RSS of its processes;
  server   the REST server in its own process (`python -m cli.serve`, as
           benchmarks/serving_benchmark.py starts it), client threads reading
           the CSV and posting batches of instances (row format);
  floor    one process calling the signature on batches already decoded to
           arrays (decoding untimed): the model's own cost.

  python benchmarks/batch_scoring.py                  # trains a model first (local_runner)
  python benchmarks/batch_scoring.py --serving-dir work/credit_risk/serving/credit_risk \\
      --rows 100000 1000000
"""

import argparse
import csv
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, Iterator, List, Optional

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import description  # noqa: E402
from benchmarks import serving_benchmark  # noqa: E402
from data import generator  # noqa: E402
from pipeline import configs  # noqa: E402
from scoring import predict  # noqa: E402
from scoring import versions  # noqa: E402

TRAIN_ROWS = 20_000


def _env() -> Dict[str, str]:
  return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def train_model(work: str) -> str:
  """A model pushed by the default pipeline on the default generator's data."""
  data = os.path.join(work, 'train_data')
  generator.generate(data, spans=1, rows_per_span=TRAIN_ROWS, labeler_fraction=0.05,
                     verbose=False)
  started = time.time()
  run = subprocess.run([sys.executable, os.path.join(ROOT, 'local_runner.py'),
                        '--data-root', data, '--work-dir', os.path.join(work, 'work')],
                       capture_output=True, text=True, env=_env(), cwd=ROOT)
  if run.returncode != 0:
    raise SystemExit(f'local_runner failed ({run.returncode}):\n{run.stderr[-3000:]}')
  print(f'trained and pushed a model on {TRAIN_ROWS} rows in {time.time() - started:.0f} s')
  return configs.serving_model_dir(os.path.join(work, 'work'), 'credit_risk')


def make_data(work: str, sizes: List[int]) -> Dict[int, str]:
  """One generated span of the largest size; each smaller size is its head."""
  biggest = max(sizes)
  generator.generate(os.path.join(work, 'data'), spans=1, rows_per_span=biggest,
                     labeler_fraction=0.0, verbose=False)
  source = os.path.join(work, 'data', 'span-1', 'data.csv')
  paths = {biggest: source}
  for n in sizes:
    if n != biggest:
      paths[n] = os.path.join(work, f'head-{n}.csv')
      with open(source) as f, open(paths[n], 'w') as out:
        for i, line in enumerate(f):
          if i > n:
            break
          out.write(line)
  return paths


def _peak_tree_rss(proc: subprocess.Popen, peak: List[float]) -> None:
  """Samples the summed RSS of proc and its children (Beam's workers) until it ends."""
  import psutil  # pylint: disable=g-import-not-at-top
  try:
    root = psutil.Process(proc.pid)
  except psutil.NoSuchProcess:
    return
  while proc.poll() is None:
    total = 0
    for p in [root] + root.children(recursive=True):
      try:
        total += p.memory_info().rss
      except psutil.Error:
        pass
    peak[0] = max(peak[0], total / 2**20)
    time.sleep(0.2)


def bench_command(path: str, model_dir: str, out: str, spec_path: str) -> Dict[str, float]:
  started = time.perf_counter()
  proc = subprocess.Popen([sys.executable, '-m', 'cli.score', '--input', path, '--out', out,
                           '--serving-dir', model_dir, '--description', spec_path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=_env(), cwd=ROOT)
  peak = [0.0]
  sampler = threading.Thread(target=_peak_tree_rss, args=(proc, peak))
  sampler.start()
  stdout, stderr = proc.communicate()
  seconds = time.perf_counter() - started
  sampler.join()
  if proc.returncode != 0:
    raise SystemExit(f'cli.score failed:\n{stderr[-3000:]}')
  scored = int(stdout.split('scored   :')[1].split()[0])
  return {'seconds': seconds, 'rows': scored, 'peak_rss_mb': peak[0]}


def _instances(path: str, inputs: Dict[str, str], batch: int) -> Iterator[bytes]:
  """Request bodies of `batch` rows; missing values as null (the server's convention)."""
  with open(path, newline='') as f:
    rows = []
    for record in csv.DictReader(f):
      rows.append({k: (record[k] if dtype == 'string' else
                       (float(record[k]) if record[k] else None))
                   for k, dtype in inputs.items()})
      if len(rows) == batch:
        yield json.dumps({'instances': rows}).encode()
        rows = []
    if rows:
      yield json.dumps({'instances': rows}).encode()


def bench_server(path: str, model_dir: str, version: int, inputs: Dict[str, str],
                 batch: int, threads: int) -> Dict[str, float]:
  serving_root = os.path.dirname(os.path.normpath(model_dir))
  proc, port = serving_benchmark.start_server_process(serving_root, None, contract=True)
  bodies = _instances(path, inputs, batch)
  lock = threading.Lock()
  done, errors = [0], []
  url = f'/v1/models/{os.path.basename(model_dir)}/versions/{version}:predict'

  def client():
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=300)
    while True:
      with lock:
        body = next(bodies, None)
      if body is None:
        break
      conn.request('POST', url, body=body, headers={'Content-Type': 'application/json'})
      response = conn.getresponse()
      answer = json.loads(response.read())
      with lock:
        if response.status != 200:
          errors.append(answer)
        else:
          done[0] += len(answer['predictions'])
    conn.close()

  try:
    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
      w.start()
    for w in workers:
      w.join()
    seconds = time.perf_counter() - started
  finally:
    proc.terminate()
    proc.wait(30)
  if errors:
    raise SystemExit(f'the server refused {len(errors)} request(s): {errors[0]}')
  return {'seconds': seconds, 'rows': done[0]}


def bench_floor(path: str, version: versions.ModelVersion, batch: int) -> Dict[str, float]:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  model = predict.load(version)
  inputs = model.signatures[predict.SIGNATURE].inputs
  frame = pd.read_csv(path, usecols=list(inputs), dtype={
      k: str for k, info in inputs.items() if info.dtype == 'string'}, keep_default_na=False,
      na_values={k: [''] for k, info in inputs.items() if info.dtype != 'string'})
  arrays = {k: (frame[k].to_numpy(dtype=object) if info.dtype == 'string' else
                frame[k].to_numpy(dtype=np.float32)) for k, info in inputs.items()}
  n = len(frame)
  model.predict(predict.SIGNATURE, {k: v[:batch] for k, v in arrays.items()})  # warm-up
  started = time.perf_counter()
  for start in range(0, n, batch):
    model.predict(predict.SIGNATURE, {k: v[start:start + batch] for k, v in arrays.items()})
  return {'seconds': time.perf_counter() - started, 'rows': n}


def main(argv: Optional[List[str]] = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--serving-dir', help='<serving root>/<model> holding pushed versions '
                 '(default: train one with local_runner first)')
  p.add_argument('--rows', type=int, nargs='+', default=[100_000, 1_000_000])
  p.add_argument('--server-batch', type=int, default=1000, help='instances per request')
  p.add_argument('--server-threads', type=int, default=4)
  p.add_argument('--floor-batch', type=int, default=8192)
  p.add_argument('--json', help='also write the results here')
  args = p.parse_args(argv)
  sizes = sorted(set(args.rows))
  results = {}
  with tempfile.TemporaryDirectory(prefix='batch_scoring_') as work:
    model_dir = args.serving_dir or train_model(work)
    version = versions.resolve(model_dir)
    spec = description.load(configs.DEFAULT_DESCRIPTION)
    model = predict.load(version)
    predict.check_model(model, spec)
    inputs = {k: info.dtype for k, info in model.signatures[predict.SIGNATURE].inputs.items()}
    started = time.time()
    paths = make_data(work, sizes)
    print(f'generated {max(sizes)} rows in {time.time() - started:.0f} s; model '
          f'{model_dir} version {version.version} ({version.how}); {os.cpu_count()} CPUs')
    for n in sizes:
      size_mb = os.path.getsize(paths[n]) / 2**20
      results[n] = {
          'command': bench_command(paths[n], model_dir, os.path.join(work, f'out-{n}.csv'),
                                   configs.DEFAULT_DESCRIPTION),
          'server': bench_server(paths[n], model_dir, version.version, inputs,
                                 args.server_batch, args.server_threads),
          'floor': bench_floor(paths[n], version, args.floor_batch),
          'input_mb': size_mb}
      for way, r in results[n].items():
        if isinstance(r, dict):
          assert r['rows'] == n, (way, r['rows'], n)
          r['rows_per_second'] = r['rows'] / r['seconds']
      _print(n, results[n], args)
  if len(sizes) > 1:
    _print_marginal(sizes[0], sizes[-1], results)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({str(k): v for k, v in results.items()}, f, indent=2)
  return 0


def _print(n: int, r: Dict, args: argparse.Namespace) -> None:
  floor = r['floor']['rows_per_second']
  print(f'\n{n} rows ({r["input_mb"]:.0f} MB of CSV)')
  print(f'  {"":44s}{"seconds":>9s}{"rows/s":>10s}{"of floor":>10s}')
  labels = {'command': 'batch command (cli.score, Beam, end to end)',
            'server': f'REST server ({args.server_threads} clients x {args.server_batch} rows)',
            'floor': f'signature loop (batches of {args.floor_batch})'}
  for way, label in labels.items():
    x = r[way]
    print(f'  {label:44s}{x["seconds"]:9.1f}{x["rows_per_second"]:10.0f}'
          f'{x["rows_per_second"] / floor:10.3f}')
  print(f'  batch command: peak RSS of its processes together {r["command"]["peak_rss_mb"]:.0f} MB')


def _print_marginal(small: int, large: int, results: Dict) -> None:
  """Rows per second of the extra rows: fixed costs (imports, model load) cancel."""
  print(f'\nmarginal rate, rows {small} -> {large}:')
  for way in ('command', 'server', 'floor'):
    extra = results[large][way]['seconds'] - results[small][way]['seconds']
    rate = (large - small) / extra if extra > 0 else float('inf')
    print(f'  {way:10s}{rate:12.0f} rows/s')


if __name__ == '__main__':
  sys.exit(main())
