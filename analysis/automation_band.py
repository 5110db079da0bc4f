"""Which cases the model may decide alone: the confidence band of partial automation.

  band = choose_band(probabilities, labels, spec.automation, spec.rare_class_id)
  # automate a case iff max(probabilities) >= band.min_confidence; defer the rest

The band is chosen on evaluation data: the cases are ranked by the model's
confidence (its largest class probability) and the least confident are
deferred, as few as possible, until the automated rest reaches the targets.
A target counts as reached when the lower end of its Wilson interval at
`confidence_level` is at or above it, not the point estimate: the band is
applied to cases the evaluation never saw, and an estimate that only just
passes on one sample misses the target on the next about half of the time.

The numbers recorded with the band (deferral rate, automated accuracy and
recall, with their intervals) are measured on the same examples. They are
somewhat optimistic, since the band stops where these examples happened to
look good enough; the lower-bound rule is the margin against that (on
synthetic data the 95% interval covered the band's true accuracy in 18 of 20
draws, analysis/automation_band_test.py). Choosing on one half and measuring
on the other was tried: on the default data's ~4,000 eval examples each half
is so noisy that the recorded accuracy fell below the target it was chosen
for (0.832 against 0.85 in a real run).

A target no band within `max_deferral_rate` reaches raises UnreachableTarget:
a description asking for it is a configuration to fix at pipeline time, before
a model is pushed with a band that does not do what the description says.
Pure numpy; imports nothing of ours but description.
"""

import dataclasses
import statistics
from typing import Optional, Tuple

import numpy as np

import description


class UnreachableTarget(ValueError):
  """No band within the maximum deferral rate reaches the targets; says how close it got."""


@dataclasses.dataclass(frozen=True)
class Band:
  # Automate a case iff the model's largest class probability is >= this.
  min_confidence: float
  examples: int
  deferred: int
  deferral_rate: float
  deferral_interval: Tuple[float, float]
  accuracy: Optional[float]  # of the automated cases; None when none is
  accuracy_interval: Tuple[float, float]
  rare_class_examples: int  # automated cases of the rare class
  rare_class_recall: Optional[float]  # among the automated cases
  rare_class_recall_interval: Optional[Tuple[float, float]]
  confidence_level: float


def wilson(successes, trials, confidence_level: float):
  """Wilson score interval(s) of a binomial proportion; (0, 1) where trials is 0."""
  z = statistics.NormalDist().inv_cdf(0.5 + confidence_level / 2)
  successes = np.asarray(successes, dtype=np.float64)
  trials = np.asarray(trials, dtype=np.float64)
  n = np.maximum(trials, 1.0)
  p = successes / n
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
  empty = trials == 0
  return (np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0)),
          np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0)))


def _suffix_sums(values: np.ndarray) -> np.ndarray:
  """s[d] = sum(values[d:]) for d in 0..len(values)."""
  return np.concatenate([np.cumsum(values[::-1])[::-1], [0]])


def choose_band(probabilities, labels, automation: description.Automation,
                rare_class_id: Optional[int] = None) -> Band:
  """The smallest deferral whose automated cases reach `automation`'s targets,
  and what it does on these examples.

  probabilities: (examples, classes) as the serving signature returns them;
  labels: the true class ids.
  """
  probabilities = np.asarray(probabilities, dtype=np.float64)
  labels = np.asarray(labels).reshape(-1)
  if probabilities.ndim != 2 or len(probabilities) != len(labels) or len(labels) < 2:
    raise ValueError(f'expected one row of probabilities per label (at least 2), got shape '
                     f'{probabilities.shape} for {len(labels)} label(s)')
  threshold = choose_threshold(probabilities, labels, automation, rare_class_id)
  return measure_band(probabilities, labels, threshold, automation.confidence_level,
                      rare_class_id)


