"""Monitoring end to end, with a real Prometheus evaluating the generated rules.

A model the pipeline trained (tests/conftest.py's session pipeline: a clean
span 2, pushed) is served by the real model server with a request log; the
monitor runs as its own process (python -m cli.monitor run) beside it;
Debian's Prometheus, started here on loopback, scrapes both every second and
evaluates the rules `python -m cli.monitor rules` generated. Then, in order:

1. clean traffic from a held-out span: no alert, pending or firing;
2. traffic from the generator's data-drift scenario: ModelInputDrift fires,
   naming the drifted inputs;
3. every query of the generated dashboard returns series;
4. the model server stops: ModelServerDown fires.

Windows, alert delays and rate ranges are short (the test description's
`monitoring:` section) so the whole takes about a minute after the pipeline.
"""

import contextlib
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from pipeline import configs

MODEL = 'credit_risk'
ROWS = 5000  # tests/conftest.py's span size; one monitor window per span
BATCH = 100
# The machine is shared by several test runs: latency is not what this test is about.
TEST_MONITORING = {'window': {'records': ROWS, 'seconds': 3600}, 'alert_for': '3s',
                   'down_for': '3s', 'rate_window': '30s',
                   'thresholds': {'latency_p99_seconds': 10.0}}
ENV = dict(os.environ, TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='2',
           PYTHONPATH=os.pathsep.join([configs.REPO_ROOT] + [
               p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0):
  with urllib.request.urlopen(url, timeout=timeout) as r:
    return r.status, r.read()


def _wait(what: str, check, timeout: float, interval: float = 0.5):
  deadline = time.time() + timeout
  last = None
  while time.time() < deadline:
    try:
      last = check()
      if last:
        return last
    except (OSError, ValueError) as e:
      last = e
    time.sleep(interval)
  raise AssertionError(f'{what}: not within {timeout:.0f} s (last: {last!r})')


class Stack:
  """The processes of the test and how to reach them."""

  def __init__(self, root: str):
    self.root = root
    self.processes = {}
    self.logs = {}

  def start(self, name: str, args, cwd=None):
    log = open(os.path.join(self.root, f'{name}.log'), 'w')
    self.logs[name] = log.name
    self.processes[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            env=ENV, cwd=cwd or configs.REPO_ROOT)
    return self.processes[name]

  def log(self, name: str) -> str:
    with open(self.logs[name]) as f:
      return f.read()[-4000:]

  def alive(self, name: str) -> bool:
    process = self.processes[name]
    if process.poll() is not None:
      raise AssertionError(f'{name} exited with {process.returncode}:\n{self.log(name)}')
    return True

  def stop(self, name: str) -> None:
    process = self.processes.get(name)
    if process is not None and process.poll() is None:
      process.terminate()
      try:
        process.wait(timeout=20)
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

  # --- Prometheus' HTTP API ---------------------------------------------------
  def query(self, expr: str):
    url = f'{self.prometheus}/api/v1/query?' + urllib.parse.urlencode({'query': expr})
    _, body = _get(url)
    payload = json.loads(body)
    assert payload['status'] == 'success', payload
    return payload['data']['result']

  def alerts(self, state=None):
    _, body = _get(f'{self.prometheus}/api/v1/alerts')
    found = json.loads(body)['data']['alerts']
    return [a for a in found if state is None or a['state'] == state]

  def firing(self, name: str):
    return [a for a in self.alerts('firing') if a['labels']['alertname'] == name]

  # --- traffic ------------------------------------------------------------------
  def predict(self, instances):
    request = urllib.request.Request(
        f'{self.server}/v1/models/{MODEL}:predict',
        data=json.dumps({'instances': instances}).encode(),
        headers={'Content-Type': 'application/json'})
    try:
      with urllib.request.urlopen(request, timeout=120) as r:
        return r.status
    except urllib.error.HTTPError as e:
      return e.code


def _instances(path: str, spec):
  """The span's rows as the serving signature takes them (raw model inputs)."""
  kinds = {c.name: c.type for c in spec.columns}
  with open(path) as f:
    rows = list(csv.DictReader(f))
  return [{name: (row[name] if kinds[name] == 'string'
                  else (float(row[name]) if row[name] != '' else None))
           for name in spec.feature_names} for row in rows]


def _send(stack: Stack, instances) -> None:
  codes = [stack.predict(instances[i:i + BATCH]) for i in range(0, len(instances), BATCH)]
  assert set(codes) == {200}, codes


def _windows(stack: Stack) -> float:
  result = stack.query(f'sum(monitor_windows_total{{model="{MODEL}"}})')
  return float(result[0]['value'][1]) if result else 0.0


@pytest.fixture(scope='module')
def stack(validation_pipeline, tmp_path_factory):
  import description  # pylint: disable=g-import-not-at-top
  for tool in ('prometheus', 'promtool'):
    assert shutil.which(tool), f'{tool} is missing: run scripts/install_test_tools.sh'
  root = str(tmp_path_factory.mktemp('monitoring_e2e'))
  with open(validation_pipeline.description) as f:
    raw = yaml.safe_load(f)
  raw['monitoring'] = TEST_MONITORING
  description_path = os.path.join(root, 'description.yaml')
  with open(description_path, 'w') as f:
    yaml.safe_dump(raw, f, sort_keys=False)
  s = Stack(root)
  s.spec = description.load(description_path)
  s.scenarios = validation_pipeline.scenarios
  [s.version] = validation_pipeline.pushed_before
  ports = {name: _free_port() for name in ('server', 'monitor', 'prometheus')}
  s.server = f'http://127.0.0.1:{ports["server"]}'
  s.prometheus = f'http://127.0.0.1:{ports["prometheus"]}'
  log_dir = os.path.join(root, 'request_log')
  state_dir = os.path.join(root, 'monitor')
  s.state_dir = state_dir
  common = ['--description', description_path, '--work-dir', validation_pipeline.work_dir,
            '--state-dir', state_dir]
  try:
    # The server's root holds one directory per model (TensorFlow Serving's layout).
    serving_root = os.path.dirname(validation_pipeline.serving_dir)
    s.start('server', [sys.executable, '-m', 'cli.serve', '--model-name', MODEL,
                       '--serving-root', serving_root, '--host', '127.0.0.1',
                       '--port', str(ports['server']), '--request-log-dir', log_dir])
    s.start('monitor', [sys.executable, '-m', 'cli.monitor', 'run', '--log-dir', log_dir,
                        '--port', str(ports['monitor']), '--interval', '0.5'] + common)
    rules = os.path.join(root, 'rules.yml')
    subprocess.run([sys.executable, '-m', 'cli.monitor', 'rules', '--out', rules] + common,
                   check=True, env=ENV, cwd=configs.REPO_ROOT, capture_output=True)
    dashboard = os.path.join(root, 'dashboard.json')
    subprocess.run([sys.executable, '-m', 'cli.monitor', 'dashboard', '--out', dashboard] +
                   common, check=True, env=ENV, cwd=configs.REPO_ROOT, capture_output=True)
    with open(dashboard) as f:
      s.dashboard = json.load(f)
    config = {
        'global': {'scrape_interval': '1s', 'evaluation_interval': '1s',
                   'scrape_timeout': '1s'},
        'rule_files': [rules],
        'scrape_configs': [
            {'job_name': 'model-server',
             'static_configs': [{'targets': [f'127.0.0.1:{ports["server"]}']}]},
            {'job_name': 'model-monitor',
             'static_configs': [{'targets': [f'127.0.0.1:{ports["monitor"]}']}]}]}
    config_path = os.path.join(root, 'prometheus.yml')
    with open(config_path, 'w') as f:
      yaml.safe_dump(config, f)
    check = subprocess.run(['promtool', 'check', 'config', config_path], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    s.start('prometheus', ['prometheus', f'--config.file={config_path}',
                           f'--storage.tsdb.path={os.path.join(root, "tsdb")}',
                           f'--web.listen-address=127.0.0.1:{ports["prometheus"]}'],
            cwd=root)
    _wait('Prometheus ready', lambda: s.alive('prometheus') and
          _get(f'{s.prometheus}/-/ready')[0] == 200, 60)
    _wait('model server ready', lambda: s.alive('server') and
          _get(f'{s.server}/readyz')[0] == 200, 300)
    _wait('monitor scraped', lambda: s.alive('monitor') and
          s.query('up{job="model-monitor"} == 1'), 300)
    _wait('server scraped', lambda: s.query('up{job="model-server"} == 1'), 60)
    yield s
  finally:
    for name in ('prometheus', 'monitor', 'server'):
      with contextlib.suppress(Exception):
        s.stop(name)


def test_clean_held_out_traffic_raises_no_alert(stack):
  clean = _instances(os.path.join(stack.scenarios['clean'], 'span-3', 'data.csv'), stack.spec)
  assert len(clean) == ROWS
  _send(stack, clean)
  _wait('the clean window in Prometheus', lambda: stack.alive('monitor') and
        _windows(stack) >= 1, 180)
  [baseline] = stack.query(f'monitor_baseline_available{{model="{MODEL}"}}')
  assert baseline['metric']['version'] == stack.version
  assert baseline['value'][1] == '1', stack.log('monitor')
  # Longer than every rule's `for:` with scrape and evaluation delays.
  time.sleep(8)
  alerts = stack.alerts()
  assert alerts == [], json.dumps(alerts, indent=1)


def test_drifted_traffic_fires_the_drift_alert_naming_the_features(stack):
  drifted = _instances(os.path.join(stack.scenarios['data_drift'], 'span-3', 'data.csv'),
                       stack.spec)
  _send(stack, drifted)
  sent = time.time()
  window = os.path.join(stack.state_dir, 'windows', MODEL, stack.version, '00000001.json')

  def every_drifted_input_firing():
    # Prometheus' alerts API reads each rule's state while the rule group may
    # be half way through an evaluation, so one answer can hold some of the
    # inputs that went from pending to firing together: wait for all of them.
    stack.alive('monitor')
    with open(window) as f:
      drifted = set(json.load(f)['drifted'])
    firing = stack.firing('ModelInputDrift')
    return firing if drifted and {a['labels']['feature'] for a in firing} == drifted else None

  firing = _wait('ModelInputDrift firing for every input the drifted window found drifted',
                 every_drifted_input_firing, 180)
  features = {a['labels']['feature'] for a in firing}
  assert {'annual_income', 'loan_amount'} <= features, firing
  assert all(a['labels']['version'] == stack.version for a in firing)
  assert all(a['labels']['feature'] in a['annotations']['summary'] for a in firing)
  print(f'[monitoring e2e] drift alert firing {time.time() - sent:.1f} s after the last '
        f'drifted request; features: {sorted(features)}')
  # The HTML report lists what Prometheus fired, beside the windows' breaches.
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from description import monitoring as policy_lib  # pylint: disable=g-import-not-at-top
  from monitoring import report  # pylint: disable=g-import-not-at-top
  from monitoring import rules as rules_lib  # pylint: disable=g-import-not-at-top
  thresholds = rules_lib.thresholds(
      stack.spec, tfdv.load_schema_text(configs.curated_schema_path(MODEL)),
      policy_lib.of(stack.spec))
  data = report.build(stack.state_dir, MODEL, thresholds, prometheus=stack.prometheus)
  fired = {a['labels']['feature'] for a in data['alerts']
           if a['name'] == 'ModelInputDrift' and a['state'] == 'firing'}
  breached = {a['feature'] for a in data['alarms'] if a['concern'] == 'drift'}
  assert fired == features == breached and len(data['windows']) == 2


def test_every_dashboard_query_returns_series(stack):
  # Errors too: a request with an input of the wrong type is a 400.
  bad = dict(_instances(os.path.join(stack.scenarios['clean'], 'span-3', 'data.csv'),
                        stack.spec)[0], annual_income='lots')
  assert stack.predict([bad]) == 400
  time.sleep(3)  # two scrapes, so rates have two samples
  from monitoring import dashboard  # pylint: disable=g-import-not-at-top
  # The live-quality row plots what cli.labels exports once delayed labels
  # arrive (a textfile for node_exporter); this stack serves traffic only.
  board = dict(stack.dashboard, panels=_without_row(stack.dashboard['panels'],
                                                     dashboard.LIVE_QUALITY_ROW))
  expressions = dashboard.expressions(board)
  assert expressions and len(expressions) < len(dashboard.expressions(stack.dashboard))
  empty = [e for e in expressions if not stack.query(e)]
  assert not empty, empty


def _without_row(panels, title):
  """The dashboard's panels without the row titled `title` and its panels."""
  kept, skipping = [], False
  for p in panels:
    if p['type'] == 'row':
      skipping = p['title'] == title
    if not skipping:
      kept.append(p)
  return kept


def test_stopping_the_model_server_fires_the_down_alert(stack):
  stack.stop('server')
  [down] = _wait('ModelServerDown firing', lambda: stack.firing('ModelServerDown'), 60)
  assert down['labels']['job'] == 'model-server'
  assert not stack.firing('ModelMonitorDown')
