"""The optional `scoring` section of a dataset description."""

import copy

import pytest
import yaml

import description
from description import scoring
from pipeline import configs


def _spec(section):
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw = copy.deepcopy(raw)
  if section is not None:
    raw['scoring'] = section
  return description.parse(raw, source='d.yaml')


def test_absent_means_no_bulk_scoring():
  assert scoring.of(_spec(None)) is None


def test_a_split_or_a_span():
  assert scoring.of(_spec({'split': 'test'})) == scoring.BulkScoring(split='test')
  chosen = scoring.of(_spec({'span': 7}))
  assert chosen == scoring.BulkScoring(span=7)
  assert chosen.span_pattern('span-{SPAN}/*.csv') == 'span-7/*.csv'


@pytest.mark.parametrize('section, message', [
    ({'split': 'holdout'}, r"scoring.split is 'holdout'; the splits are \['eval', 'test', 'train'\]"),
    ({'split': 'test', 'span': 3}, 'exactly one of'),
    ({}, 'exactly one of'),
    ({'span': -1}, 'whole number'),
    ({'span': True}, 'whole number'),
    ({'spans': 3}, r"unknown field\(s\) scoring.\['spans'\]"),
    ('test', 'must be a mapping'),
])
def test_errors_name_the_file_and_field(section, message):
  with pytest.raises(description.DatasetSpecError, match='^d.yaml: .*' + message):
    scoring.of(_spec(section))


def test_a_span_needs_a_span_pattern():
  spec = _spec({'span': 2})
  with pytest.raises(description.DatasetSpecError, match='has no {SPAN}'):
    scoring.parse({'span': 2}, spec.splits, 'all/*.csv', 'd.yaml')
