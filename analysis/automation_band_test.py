"""The band chosen on evaluation data holds on data it never saw."""

import numpy as np
import pytest

import description
from analysis import automation_band

RARE = 2
BASE_RATES = (0.70, 0.275, 0.025)  # the default dataset's: repaid, late, default


def _cases(n, seed, signal=1.6):
  """Labels at the default data's class rates and a model that is right more
  often the clearer its evidence: softmax of the true class's signal plus noise."""
  rng = np.random.default_rng(seed)
  labels = rng.choice(3, size=n, p=BASE_RATES)
  clarity = rng.gamma(2.0, signal, size=n)
  logits = rng.normal(0, 1, size=(n, 3))
  logits[np.arange(n), labels] += clarity
  logits[:, 0] += 0.3  # the model leans to the common class, as real ones do
  probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  return probabilities, labels


def _automated(probabilities, labels, band):
  keep = probabilities.max(axis=1) >= band.min_confidence
  correct = probabilities.argmax(axis=1) == labels
  rare = labels == RARE
  return (correct[keep].mean(), 1 - keep.mean(),
          correct[keep & rare].sum() / max((keep & rare).sum(), 1))


def test_the_band_meets_its_targets_on_held_out_data_within_its_interval():
  automation = description.Automation(target_accuracy=0.9, target_rare_class_recall=0.5,
                                      max_deferral_rate=0.6)
  inside, reached, deferral_inside = 0, 0, 0
  for seed in range(20):
    band = automation_band.choose_band(*_cases(5000, seed), automation, RARE)
    # Held-out data this large shows the band's true accuracy, not another sample's noise.
    accuracy, deferral, _ = _automated(*_cases(100_000, 1000 + seed), band)
    low, high = band.accuracy_interval
    inside += low <= accuracy <= high
    reached += accuracy >= automation.target_accuracy - 0.005
    deferral_inside += band.deferral_interval[0] <= deferral <= band.deferral_interval[1]
  # 95% intervals: a miss now and then is chance; more is a biased band.
  assert inside >= 17, inside
  assert deferral_inside >= 17, deferral_inside
  assert reached >= 18, reached


def test_the_rare_class_recall_target_is_met_on_the_automated_cases():
  automation = description.Automation(target_accuracy=0.8, target_rare_class_recall=0.8,
                                      max_deferral_rate=0.9)
  probabilities, labels = _cases(20000, 7)
  band = automation_band.choose_band(probabilities, labels, automation, RARE)
  _, _, recall = _automated(*_cases(200_000, 8), band)
  low, high = band.rare_class_recall_interval
  assert low <= recall <= high
  assert recall >= 0.8 - 0.02


def test_the_band_defers_as_few_cases_as_the_target_allows():
  probabilities, labels = _cases(5000, 3)
  loose = automation_band.choose_threshold(
      probabilities, labels, description.Automation(target_accuracy=0.85), RARE)
  strict_threshold = automation_band.choose_threshold(
      probabilities, labels, description.Automation(target_accuracy=0.95), RARE)
  strict = automation_band.measure_band(probabilities, labels, strict_threshold, 0.95, RARE)
  assert loose < strict_threshold
  assert strict.accuracy_interval[0] >= 0.95
  # One case fewer deferred and the interval's lower end falls below the target.
  confidence = np.sort(probabilities.max(axis=1))
  assert confidence[strict.deferred - 1] < strict_threshold <= confidence[strict.deferred]
  one_fewer = automation_band.measure_band(
      probabilities, labels, confidence[strict.deferred - 1], 0.95, RARE)
  assert one_fewer.deferred == strict.deferred - 1
  assert one_fewer.accuracy_interval[0] < 0.95


def test_an_easy_target_automates_everything():
  probabilities, labels = _cases(2000, 4)
  band = automation_band.choose_band(
      probabilities, labels, description.Automation(target_accuracy=0.5), RARE)
  assert band.deferred == 0 and band.min_confidence == 0.0 and band.deferral_rate == 0


def test_equally_confident_cases_are_never_split_by_the_band():
  probabilities = np.array([[0.6, 0.4]] * 50 + [[0.9, 0.1]] * 50)
  labels = np.array([1] * 30 + [0] * 20 + [0] * 50)
  threshold = automation_band.choose_threshold(
      probabilities, labels, description.Automation(target_accuracy=0.9))
  assert 0.6 < threshold < 0.9


def test_an_unreachable_target_is_an_error_that_says_how_close_it_got():
  probabilities, labels = _cases(3000, 5)
  with pytest.raises(automation_band.UnreachableTarget,
                     match=r'at most 10\.0% .* target_accuracy 0\.99.*best lower bound.*deferring'):
    automation_band.choose_band(probabilities, labels, description.Automation(
        target_accuracy=0.99, max_deferral_rate=0.1), RARE)
  with pytest.raises(automation_band.UnreachableTarget, match='no deferral reaches them'):
    automation_band.choose_band(probabilities, labels, description.Automation(
        target_accuracy=1.0), RARE)


def test_wilson_interval_of_nothing_is_everything():
  low, high = automation_band.wilson(0, 0, 0.95)
  assert (float(low), float(high)) == (0.0, 1.0)
  low, high = automation_band.wilson(90, 100, 0.95)
  assert 0.82 < low < 0.9 < high < 0.95
