"""Monitor throughput and the delay from a drifted request to a firing alert.

  python benchmarks/monitor_benchmark.py [--rows 20000] [--skip-alert]

1. Throughput: the generator's clean spans written as a request log (one
   record per predicted instance, as the server logs them), read by the
   monitor with the default window (description/monitoring.py) and drift
   measured against the training statistics of span 1; records per second,
   with and without the drift measurement (no baseline), on whatever cores
   the machine has (`nproc` is printed).
2. Alert delay, with the default settings: the monitor process's poll
   interval (5 s), the default window, the rules' `for:` (2m), and Prometheus
   (Debian's, on loopback) scraping and evaluating every 15 s. A window's
   worth of drifted records is appended to the log at once; the delay is
   from that write to ModelInputDrift `firing` in Prometheus' HTTP API.
   Here the monitor runs in this process with the span-1 baseline (no
   pipeline run needed); its metrics are served exactly as `cli.monitor run`
   serves them.
"""

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import description  # noqa: E402  pylint: disable=g-import-not-at-top
from data import generator  # noqa: E402  pylint: disable=g-import-not-at-top
from description import monitoring as policy_lib  # noqa: E402  pylint: disable=g-import-not-at-top
from pipeline import configs  # noqa: E402  pylint: disable=g-import-not-at-top

SCRAPE_SECONDS = 15
POLL_SECONDS = 5.0


def _records(path, spec, start_ts, version='1'):
  kinds = {c.name: c.type for c in spec.columns}
  out = []
  with open(path) as f:
    for i, row in enumerate(csv.DictReader(f)):
      inputs = {n: (row[n] if kinds[n] == 'string' else
                    (float(row[n]) if row[n] != '' else None)) for n in spec.feature_names}
      out.append({'ts': start_ts + i * 0.001, 'request_id': f'b{i}', 'model': spec.name,
                  'version': version, 'role': 'stable', 'index': 0, 'inputs': inputs,
                  'outputs': {'probabilities': [0.7, 0.25, 0.05], 'class_ids': 0}})
  return out


def _baseline(spec, schema, csv_path):
  from monitoring import baseline as baseline_lib  # pylint: disable=g-import-not-at-top
  from validation import example_stats  # pylint: disable=g-import-not-at-top
  from validation import skew  # pylint: disable=g-import-not-at-top
  stats = example_stats.statistics(skew.examples_from_csv(csv_path, spec, []), schema)
  return baseline_lib.Baseline('1', stats, csv_path, baseline_lib.label_shares(stats,
                                                                              spec.label))


def _monitor(root, spec, schema, schema_path, baseline, policy, exporter=None):
  from monitoring import baseline as baseline_lib  # pylint: disable=g-import-not-at-top
  from monitoring import monitor as monitor_lib  # pylint: disable=g-import-not-at-top
  from serving import metrics as serving_metrics  # pylint: disable=g-import-not-at-top
  settings = monitor_lib.Settings(
      log_dir=os.path.join(root, 'log'), state_dir=os.path.join(root, 'state'),
      model=spec.name, spec=spec, schema=schema,
      domains=serving_metrics.feature_ranges_from_schema(schema_path), policy=policy)

  def load(version):
    if baseline is None:
      raise baseline_lib.BaselineMissing('benchmark without drift')
    return baseline

  return monitor_lib.Monitor(settings, exporter, load_baseline=load)


def _write(root, records):
  from serving.request_log import RequestLog  # pylint: disable=g-import-not-at-top
  log = RequestLog(os.path.join(root, 'log'))
  for i in range(0, len(records), 100):
    log.write(records[0]['model'], records[0]['version'], records[i:i + 100])
  log.close()


def throughput(spec, schema, schema_path, data, rows, policy):
  baseline = _baseline(spec, schema, os.path.join(data['clean'], 'span-1', 'data.csv'))
  records = []
  for span in (2, 3):
    records += _records(os.path.join(data['clean'], f'span-{span}', 'data.csv'), spec,
                        1e6 + span * 1e4)
  results = {}
  for name, base in (('with drift', baseline), ('without drift', None)):
    with tempfile.TemporaryDirectory() as root:
      _write(root, records)
      monitor = _monitor(root, spec, schema, schema_path, base, policy)
      started = time.perf_counter()
      closed = monitor.poll(final=True)
      seconds = time.perf_counter() - started
    results[name] = (len(records), seconds, len(closed))
    print(f'  {name:14s} {len(records):,} records, {len(closed)} windows in {seconds:.2f} s: '
          f'{len(records) / seconds:,.0f} records/s', flush=True)
  return results


