"""Fixtures of the monitoring tests: generated spans as request-log records.

`generated` writes the generator's clean and data-drift datasets once per
session; `records_from_csv` turns a span into what the model server logs per
predicted instance (inputs as [value] or null, probabilities that depend on
the inputs), so the monitor reads the same format as in production.
"""

import csv
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
