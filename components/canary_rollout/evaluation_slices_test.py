"""The Evaluator's flattened TFMA rows become the audit's per-slice figures."""

import description
from components.canary_rollout import evaluation_slices
from provenance.evaluation import MetricRow
from rollout import audit
from testing import rollout_fixtures as tu

SPEC = description.parse(dict(tu.TOY_DESCRIPTION, tags=['home_ownership']), source='toy')
RARE = SPEC.rare_class_id
FPR = 'fairness_indicators_metrics/false_positive_rate@0.5'


def rows_for(key, model, accuracy, recall, fpr, n=200.0):
  return [MetricRow(key, 'sparse_categorical_accuracy', None, model, False, accuracy),
          MetricRow(key, 'recall', RARE, model, False, recall),
          MetricRow(key, FPR, RARE, model, False, fpr),
          MetricRow(key, 'fairness_indicators_metrics/false_positive_rate@0.3', RARE, model,
                    False, 0.9),
          MetricRow(key, 'example_count', None, model, False, n),
          MetricRow(key, 'sparse_categorical_accuracy', None, model, True, accuracy - 0.8)]


def test_candidate_and_baseline_per_slice_column():
  rent = (('home_ownership', 'RENT'),)
  other = (('loan_amount', '5'),)  # not a slice column of the description
  rows = (rows_for((), 'candidate', 0.8, 0.6, 0.1) + rows_for((), 'baseline', 0.81, 0.62, 0.1)
          + rows_for(rent, 'candidate', 0.7, 0.5, 0.2) + rows_for(rent, 'baseline', 0.8, 0.6, 0.1)
          + rows_for(other, 'candidate', 0.1, 0.1, 0.9))
  found = evaluation_slices.from_rows(rows, SPEC)
  assert set(found) == {'overall', 'home_ownership=RENT'}
  cand = found['home_ownership=RENT']['candidate']
  assert cand.metrics == {audit.ACCURACY: 0.7, audit.RARE_RECALL: 0.5, audit.FPR: 0.2,
                          audit.FNR: 0.5}
  assert cand.examples == 200.0
  assert found['home_ownership=RENT']['stable'].metrics[audit.ACCURACY] == 0.8
  built = audit.build('m', 2, 1, step=1, weight=5, created='t', tolerance=0.05,
                      protected=[], tags=['home_ownership'], evaluation=found, live={})
  assert built.regressed == ['home_ownership=RENT']


def test_without_a_baseline_the_candidate_is_shown_alone_and_nothing_regresses():
  rent = (('home_ownership', 'RENT'),)
  found = evaluation_slices.from_rows(rows_for((), '', 0.8, 0.6, 0.1) +
                                      rows_for(rent, '', 0.3, 0.1, 0.5), SPEC)
  assert {k: set(v) for k, v in found.items()} == {'overall': {'candidate'},
                                                    'home_ownership=RENT': {'candidate'}}
  assert found['home_ownership=RENT']['candidate'].metrics[audit.ACCURACY] == 0.3
  built = audit.build('m', 2, None, step=1, weight=0, created='t', tolerance=0.05,
                      protected=[], tags=['home_ownership'], evaluation=found, live={})
  assert built.regressed == []
