"""Who decides a case: the model, or a person it is deferred to.

  decision = decide(probabilities, band, level)   # one instance
  decision.decided, decision.rule, decision.reason

`band` is the min_confidence the pipeline chose for the served version
(components/automation_policy, recorded in ML Metadata with the model and in
automation_policy.json); `level` is the automation level of the served model:

  shadow   the model's answer is only logged: a person decides every case
  assist   the model's answer goes to the person who decides
  partial  the model decides when its confidence reaches the band, else defers
  full     the model decides every case

A pure function of its arguments, so the server, the rollout's replay and the
monitoring all reach the same decision for the same case.
"""

import dataclasses
import math
from typing import Optional, Sequence

import description

LEVELS = description.AUTOMATION_LEVELS
DECIDED = 'decided'
DEFERRED = 'deferred'

# Why a case went where it went: a stable name per rule, for logs and metrics.
RULE_SHADOW = 'shadow'
RULE_ASSIST = 'assist'
RULE_CONFIDENT = 'confident'
RULE_BELOW_BAND = 'below_band'
RULE_FULL = 'full'


@dataclasses.dataclass(frozen=True)
class Decision:
  outcome: str  # DECIDED | DEFERRED
  rule: str
  reason: str
  class_id: int  # the model's answer, whoever decides
  confidence: float  # its largest class probability

  @property
  def decided(self) -> bool:
    return self.outcome == DECIDED


def check_band(band: Optional[float], level: str) -> None:
  """ValueError for a level or band the server must refuse to apply."""
  if level not in LEVELS:
    raise ValueError(f'automation level {level!r}: expected one of {LEVELS}')
  if band is None:
    if level == 'partial':
      raise ValueError('automation level partial needs a band (min_confidence): '
                       'the served version has no automation policy')
    return
  if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0 <= band <= 1:
    raise ValueError(f'automation band (min_confidence) must be a number in [0, 1], '
                     f'got {band!r}')


def decide(probabilities: Sequence[float], band: Optional[float], level: str) -> Decision:
  """The decision for one instance, given the model's class probabilities."""
  check_band(band, level)
  values = [float(p) for p in probabilities]
  if not values or not all(math.isfinite(p) for p in values):
    raise ValueError(f'expected finite class probabilities, got {list(probabilities)!r}')
  confidence = max(values)
  class_id = values.index(confidence)
  if level == 'shadow':
    return Decision(DEFERRED, RULE_SHADOW, 'shadow mode: the answer is only logged',
                    class_id, confidence)
  if level == 'assist':
    return Decision(DEFERRED, RULE_ASSIST, 'assist mode: a person decides with this answer',
                    class_id, confidence)
  if level == 'full':
    return Decision(DECIDED, RULE_FULL, 'full automation', class_id, confidence)
  if confidence >= band:
    return Decision(DECIDED, RULE_CONFIDENT,
                    f'confidence {confidence:.3f} >= band {band:.3f}', class_id, confidence)
  return Decision(DEFERRED, RULE_BELOW_BAND,
                  f'confidence {confidence:.3f} < band {band:.3f}', class_id, confidence)
