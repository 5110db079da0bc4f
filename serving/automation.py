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

The band travels with the pushed version: the pipeline's Pusher writes
automation_policy.json into `<serving dir>/<version>/` before the
saved_model.pb that marks the version complete, and the server reads it when
it loads the version (`read_policy`). The serving directory is the one thing
a server shares with the pipeline on every orchestrator (a local directory,
a volume or a bucket on Kubeflow); a server asking ML Metadata instead would
need the metadata store's address and credentials inside the serving cluster.

  decisions = decide_batch(probabilities, policy, level)
  annotate(payload, decisions)        # adds `automation` to each prediction
  AutomationMetrics(registry)         # deferral counters and expected-rate gauges
"""

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence

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
# Level partial on a version pushed without a policy: a person decides, since
# no band was ever checked for it (the admin call refuses partial for the
# versions serving when it is made; this covers a canary labelled later).
RULE_NO_BAND = 'no_band'
# The model answered NaN or infinity: no confidence to compare with any band,
# so a person decides at every level but full (where nobody is asked; the
# server's invalid-output metric and alert cover it).
RULE_INVALID_OUTPUT = 'invalid_output'
RULES = (RULE_SHADOW, RULE_ASSIST, RULE_CONFIDENT, RULE_BELOW_BAND, RULE_FULL, RULE_NO_BAND,
         RULE_INVALID_OUTPUT)
FULL = 'full'
POLICY_FILE = 'automation_policy.json'
# The `bound` label of serving_automation_expected_deferral_rate.
DEFERRAL_BOUNDS = ('expected', 'low', 'high')


class NoBandError(ValueError):
  """Level partial asked for a served version that has no band (HTTP 409)."""


@dataclasses.dataclass(frozen=True)
class Decision:
  outcome: str  # DECIDED | DEFERRED
  rule: str
  reason: str
  class_id: int  # the model's answer, whoever decides (-1: a non-finite output)
  confidence: float  # its largest class probability

  @property
  def decided(self) -> bool:
    return self.outcome == DECIDED

  def to_json(self) -> Dict[str, Any]:
    return {'decision': self.outcome, 'rule': self.rule, 'reason': self.reason}


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
  """The band of one served version and what evaluation expects of it."""
  min_confidence: float
  expected_deferral_rate: float
  expected_deferral_rate_low: float
  expected_deferral_rate_high: float
  expected_accuracy: Optional[float] = None


def read_policy(version_dir: str) -> Optional[VersionPolicy]:
  """The policy pushed with a version, or None; ValueError names a bad file's field."""
  path = os.path.join(version_dir, POLICY_FILE)
  try:
    with open(path, encoding='utf-8') as f:
      document = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as e:
    raise ValueError(f'{path}: cannot read the automation policy: {e}') from e
  band = document.get('band') if isinstance(document, dict) else None
  if not isinstance(document, dict) or not document.get('blessed') or band is None:
    return None  # the model was not blessed: no band was chosen for it
  if not isinstance(band, dict):
    raise ValueError(f'{path}: "band" must be an object')
  values = {}
  for key in ('min_confidence', 'expected_deferral_rate', 'expected_deferral_rate_low',
              'expected_deferral_rate_high', 'expected_accuracy'):
    value = band.get(key)
    if value is None and key == 'expected_accuracy':
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
      raise ValueError(f'{path}: band.{key} must be a number in [0, 1], got {value!r}')
    values[key] = float(value)
  return VersionPolicy(**values)


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
  if not values:
    raise ValueError('expected class probabilities, got none')
  if not all(math.isfinite(p) for p in values):
    # A model bug is not a client's mistake: the answer still goes out (as TF
    # Serving's would), and no band can vouch for it.
    if level == 'full':
      return Decision(DECIDED, RULE_FULL, 'full automation', -1, math.nan)
    return Decision(DEFERRED, RULE_INVALID_OUTPUT,
                    'the model answered non-finite probabilities: a person decides', -1,
                    math.nan)
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


