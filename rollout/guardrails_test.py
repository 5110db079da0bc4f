"""Unit tests of the canary guardrails (pure statistics, no server)."""

import numpy as np
import pytest

from rollout import guardrails as g
from rollout.guardrails import BREACH, INSUFFICIENT, PASS, SKIPPED, Sample, Thresholds

K, RARE = 3, 2
TH = Thresholds()
ALPHA = 0.05 / 4  # four looks


def sample(n, rng, class_p=(0.7, 0.25, 0.05), accuracy=0.85, error_rate=0.0,
           latency_ms=5.0, jitter_ms=1.0, rare_recall=None):
  """A version's answers on n rows whose labels follow class_p."""
  labels = rng.choice(K, size=n, p=class_p)
  correct = rng.random(n) < accuracy
  if rare_recall is not None:
    rare = labels == RARE
    correct[rare] = rng.random(rare.sum()) < rare_recall
  wrong = (labels + rng.integers(1, K, n)) % K
  predicted = np.where(correct, labels, wrong)
  scores = np.full((n, K), 0.1)
  scores[np.arange(n), predicted] = 0.8
  scores += rng.uniform(0, 0.05, (n, K))
  scores /= scores.sum(axis=1, keepdims=True)
  errors = int((rng.random(n) < error_rate).sum())
  lat = latency_ms + rng.exponential(jitter_ms, n - errors)
  return Sample(requests=n, errors=errors, latencies_ms=lat.tolist(),
                predicted=predicted.tolist(), scores=scores, labels=labels.tolist())


def by_name(results):
  return {r.name: r for r in results}


def test_equal_versions_pass_every_check():
  rng = np.random.default_rng(0)
  res = by_name(g.evaluate(sample(400, rng), sample(4000, rng), K, RARE, TH, ALPHA))
  automation = ('deferral_rate', 'automated_accuracy')  # level full: no decisions
  assert {res.pop(name).status for name in automation} == {SKIPPED}
  assert {r.status for r in res.values()} == {PASS}, {n: r.reason for n, r in res.items()}
  assert res['latency_p99'].metrics['canary_n'] == 400


def test_false_alarm_rate_is_below_alpha_under_the_null():
  # The same model on both sides, 400 times: every breach is a false alarm,
  # and alpha bounds them for all checks together (Bonferroni over checks).
  rng = np.random.default_rng(1)
  alarms = 0
  for _ in range(400):
    res = g.evaluate(sample(150, rng, error_rate=0.01), sample(1500, rng, error_rate=0.01),
                     K, RARE, TH, 0.05)
    alarms += bool(g.breaches(res))
  assert alarms <= 0.05 * 400, alarms


def test_error_rate_breach_needs_effect_and_significance():
  rng = np.random.default_rng(2)
  stable = sample(1000, rng)
  bad = sample(60, rng, error_rate=0.15)
  r = g.error_rate_check(bad, stable, TH, ALPHA)
  assert r.status == BREACH and 'Fisher' in r.reason and r.metrics['p_value'] < ALPHA
  # One error in 60 is a 1.7% rate, above the 1% threshold, but not evidence.
  one = Sample(requests=60, errors=1)
  assert g.error_rate_check(one, Sample(requests=1000, errors=0), TH, ALPHA).status == PASS
  # Too few requests to pass, yet a blatant failure is not waited on.
  assert g.error_rate_check(Sample(requests=20, errors=0), stable, TH,
                            ALPHA).status == INSUFFICIENT
  assert g.error_rate_check(Sample(requests=20, errors=10), stable, TH,
                            ALPHA).status == BREACH
  # Both versions failing alike is not the canary's fault.
  assert g.error_rate_check(Sample(requests=200, errors=20),
                            Sample(requests=2000, errors=200), TH, ALPHA).status == PASS


