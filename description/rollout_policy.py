"""The `rollout` section: whether a canary waits for a human sign-off.

  rollout:
    signoff: on_regression   # never (default) | always | on_regression
    pause_at_step: 1         # the canary step that pauses (1 = the first)
    deadline_hours: 24       # no decision by then: the candidate is rolled back
    slice_tolerance: 0.05    # a slice regressed when a metric is this much worse

Performance audits ask that a model's figures on the slices that matter be
seen and accepted before it takes all traffic; the rollout pauses at
`pause_at_step`, holding that weight, until `python -m cli.signoff` decides.
"""

import dataclasses
from typing import Any

from description import fields

SIGNOFF_NEVER = 'never'
SIGNOFF_ALWAYS = 'always'
SIGNOFF_ON_REGRESSION = 'on_regression'
SIGNOFF_MODES = (SIGNOFF_NEVER, SIGNOFF_ALWAYS, SIGNOFF_ON_REGRESSION)
# The server holds a paused canary's weight by a lease that ends at the
# deadline; a week bounds how long a forgotten pause can keep the canary.
MAX_DEADLINE_HOURS = 168.0
_FIELDS = ('signoff', 'pause_at_step', 'deadline_hours', 'slice_tolerance')


@dataclasses.dataclass(frozen=True)
class RolloutPolicy:
  """How a canary is signed off (description field `rollout`)."""
  signoff: str = SIGNOFF_NEVER
  pause_at_step: int = 1
  deadline_hours: float = 24.0
  slice_tolerance: float = 0.05

  def requires_signoff(self, regressed: bool) -> bool:
    return (self.signoff == SIGNOFF_ALWAYS or
            (self.signoff == SIGNOFF_ON_REGRESSION and regressed))


def parse_rollout(raw: Any, source: str) -> RolloutPolicy:
  """The optional `rollout` section; every field is checked and named."""
  section = fields.mapping(raw, 'rollout', source)
  fields.unknown_fields(section, _FIELDS, 'rollout.', source)
  values = {}
  if 'signoff' in section:
    values['signoff'] = fields.one_of(section['signoff'], SIGNOFF_MODES,
                                      'rollout.signoff', source)
  if 'pause_at_step' in section:
    values['pause_at_step'] = fields.number(section['pause_at_step'],
                                            'rollout.pause_at_step', source, 1, 100, True)
  if 'deadline_hours' in section:
    values['deadline_hours'] = fields.number(section['deadline_hours'],
                                             'rollout.deadline_hours', source, 0.001,
                                             MAX_DEADLINE_HOURS)
  if 'slice_tolerance' in section:
    values['slice_tolerance'] = fields.number(section['slice_tolerance'],
                                              'rollout.slice_tolerance', source, 0.0, 1.0)
  return RolloutPolicy(**values)