def decide_batch(probabilities: Any, policy: Optional[VersionPolicy],
                 level: str) -> List[Decision]:
  """One decision per row of `probabilities` under the version's policy."""
  rows = [list(map(float, row)) for row in probabilities]
  if level == 'partial' and policy is None:
    out = []
    for row in rows:
      one = decide(row, None, 'shadow')  # the model's answer, nobody acts on it
      out.append(dataclasses.replace(
          one, rule=RULE_NO_BAND,
          reason='the served version has no automation policy: a person decides'))
    return out
  band = None if policy is None else policy.min_confidence
  return [decide(row, band, level) for row in rows]


def annotate(payload: Dict[str, Any], decisions: Sequence[Decision]) -> Dict[str, Any]:
  """Adds each instance's decision to a TF-Serving response body, in place.

  Row format: an `automation` field in each prediction object; columnar
  format: an `automation` list under `outputs`, one entry per instance.
  """
  entries = [d.to_json() for d in decisions]
  predictions = payload.get('predictions')
  if isinstance(predictions, list) and all(isinstance(p, dict) for p in predictions):
    for prediction, entry in zip(predictions, entries):
      prediction['automation'] = entry
  elif isinstance(payload.get('outputs'), dict):
    payload['outputs']['automation'] = entries
  else:  # a single unnamed output: no object to add a field to
    payload['automation'] = entries
  return payload


def _remove_if_present(metric: Any, *labels: str) -> None:
  try:
    metric.remove(*labels)
  except KeyError:  # prometheus_client's answer for a series never set
    pass


class AutomationMetrics:
  """Deferral counters per model and version, the level, the expected rates.

  Label values are the served model, a loaded version, a level and a rule
  from the fixed sets above: nothing a client sends becomes a label.
  """

  def __init__(self, registry: Any):
    from prometheus_client import Counter, Gauge  # pylint: disable=g-import-not-at-top
    self.decisions = Counter(
        'serving_automation_decisions', 'Instances decided by the model or deferred to a '
        'person, by the rule that sent them there.',
        ['model', 'version', 'level', 'decision', 'rule'], registry=registry)
    self.level = Gauge('serving_automation_level', '1 for the automation level in force.',
                       ['model', 'level'], registry=registry)
    self.expected_deferral = Gauge(
        'serving_automation_expected_deferral_rate', 'Deferral rate the evaluation '
        'expects of a version\'s band (bound: expected | low | high of its interval).',
        ['model', 'version', 'bound'], registry=registry)
    self.expected_accuracy = Gauge(
        'serving_automation_expected_accuracy', 'Accuracy of automated decisions the '
        'evaluation expects of a version\'s band.', ['model', 'version'], registry=registry)

  def observe_level(self, model: str, level: str) -> None:
    for each in LEVELS:
      self.level.labels(model, each).set(1 if each == level else 0)

  def observe_policy(self, model: str, version: str, policy: Optional[VersionPolicy]) -> None:
    if policy is None:
      return
    for bound, value in zip(DEFERRAL_BOUNDS, (policy.expected_deferral_rate,
                                              policy.expected_deferral_rate_low,
                                              policy.expected_deferral_rate_high)):
      self.expected_deferral.labels(model, version, bound).set(value)
    if policy.expected_accuracy is not None:
      self.expected_accuracy.labels(model, version).set(policy.expected_accuracy)

  def forget_version(self, model: str, version: str) -> None:
    """An unloaded version's expectations leave the exposition (a dashboard
    would otherwise compare live deferral with a band no longer served); its
    decision counters stay: what it decided while loaded still happened."""
    for bound in DEFERRAL_BOUNDS:
      _remove_if_present(self.expected_deferral, model, version, bound)
    _remove_if_present(self.expected_accuracy, model, version)

  def observe_decisions(self, model: str, version: str, level: str,
                        decisions: Sequence[Decision]) -> None:
    counts: Dict[tuple, int] = {}
    for d in decisions:
      counts[(d.outcome, d.rule)] = counts.get((d.outcome, d.rule), 0) + 1
    for (outcome, rule), n in counts.items():
      self.decisions.labels(model, version, level, outcome, rule).inc(n)