def test_latency_breach_needs_ratio_absolute_increase_and_significance():
  rng = np.random.default_rng(3)
  # A loaded machine: a heavy, shared tail on both; the canary 50 ms slower.
  base = lambda n: (5 + rng.exponential(8, n)).tolist()  # noqa: E731
  slow = Sample(requests=60, latencies_ms=[x + 50 for x in base(60)])
  stable = Sample(requests=1000, latencies_ms=base(1000))
  r = g.latency_check(slow, stable, TH, ALPHA)
  assert r.status == BREACH, r.reason
  assert r.metrics['p99_ratio'] > TH.max_p99_ratio
  # Twice as slow but only 2 ms more: below the absolute floor.
  fast = Sample(requests=500, latencies_ms=(2 + rng.uniform(0, 0.2, 500)).tolist())
  faster = Sample(requests=500, latencies_ms=(4 + rng.uniform(0, 0.2, 500)).tolist())
  r = g.latency_check(faster, fast, TH, ALPHA)
  assert r.status == PASS and r.metrics['p99_ratio'] > 1.5
  # One slow outlier among few requests is a high p99 but not a shifted distribution.
  few = Sample(requests=60, latencies_ms=base(59) + [300.0])
  assert g.latency_check(few, stable, TH, ALPHA).status == PASS


def test_prediction_distribution_catches_a_majority_class_model():
  rng = np.random.default_rng(4)
  stable = sample(1000, rng)
  n = 40
  majority = Sample(requests=n, predicted=[0] * n,
                    scores=np.tile([0.9, 0.05, 0.05], (n, 1)), labels=[-1] * n)
  r = g.distribution_check(majority, stable, K, RARE, TH, ALPHA)
  assert r.status == BREACH and 'KS' in r.reason
  # A large sample with a barely different class mix: significant, but small.
  a = Sample(requests=20000, predicted=rng.choice(K, 20000, p=[0.70, 0.25, 0.05]).tolist())
  b = Sample(requests=20000, predicted=rng.choice(K, 20000, p=[0.71, 0.24, 0.05]).tolist())
  r = g.distribution_check(a, b, K, RARE, TH, ALPHA)
  assert r.status == PASS and r.metrics['js_distance'] < TH.max_js_distance


def test_accuracy_uses_a_one_sided_test_with_a_margin():
  rng = np.random.default_rng(5)
  stable = sample(3000, rng, accuracy=0.85)
  worse = sample(600, rng, accuracy=0.70)
  r = g.accuracy_check(worse, stable, TH, ALPHA)
  assert r.status == BREACH and r.metrics['drop'] > 0.1
  slightly = sample(600, rng, accuracy=0.84)
  assert g.accuracy_check(slightly, stable, TH, ALPHA).status == PASS
  # The same raw drop on 30 rows is not evidence.
  few = Sample(requests=30, predicted=[0] * 30, labels=[0] * 25 + [1] * 5)
  assert g.accuracy_check(few, stable, TH, ALPHA).status == INSUFFICIENT
  unlabelled = Sample(requests=10, predicted=[0] * 10, labels=[-1] * 10)
  assert g.accuracy_check(unlabelled, stable, TH, ALPHA).status == SKIPPED


def test_rare_class_recall_fisher():
  rng = np.random.default_rng(6)
  stable = sample(3000, rng, rare_recall=0.6)
  blind = sample(1000, rng, rare_recall=0.0)
  r = g.rare_recall_check(blind, stable, RARE, TH, ALPHA)
  assert r.status == BREACH and r.metrics['canary_recall'] == 0
  assert g.rare_recall_check(sample(1000, rng, rare_recall=0.6), stable, RARE, TH,
                             ALPHA).status == PASS
  tiny = Sample(requests=3, predicted=[0, 0, 2], labels=[2, 0, 2])
  assert g.rare_recall_check(tiny, stable, RARE, TH, ALPHA).status == INSUFFICIENT
  assert g.rare_recall_check(blind, stable, None, TH, ALPHA).status == SKIPPED