def measure_band(probabilities, labels, min_confidence: float, confidence_level: float,
                 rare_class_id: Optional[int] = None) -> Band:
  """What automating the cases at or above `min_confidence` does on these examples."""
  probabilities = np.asarray(probabilities, dtype=np.float64)
  labels = np.asarray(labels).reshape(-1)
  keep = probabilities.max(axis=1) >= min_confidence
  correct = probabilities.argmax(axis=1) == labels
  rare = None
  if rare_class_id is not None:
    is_rare = keep & (labels == rare_class_id)
    rare = (int((is_rare & correct).sum()), int(is_rare.sum()))
  return _band(min_confidence, int((~keep).sum()), len(labels), int(correct[keep].sum()),
               rare, confidence_level)


def choose_threshold(probabilities, labels, automation: description.Automation,
                     rare_class_id: Optional[int] = None) -> float:
  """The min_confidence deferring the fewest of these cases such that the
  automated rest reaches the targets (lower interval bounds)."""
  n = len(labels)
  confidence = probabilities.max(axis=1)
  order = np.argsort(confidence, kind='stable')
  confidence = confidence[order]
  correct = (probabilities.argmax(axis=1) == labels)[order]
  # Deferring d cases defers the d least confident: cases[d:] are automated.
  deferred = np.arange(n + 1)
  automated = n - deferred
  right = _suffix_sums(correct)
  level = automation.confidence_level
  accuracy_low, _ = wilson(right, automated, level)
  # A cut between two equally confident cases cannot be applied to them.
  cuttable = np.concatenate([[True], confidence[1:] > confidence[:-1], [False]])
  allowed = cuttable & (automated > 0) & (deferred <= automation.max_deferral_rate * n)
  reached = accuracy_low >= automation.target_accuracy
  recall, recall_low = None, None
  if automation.target_rare_class_recall is not None:
    if rare_class_id is None:
      raise ValueError('a rare-class recall target needs the rare class id')
    rare = (labels == rare_class_id)[order]
    recall = (_suffix_sums(rare & correct), _suffix_sums(rare))
    recall_low, _ = wilson(recall[0], recall[1], level)
    reached &= recall_low >= automation.target_rare_class_recall
  feasible = np.flatnonzero(allowed & reached)
  if not len(feasible):
    raise UnreachableTarget(_unreachable(automation, allowed, reached, accuracy_low,
                                         recall_low, n))
  d = int(feasible[0])
  # Midway between the last deferred and the first automated case.
  return 0.0 if d == 0 else float((confidence[d - 1] + confidence[d]) / 2)


def _band(threshold, d, n, right, rare, level) -> Band:
  automated = n - d

  def interval(successes, trials):
    return tuple(float(x) for x in wilson(successes, trials, level))

  return Band(
      min_confidence=threshold, examples=n, deferred=d, deferral_rate=d / n,
      deferral_interval=interval(d, n), accuracy=right / automated if automated else None,
      accuracy_interval=interval(right, automated),
      rare_class_examples=rare[1] if rare else 0,
      rare_class_recall=(rare[0] / rare[1] if rare and rare[1] else None),
      rare_class_recall_interval=interval(*rare) if rare else None,
      confidence_level=level)


def _unreachable(automation, allowed, reached, accuracy_low, recall_low, n) -> str:
  a = automation
  within = np.flatnonzero(allowed)
  best = (f'the best lower bound of automated accuracy is '
          f'{accuracy_low[within].max():.3f}' if len(within) else 'no band is possible')
  if recall_low is not None and len(within):
    best += f', of automated rare-class recall {recall_low[within].max():.3f}'
  anywhere = np.flatnonzero(reached & (np.arange(n + 1) < n))
  hint = (f'; deferring {anywhere[0] / n:.1%} of cases would reach them' if len(anywhere)
          else '; no deferral reaches them: lower the targets or improve the model')
  targets = f'target_accuracy {a.target_accuracy}'
  if a.target_rare_class_recall is not None:
    targets += f', target_rare_class_recall {a.target_rare_class_recall}'
  return (f'automation: no band with at most {a.max_deferral_rate:.1%} of cases deferred '
          f'reaches {targets} ({a.confidence_level:.0%} lower bounds, {n} evaluation '
          f'examples): {best}{hint}')
