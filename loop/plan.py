"""The months of the simulation and the call the system should make in each.

Month k trains on the labelled applications of period k (their outcomes
have arrived) and then serves the applications of period k+1; the labels of
that traffic arrive in month k+1. So a change of the world in period k+1 is
seen by the data gate in month k+1, and by live quality one month after it
started to be served, which is what delayed labels mean.
"""

import dataclasses
from typing import Dict, List, Optional

# What the system may do with a month (the `decision` of a MonthResult).
PROMOTED_SHADOW = 'first deployment in shadow, promoted'
PROMOTED = 'canary, promoted'
BLOCKED = 'blocked by the data gate, stable kept serving'
ROLLED_BACK = 'rolled back at the first canary step, stable kept serving'
ROLLED_BACK_LATER = 'rolled back after the first canary step'
NOT_BLESSED = 'not blessed, nothing pushed'
FAILED = 'pipeline failed'

QUIET, ALARM = 'quiet', 'alarm'


@dataclasses.dataclass(frozen=True)
class Month:
  number: int
  story: str                     # what happens in the world this month
  scenario: str = 'clean'        # the generator's scenario of period `number`
  training: str = 'normal'       # normal | degraded (a broken training configuration)
  expected: str = PROMOTED       # the pipeline's call we expect
  expected_alarm: Optional[str] = None   # the live-quality alarm's call (None: no labels yet)
  harvest_on_alarm: bool = False  # train on the harvested traffic instead of the warehouse
  collect_slice: bool = False    # collect more of the slice the error analysis names
  expect_gap_narrows: bool = False
  expect_live_improves: bool = False  # live accuracy above the month before's


def default_months() -> List[Month]:
  """Seven months: every call of the production loop at least once."""
  return [
      Month(1, 'clean: the first model', expected=PROMOTED_SHADOW),
      Month(2, 'clean month', expected=PROMOTED, expected_alarm=QUIET),
      Month(3, 'data drift: income and channel mix move', scenario='data_drift',
            expected=BLOCKED, expected_alarm=QUIET),
      Month(4, 'clean data, broken training configuration (lax gate)', training='degraded',
            expected=ROLLED_BACK, expected_alarm=QUIET),
      Month(5, 'concept drift: same inputs, outcomes follow debt-to-income more',
            scenario='concept_drift', expected=PROMOTED, expected_alarm=ALARM,
            harvest_on_alarm=True),
      Month(6, 'concept drift goes on; the new model serves', scenario='concept_drift',
            expected=PROMOTED, expected_alarm=QUIET, expect_live_improves=True),
      Month(7, 'more data of the slice the error analysis names', scenario='concept_drift',
            expected=PROMOTED, expected_alarm=QUIET, collect_slice=True,
            expect_gap_narrows=True),
  ]


def schedule(months: List[Month]) -> Dict[int, str]:
  """Period -> scenario, for data.generator --schedule; the traffic served in
  month k is period k+1, so the world one month past the last is needed too."""
  out = {m.number: m.scenario for m in months if m.scenario != 'clean'}
  last = months[-1]
  if last.scenario != 'clean':
    out[last.number + 1] = last.scenario
  return out