def test_absolute_checks_of_shadow_mode():
  rng = np.random.default_rng(7)
  th = Thresholds(min_accuracy=0.75, min_rare_recall=0.3)
  good = by_name(g.evaluate_absolute(sample(500, rng, accuracy=0.95, rare_recall=0.8), K, RARE,
                                     th, 0.05))
  assert {r.status for r in good.values()} == {PASS}, {n: r.reason for n, r in good.items()}
  # Always "repaid" scores ~0.70 on this data: below min_accuracy 0.75, and
  # 1000 rows are enough to say so.
  n = 1000
  labels = rng.permutation([0] * 700 + [1] * 250 + [2] * 50)
  majority = Sample(requests=n, predicted=[0] * n, labels=labels.tolist(),
                    latencies_ms=[3.0] * n)
  res = by_name(g.evaluate_absolute(majority, K, RARE, th, 0.05))
  assert res['accuracy'].status == BREACH
  assert res['rare_class_recall'].status == BREACH
  assert res['prediction_distribution'].status == BREACH
  slow = Sample(requests=100, latencies_ms=[1500.0] * 100)
  res = by_name(g.evaluate_absolute(slow, K, RARE, th, 0.05))
  assert res['latency_p99'].status == BREACH
  assert res['accuracy'].status == SKIPPED  # no labels
  failing = Sample(requests=100, errors=12, latencies_ms=[3.0] * 88)
  assert by_name(g.evaluate_absolute(failing, K, RARE, th, 0.05))['error_rate'].status == BREACH


def test_unmet_required_and_thresholds_json():
  results = [g.CheckResult('error_rate', PASS, ''), g.CheckResult('latency_p99', INSUFFICIENT, ''),
             g.CheckResult('prediction_distribution', SKIPPED, ''),
             g.CheckResult('accuracy', INSUFFICIENT, '')]
  assert [r.name for r in g.unmet_required(results, TH)] == ['latency_p99']
  th = Thresholds.from_json({'max_p99_ratio': 2.0, 'required': ['error_rate']})
  assert th.max_p99_ratio == 2.0 and th.required == ('error_rate',)
  assert Thresholds.from_json(th.to_json()) == th
  with pytest.raises(ValueError, match='unknown guardrail threshold'):
    Thresholds.from_json({'max_p99_ratoi': 2.0})
  # Results serialise to strict JSON (no NaN).
  import json  # pylint: disable=g-import-not-at-top
  r = g.latency_check(Sample(), Sample(), TH, ALPHA)
  json.dumps(r.to_json(), allow_nan=False)


def with_decisions(s, rng, deferral_rate, automated_accuracy=None):
  """The sample under partial automation: a share deferred to a person; the
  automated cases right with `automated_accuracy` (if given)."""
  n = len(s.predicted)
  deferred = rng.random(n) < deferral_rate
  predicted = np.asarray(s.predicted)
  if automated_accuracy is not None:
    labels = np.asarray(s.labels)
    right = rng.random(n) < automated_accuracy
    predicted = np.where(deferred | right, labels, (labels + 1) % K)
  return Sample(requests=s.requests, errors=s.errors, latencies_ms=s.latencies_ms,
                predicted=predicted.tolist(), scores=s.scores, labels=s.labels,
                deferred=deferred.tolist())


def test_a_candidate_deferring_far_more_than_stable_fails_with_a_clear_reason():
  rng = np.random.default_rng(7)
  stable = with_decisions(sample(2000, rng), rng, 0.10)
  similar = by_name(g.evaluate(with_decisions(sample(300, rng), rng, 0.11), stable, K, RARE,
                               TH, ALPHA))
  assert similar['deferral_rate'].status == PASS, similar['deferral_rate'].reason
  hesitant = by_name(g.evaluate(with_decisions(sample(300, rng), rng, 0.35), stable, K, RARE,
                                TH, ALPHA))
  check = hesitant['deferral_rate']
  assert check.status == BREACH
  assert check.reason.startswith('canary defers 2') and 'of cases (87/300)' in check.reason
  assert 'to a person vs stable 1' in check.reason and 'Fisher p=' in check.reason
  assert g.breaches(list(hesitant.values())) == [check]
  # Too few decisions to pass, but not a breach either.
  few = by_name(g.evaluate(with_decisions(sample(20, rng), rng, 0.1), stable, K, RARE, TH,
                           ALPHA))
  assert few['deferral_rate'].status == INSUFFICIENT


