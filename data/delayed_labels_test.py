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
