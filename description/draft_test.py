"""Drafting a description from the data: close to the hand-written ones, valid,
and every guess explained."""

import os

import pytest
import yaml

import description
from data import generator
from description import draft

DESCRIPTIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data',
                            'descriptions')


def _write(path, header, rows):
  with open(path, 'w') as f:
    f.write(','.join(header) + '\n')
    for row in rows:
      f.write(','.join(str(v) for v in row) + '\n')
  return str(path)


@pytest.fixture(scope='module')
def default_data(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('generated'))
  generator.generate(root, spans=2, rows_per_span=3000, seed=3, labeler_fraction=0.0,
                     verbose=False)
  return root


def test_draft_of_the_default_data_matches_the_shipped_description(default_data):
  shipped = description.load(os.path.join(DESCRIPTIONS, 'credit_risk.yaml'))
  drafted = draft.draft_path(default_data, 'outcome').spec
  for column in shipped.features():
    got = drafted.column(column.name)
    assert (got.type, got.treatment, got.buckets) == (
        column.type, column.treatment, column.buckets), column.name
  assert drafted.classes == shipped.classes  # most frequent first
  assert drafted.rare_class == shipped.rare_class
  assert drafted.id_column == shipped.id_column
  assert drafted.input_pattern == shipped.input_pattern  # the span layout is found
  assert set(drafted.protected_attributes) == set(shipped.protected_attributes)
  assert drafted.label not in drafted.feature_names


def test_draft_reads_the_latest_span_and_says_how_much_it_sampled(default_data):
  drafted = draft.draft_path(default_data, 'outcome', sample_rows=500)
  assert 'a random sample of' in drafted.text and 'of 3,000 rows' in drafted.text
  assert drafted.spec.default_root == default_data
  sample = draft.read_sample(default_data, sample_rows=500)
  assert sample.files == (os.path.join(default_data, 'span-2', 'data.csv'),)
  assert 300 < len(sample.frame) < 700


def test_taxi_csv_drafts_a_description_that_parses():
  taxi = description.load(os.path.join(DESCRIPTIONS, 'taxi.yaml'))
  csv = os.path.join(taxi.resolve_root(None, '.'), 'data.csv')
  drafted = draft.draft_path(csv, 'payment_type', sample_rows=5000)
  reparsed = description.parse(yaml.safe_load(drafted.text))
  assert reparsed.classes[:2] == ('Cash', 'Credit Card')
  assert reparsed.column('pickup_census_tract').treatment == 'exclude'  # constant
  assert reparsed.column('trip_start_timestamp').treatment == 'exclude'  # near-unique
  assert reparsed.column('company').treatment == 'vocabulary'
  assert reparsed.column('fare').treatment == 'scale'


def test_personal_data_is_excluded_and_flagged_for_review(tmp_path):
  rows = [[i, f'{first} {last}', f'{first.lower()}.{last.lower()}{i}@mail.example.com',
           f'+1 555-{i:03d}-{i * 7 % 10000:04d}', f'19{50 + i % 40}-0{1 + i % 9}-1{i % 9}',
           'a' if i % 3 else 'b', i % 2]
          for i, (first, last) in enumerate(
              [(f, l) for f in ('Anna', 'Bert', 'Carla', 'Dmitri', 'Eve', 'Farid', 'Gus')
               for l in ('Smith', 'Jones', 'Okafor', 'Novak', 'Tanaka', 'Silva')])]
  path = _write(tmp_path / 'people.csv',
                ['row', 'customer', 'contact', 'phone_number', 'dob', 'group', 'label'], rows)
  drafted = draft.draft_path(path, 'label')
  roles = {c.name: c.role for c in drafted.columns}
  assert roles['customer'] == 'personal'  # names, by value
  assert roles['contact'] == 'personal'  # e-mails, by value
  assert roles['phone_number'] == 'personal'  # by header
  assert roles['dob'] == 'personal'
  for name in ('customer', 'contact', 'phone_number', 'dob'):
    assert drafted.spec.column(name).treatment == 'exclude'
  assert 'REVIEW personal data' in drafted.text
  assert drafted.spec.feature_names == ['group']
  assert drafted.spec.id_column == 'row'


def test_every_guess_is_a_comment_beside_its_column(tmp_path):
  rows = [[i, 'x', 12 * (1 + i % 5), i % 7, 300 + i * 37 % 150, 'yes' if i % 4 else 'no',
           round(i * 0.37, 2)] for i in range(200)]
  path = _write(tmp_path / 'loans.csv',
                ['id', 'const', 'term', 'count', 'score', 'flag', 'amount'], rows)
  drafted = draft.draft_path(path, 'flag')
  spec = drafted.spec
  assert spec.column('const').treatment == 'exclude'
  assert spec.column('term').treatment == 'vocabulary'  # 12/24/.. codes
  assert spec.column('count').treatment == 'scale'
  assert (spec.column('score').treatment, spec.column('score').buckets) == ('bucketize', 10)
  assert spec.column('amount').type == 'float'
  # YAML reads bare no/yes as booleans: the classes must stay strings.
  assert spec.classes == ('yes', 'no') and spec.rare_class is None
  lines = {line.split(':')[0].strip(): line for line in drafted.text.splitlines()}
  assert 'constant' in lines['const'] and 'codes' in lines['term']
  assert 'quantile' in lines['score'] and 'probably an id' in lines['id']


def test_a_label_that_is_not_a_class_is_refused_with_file_and_column(tmp_path):
  path = _write(tmp_path / 'prices.csv', ['size', 'price'],
                [[i, i * 1.5 + 0.25] for i in range(50)])
  with pytest.raises(draft.DraftError, match=r"prices.csv: label column 'price'.*fractions"):
    draft.draft_path(path, 'price')
  with pytest.raises(draft.DraftError, match=r"'cost' is not in the header"):
    draft.draft_path(path, 'cost')


def test_mostly_numeric_column_with_text_stays_a_string_and_says_why(tmp_path):
  rows = [[i, 'n/a' if i == 5 else (i % 10) * 2, i % 2] for i in range(100)]
  path = _write(tmp_path / 'd.csv', ['k', 'v', 'y'], rows)
  drafted = draft.draft_path(path, 'y')
  assert drafted.spec.column('v').type == 'string'
  assert any("'n/a'" in note for note in
             next(c for c in drafted.columns if c.name == 'v').notes)


def test_dates_are_not_mistaken_for_phone_numbers(tmp_path):
  rows = [[f'2026-{1 + i % 12:02d}-{1 + i % 28:02d}', i % 5, i % 2] for i in range(300)]
  path = _write(tmp_path / 'events.csv', ['event_date', 'kind', 'y'], rows)
  column = next(c for c in draft.draft_path(path, 'y').columns if c.name == 'event_date')
  assert column.treatment == 'exclude' and column.role == 'excluded'
  assert column.notes[0].startswith('dates (2026-2026)')
