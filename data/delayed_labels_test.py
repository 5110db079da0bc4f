"""Delayed labels of a generated span: readable by feedback, no personal data."""

import csv

from data import delayed_labels
from data import generator
from feedback import labels


def test_labels_of_a_span_carry_slices_and_no_personal_data(tmp_path, credit_spec):
  generator.generate(str(tmp_path / 'g'), spans=1, rows_per_span=400, seed=3,
                     verbose=False)
  span_csv = str(tmp_path / 'g' / 'span-1' / 'data.csv')
  out = str(tmp_path / 'labels.csv')
  count = delayed_labels.write_labels(span_csv, out, credit_spec, fraction=0.5, seed=1)
  assert 150 < count < 250
  with open(out, newline='') as f:
    header = next(csv.reader(f))
  assert header[:2] == ['application_id', 'outcome']
  assert {'gender', 'age_band', 'channel', 'application_month'} <= set(header)
  assert not {'applicant_name', 'email', 'loan_amount'} & set(header)
  got = labels.read_labels([out], credit_spec)
  assert len(got.labels) == count and got.skipped.total == 0
  first = next(iter(got.labels.values()))
  assert set(first.columns) >= {'gender', 'age_band'}


def test_deferred_cases_get_their_labels_first(tmp_path, credit_spec):
  from serving import request_log  # pylint: disable=g-import-not-at-top
  generator.generate(str(tmp_path / 'g'), spans=1, rows_per_span=400, seed=3,
                     verbose=False)
  span_csv = str(tmp_path / 'g' / 'span-1' / 'data.csv')
  with open(span_csv, newline='') as f:
    ids = [row['application_id'] for row in csv.DictReader(f)]
  log = request_log.RequestLog(str(tmp_path / 'log'))
  log.write('credit_risk', 1, [
      {'request_key': key, 'role': 'stable', 'index': 0, 'outputs': {},
       'automation': {'decision': 'deferred' if i % 10 == 0 else 'decided'}}
      for i, key in enumerate(ids)])
  log.close()
  out = str(tmp_path / 'labels.csv')
  code = delayed_labels.main(['--span-csv', span_csv, '--out', out, '--fraction', '0.2',
                              '--request-log', str(tmp_path / 'log')])
  assert code == 0
  got = labels.read_labels([out], credit_spec)
  deferred = set(ids[::10])
  # 20% of 400: all 40 deferred, then each of the 360 others at 40/360.
  assert deferred <= set(got.labels) and 60 < len(got.labels) < 100
  with open(out, newline='') as f:
    assert [row['application_id'] for row in csv.DictReader(f)][:40] == ids[::10]