def test_automated_accuracy_compares_only_the_cases_each_version_decided():
  rng = np.random.default_rng(8)
  stable = with_decisions(sample(3000, rng), rng, 0.2, automated_accuracy=0.95)
  # Same overall accuracy budget, but the candidate's own decisions are worse.
  worse = by_name(g.evaluate(with_decisions(sample(1500, rng), rng, 0.2,
                                            automated_accuracy=0.85), stable, K, RARE, TH,
                             ALPHA))
  check = worse['automated_accuracy']
  assert check.status == BREACH, check.reason
  assert check.reason.startswith('canary automated accuracy 0.8')
  assert check.metrics['canary_n'] == pytest.approx(1500 * 0.8, rel=0.1)
  same = by_name(g.evaluate(with_decisions(sample(1500, rng), rng, 0.2,
                                           automated_accuracy=0.95), stable, K, RARE, TH, ALPHA))
  assert same['automated_accuracy'].status == PASS, same['automated_accuracy'].reason
  unlabelled = Sample(**{**stable.__dict__, 'labels': [-1] * len(stable.labels)})
  assert by_name(g.evaluate(unlabelled, unlabelled, K, RARE, TH, ALPHA))[
      'automated_accuracy'].status == SKIPPED


def test_shadow_latency_budget_is_the_monitoring_alerts(credit_spec):
  import dataclasses  # pylint: disable=g-import-not-at-top
  from rollout import config  # pylint: disable=g-import-not-at-top
  assert config.thresholds_for(credit_spec).max_p99_ms == 1000.0  # the default 1 s
  raw = dict(credit_spec.raw, monitoring={'thresholds': {'latency_p99_seconds': 2.5}})
  relaxed = dataclasses.replace(credit_spec, raw=raw)
  assert config.thresholds_for(relaxed).max_p99_ms == 2500.0
  assert config.thresholds_for(relaxed, {'max_p99_ms': 50}).max_p99_ms == 50


def _answers(labels, predicted):
  n = len(labels)
  scores = np.full((n, K), 0.1)
  scores[np.arange(n), predicted] = 0.8
  return Sample(requests=n, latencies_ms=[5.0] * n, predicted=list(predicted), scores=scores,
                labels=list(labels))


def _world(n=1000, mix=(0.5, 0.3, 0.2)):
  return np.repeat(np.arange(K), [int(n * p) for p in mix])


def _guess(labels, right_share_by_class, wrong_as, rng):
  """Right on the given share of each class's rows; otherwise `wrong_as`
  (a class id) or, with None, any other class."""
  predicted = labels.copy()
  for c, share in enumerate(right_share_by_class):
    rows = np.flatnonzero(labels == c)
    wrong = rows[rng.permutation(rows.size)[:int(round(rows.size * (1 - share)))]]
    predicted[wrong] = (wrong_as if wrong_as is not None else
                        (c + rng.integers(1, K, wrong.size)) % K)
  return predicted


