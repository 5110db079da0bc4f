"""decide(): partial defers exactly the cases below the band; bad bands are refused."""

import numpy as np
import pytest

from serving import automation


def test_partial_defers_exactly_the_cases_below_the_band():
  rng = np.random.default_rng(0)
  probabilities = rng.dirichlet([1, 1, 1], size=500)
  band = 0.6
  decisions = [automation.decide(p, band, 'partial') for p in probabilities]
  deferred = np.array([not d.decided for d in decisions])
  np.testing.assert_array_equal(deferred, probabilities.max(axis=1) < band)
  assert {d.rule for d in decisions} == {automation.RULE_CONFIDENT, automation.RULE_BELOW_BAND}
  assert [d.class_id for d in decisions] == probabilities.argmax(axis=1).tolist()


def test_a_case_exactly_at_the_band_is_decided():
  decision = automation.decide([0.25, 0.75], 0.75, 'partial')
  assert decision.decided and decision.rule == automation.RULE_CONFIDENT
  assert '0.750 >= band 0.750' in decision.reason


@pytest.mark.parametrize('level, decided, rule', [
    ('shadow', False, automation.RULE_SHADOW),
    ('assist', False, automation.RULE_ASSIST),
    ('full', True, automation.RULE_FULL),
])
def test_other_levels_ignore_the_band(level, decided, rule):
  for probabilities in ([0.34, 0.33, 0.33], [0.01, 0.99, 0.0]):
    decision = automation.decide(probabilities, 0.9, level)
    assert (decision.decided, decision.rule) == (decided, rule)


@pytest.mark.parametrize('band, level, message', [
    (1.2, 'partial', r'must be a number in \[0, 1\], got 1.2'),
    (-0.1, 'full', r'must be a number in \[0, 1\]'),
    (float('nan'), 'partial', r'must be a number in \[0, 1\]'),
    (None, 'partial', 'needs a band'),
    (0.5, 'autopilot', "level 'autopilot'"),
])
def test_a_bad_band_or_level_is_refused(band, level, message):
  with pytest.raises(ValueError, match=message):
    automation.decide([0.5, 0.5], band, level)


def test_without_a_policy_the_non_partial_levels_still_work():
  assert automation.decide([0.2, 0.8], None, 'full').decided
  assert not automation.decide([0.2, 0.8], None, 'shadow').decided


def test_a_non_finite_answer_goes_to_a_person_and_never_raises():
  # A model bug must not turn requests into 500s: at full the answer goes out as
  # TF Serving's would; at every other level a person decides.
  for level in ('partial', 'assist', 'shadow'):
    d = automation.decide([float('nan'), 0.5], 0.5, level)
    assert (d.outcome, d.rule) == (automation.DEFERRED, automation.RULE_INVALID_OUTPUT)
  assert automation.decide([float('inf'), 0.5], None, 'full').decided
  policy = automation.VersionPolicy(0.6, 0.2, 0.1, 0.3)
  decisions = automation.decide_batch([[0.9, 0.1], [float('nan'), 0.5]], policy, 'partial')
  assert [d.rule for d in decisions] == [automation.RULE_CONFIDENT,
                                         automation.RULE_INVALID_OUTPUT]
  with pytest.raises(ValueError, match='class probabilities'):
    automation.decide([], 0.5, 'partial')
