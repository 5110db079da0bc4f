"""Fixtures of the monitoring tests: generated spans as request-log records.

`generated` writes the generator's clean and data-drift datasets once per
session; `records_from_csv` turns a span into what the model server logs per
predicted instance (inputs as [value] or null, probabilities that depend on
the inputs), so the monitor reads the same format as in production.
"""

import csv
import dataclasses
import math
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # noqa: E402

import description  # noqa: E402
from data import generator  # noqa: E402
from pipeline import configs  # noqa: E402

ROWS = 3000
MODEL = 'credit_risk'


@pytest.fixture(scope='session')
def spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='session')
def schema_path(spec):
  return configs.curated_schema_path(spec.name)


@pytest.fixture(scope='session')
def generated(tmp_path_factory):
  root = tmp_path_factory.mktemp('monitoring_data')
  out = {}
  for scenario in ('clean', 'data_drift'):
    out[scenario] = str(root / scenario)
    generator.generate(out[scenario], spans=3, rows_per_span=ROWS, scenario=scenario,
                       seed=7, labeler_fraction=0.0, verbose=False)
  return out


@pytest.fixture(scope='session')
def training_baseline(spec, schema_path, generated):
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from validation import example_stats  # pylint: disable=g-import-not-at-top
  from validation import skew  # pylint: disable=g-import-not-at-top
  schema = tfdv.load_schema_text(schema_path)
  examples = skew.examples_from_csv(span_csv(generated, 'clean', 2), spec, [])
  stats = example_stats.statistics(examples, schema)
  from monitoring import baseline as baseline_lib  # pylint: disable=g-import-not-at-top
  return baseline_lib.Baseline('1', stats, 'generated clean span 2',
                               baseline_lib.label_shares(stats, spec.label))


def span_csv(generated, scenario: str, span: int) -> str:
  return os.path.join(generated[scenario], f'span-{span}', 'data.csv')


def _value(text: str, kind: str):
  if text == '':
    return None
  return float(text) if kind == 'float' else int(text) if kind == 'int' else text


def records_from_csv(path: str, spec, version=1, model=MODEL, start_ts=1_000_000.0,
                     limit=None):
  """One logged record per row: the model inputs and id, as the server logs them."""
  kinds = {c.name: c.type for c in spec.columns}
  inputs = spec.feature_names + [spec.id_column]
  records = []
  with open(path) as f:
    for i, row in enumerate(csv.DictReader(f)):
      if limit is not None and i >= limit:
        break
      values = {name: [_value(row[name], kinds[name])] for name in inputs}
      values = {k: (None if v == [None] else v) for k, v in values.items()}
      # Scores that move with the inputs, so drifted inputs shift predictions.
      income = values['annual_income'][0] if values['annual_income'] else 50000.0
      rare = 0.6 if income < 30000 else 0.05
      late = 0.2
      probabilities = [1.0 - rare - late, late, rare]
      records.append({
          'ts': start_ts + i * 0.01, 'time': '', 'request_id': f'r{i}',
          'request_key': row[spec.id_column], 'model': model, 'version': version,
          'role': 'stable', 'signature': 'serving_default', 'index': 0, 'inputs': values,
          'outputs': {'probabilities': probabilities,
                      'class_ids': max(range(3), key=probabilities.__getitem__)}})
  assert all(math.isfinite(sum(r['outputs']['probabilities'])) for r in records)
  return records


def make_monitor(tmp_path, spec, schema_path, baseline=None, window_records=ROWS, **kwargs):
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from description import monitoring as policy_lib  # pylint: disable=g-import-not-at-top
  from monitoring import baseline as baseline_lib  # pylint: disable=g-import-not-at-top
  from monitoring import exporter as exporter_lib  # pylint: disable=g-import-not-at-top
  from monitoring import monitor as monitor_lib  # pylint: disable=g-import-not-at-top
  from serving import metrics as serving_metrics  # pylint: disable=g-import-not-at-top
  settings = monitor_lib.Settings(
      log_dir=str(tmp_path / 'log'), state_dir=str(tmp_path / 'state'), model=MODEL,
      spec=spec, schema=tfdv.load_schema_text(schema_path),
      domains=serving_metrics.feature_ranges_from_schema(schema_path),
      policy=dataclasses.replace(policy_lib.MonitoringPolicy(),
                                 window_records=window_records, window_seconds=1e9))

  def load(version):
    if baseline is None or version != baseline.version:
      raise baseline_lib.BaselineMissing(f'no push of version {version} recorded (test)')
    return baseline

  exporter = exporter_lib.Exporter(MODEL, spec.feature_names, spec.classes)
  return monitor_lib.Monitor(settings, exporter, load_baseline=load, **kwargs), exporter


def write_log(tmp_path, records, max_file_bytes=None):
  from serving.request_log import RequestLog  # pylint: disable=g-import-not-at-top
  log = RequestLog(str(tmp_path / 'log'), max_file_bytes=max_file_bytes)
  for i in range(0, len(records), 50):
    batch = records[i:i + 50]
    log.write(batch[0]['model'], batch[0]['version'], batch)
  log.close()


@pytest.fixture(scope='session')
def monitored(tmp_path_factory, spec, schema_path, generated, training_baseline):
  """A monitor's state after three windows: two clean spans, then drifted traffic."""
  root = tmp_path_factory.mktemp('monitored')
  records = (records_from_csv(span_csv(generated, 'clean', 3), spec) +
             records_from_csv(span_csv(generated, 'clean', 1), spec, start_ts=1_100_000.0) +
             records_from_csv(span_csv(generated, 'data_drift', 3), spec, start_ts=1_200_000.0))
  write_log(root, records)
  monitor, _ = make_monitor(root, spec, schema_path, training_baseline)
  closed = monitor.poll(final=True)
  assert [w['drifted'] != [] for w in closed] == [False, False, True]
  return str(root / 'state')