def test_a_class_mix_that_moved_toward_the_labels_is_no_breach():
  """After concept drift: stable (trained before it) still calls the old
  majority; the retrained canary is more accurate and its mix follows the
  labels. Its mix differs from stable's because it is more like the truth."""
  rng = np.random.default_rng(3)
  labels = _world()
  stable = _answers(labels, _guess(labels, (1.0, 0.5, 0.0), 0, rng))     # 0.65
  canary = _answers(labels, _guess(labels, (0.8, 0.8, 0.8), None, rng))  # 0.80
  res = by_name(g.evaluate(canary, stable, K, RARE, TH, ALPHA))
  assert res['accuracy'].status == PASS
  check = res['prediction_distribution']
  assert check.status == PASS, check.reason
  assert check.metrics['js_distance'] > TH.max_js_distance  # it did differ from stable
  assert check.metrics['explained_by_labels'] is True
  assert check.metrics['js_to_labels_canary'] < check.metrics['js_to_labels_stable']
  assert 'explained by the labels' in check.reason


def test_a_class_mix_that_moved_away_from_the_labels_is_still_a_breach():
  """The canary is within the accuracy margin but calls the majority far more
  often than the labels say: labels do not explain its different mix."""
  rng = np.random.default_rng(4)
  labels = _world()
  stable = _answers(labels, _guess(labels, (0.8, 0.8, 0.8), None, rng))   # 0.80
  canary = _answers(labels, _guess(labels, (1.0, 0.74, 0.3), 0, rng))    # 0.78
  res = by_name(g.evaluate(canary, stable, K, RARE, TH, ALPHA))
  assert res['accuracy'].status == PASS
  check = res['prediction_distribution']
  assert check.status == BREACH, check.reason
  assert 'explained' not in check.reason


def test_without_labels_a_different_class_mix_is_a_breach():
  rng = np.random.default_rng(3)
  labels = _world()
  stable = _answers(labels, _guess(labels, (1.0, 0.5, 0.0), 0, rng))
  canary = _answers(labels, _guess(labels, (0.8, 0.8, 0.8), None, rng))
  for s in (stable, canary):
    s.labels = [-1] * len(s.predicted)
  res = by_name(g.evaluate(canary, stable, K, RARE, TH, ALPHA))
  assert res['accuracy'].status == SKIPPED
  assert res['prediction_distribution'].status == BREACH


def test_few_expected_counts_use_the_exact_null_not_the_chi_square_curve():
  """A first canary step: 8 requests, two of them the 2% class. The chi-square
  curve says p = 0.00026 (a clean retrain was rolled back on it); the exact
  null distribution says that happens about once in 130 such steps."""
  few, stable = [3, 3, 2], [195, 91, 6]
  from scipy import stats  # pylint: disable=import-outside-toplevel
  curve = stats.chi2_contingency(np.array([few, stable]), correction=False)[1]
  assert curve < 0.001
  p = g.chi2_homogeneity_p(few, stable)
  assert 0.004 < p < 0.012
  assert p == g.chi2_homogeneity_p(few, stable)  # seeded: the same counts, the same call
  # A real difference is still found on few requests: 5 of 13 in the rare class.
  assert g.chi2_homogeneity_p([1, 7, 5], [194, 90, 3]) < 0.001
  # With enough expected counts the chi-square curve is used as before.
  assert g.chi2_homogeneity_p([100, 50, 30], [195, 91, 60]) == pytest.approx(
      stats.chi2_contingency(np.array([[100, 50, 30], [195, 91, 60]]),
                             correction=False)[1])
  # Goodness of fit to the labels' mix: the same rule.
  assert 0.004 < g.chi2_goodness_p([3, 3, 2], [0.65, 0.33, 0.02]) < 0.02
  assert g.chi2_goodness_p([30, 30, 20], [0.65, 0.33, 0.02]) < 1e-4


def test_sampled_p_values_hold_their_level_under_the_null():
  """Under the null, a sampled p below alpha happens at most about alpha of the time."""
  rng = np.random.default_rng(1)
  pooled_p = [0.65, 0.33, 0.02]
  ps = [g.chi2_homogeneity_p(np.bincount(rng.choice(3, 10, p=pooled_p), minlength=3),
                             np.bincount(rng.choice(3, 300, p=pooled_p), minlength=3))
        for _ in range(400)]
  assert np.mean(np.array(ps) < 0.05) <= 0.08