def alert_delay(spec, schema, schema_path, data, policy):
  from monitoring import exporter as exporter_lib  # pylint: disable=g-import-not-at-top
  from monitoring import monitor as monitor_lib  # pylint: disable=g-import-not-at-top
  from monitoring import rules as rules_lib  # pylint: disable=g-import-not-at-top
  from prometheus_client import start_http_server  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  import yaml  # pylint: disable=g-import-not-at-top
  assert shutil.which('prometheus'), 'run scripts/install_test_tools.sh'
  baseline = _baseline(spec, schema, os.path.join(data['clean'], 'span-1', 'data.csv'))
  root = tempfile.mkdtemp(prefix='monitor-bench-')
  processes = []
  try:
    clean = _records(os.path.join(data['clean'], 'span-2', 'data.csv'), spec, time.time())
    _write(root, clean[:policy.window_records])
    exporter = exporter_lib.Exporter(spec.name, spec.feature_names, spec.classes)
    monitor = _monitor(root, spec, schema, schema_path, baseline, policy, exporter)
    server, _ = start_http_server(0, addr='127.0.0.1', registry=exporter.registry)
    stop = []
    thread = threading.Thread(target=monitor_lib.run,
                              args=(monitor, POLL_SECONDS, lambda: bool(stop)), daemon=True)
    thread.start()
    rules = os.path.join(root, 'rules.yml')
    with open(rules, 'w') as f:
      f.write(rules_lib.to_yaml(rules_lib.generate(spec, schema, policy)))
    with socket.socket() as s:
      s.bind(('127.0.0.1', 0))
      port = s.getsockname()[1]
    config = os.path.join(root, 'prometheus.yml')
    with open(config, 'w') as f:
      yaml.safe_dump({'global': {'scrape_interval': f'{SCRAPE_SECONDS}s',
                                 'evaluation_interval': f'{SCRAPE_SECONDS}s'},
                      'rule_files': [rules],
                      'scrape_configs': [{'job_name': 'model-monitor', 'static_configs': [
                          {'targets': [f'127.0.0.1:{server.server_port}']}]}]}, f)
    processes.append(subprocess.Popen(
        ['prometheus', f'--config.file={config}', f'--storage.tsdb.path={root}/tsdb',
         f'--web.listen-address=127.0.0.1:{port}'], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL))
    url = f'http://127.0.0.1:{port}/api/v1/alerts'
    time.sleep(2 * SCRAPE_SECONDS)  # the clean window scraped and evaluated: quiet
    drifted = _records(os.path.join(data['data_drift'], 'span-3', 'data.csv'), spec,
                       time.time())[:policy.window_records]
    written = time.time()
    _write(root, drifted)
    while time.time() - written < 900:
      with urllib.request.urlopen(url, timeout=5) as r:
        alerts = json.load(r)['data']['alerts']
      firing = [a for a in alerts if a['state'] == 'firing' and
                a['labels']['alertname'] == 'ModelInputDrift']
      if firing:
        delay = time.time() - written
        features = sorted({a['labels']['feature'] for a in firing})
        print(f'  drifted window written -> ModelInputDrift firing: {delay:.1f} s '
              f'(features {", ".join(features)})', flush=True)
        return delay
      time.sleep(1)
    raise SystemExit('no drift alert within 900 s')
  finally:
    for p in processes:
      p.terminate()
      p.wait()
    shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--rows', type=int, default=20000, help='rows per generated span')
  parser.add_argument('--skip-alert', action='store_true')
  args = parser.parse_args(argv)
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  schema_path = configs.curated_schema_path(spec.name)
  schema = tfdv.load_schema_text(schema_path)
  policy = policy_lib.of(spec)
  print(f'monitor benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; default '
        f'window {policy.window_records} records / {policy.window_seconds:g} s, alert for '
        f'{policy.alert_for}, poll {POLL_SECONDS:g} s, scrape/evaluate {SCRAPE_SECONDS} s',
        flush=True)
  with tempfile.TemporaryDirectory() as data_root:
    data = {}
    for scenario in ('clean', 'data_drift'):
      data[scenario] = os.path.join(data_root, scenario)
      generator.generate(data[scenario], spans=3, rows_per_span=args.rows, scenario=scenario,
                         seed=11, labeler_fraction=0.0, verbose=False)
    throughput(spec, schema, schema_path, data, args.rows, policy)
    if not args.skip_alert:
      alert_delay(spec, schema, schema_path, data, policy)
  print(f'load after: {os.getloadavg()[0]:.1f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
