"""The project's own artifact types, and the properties other code reads back.

One home for them because two layers meet here: the components publish these
artifacts, and the walks over ML Metadata (the previous accepted span, the
skew command's training baseline, the HLP report's lookup, provenance) find
them by type name and read their properties.
"""

from tfx import types

# Properties of a DataValidationVerdict that walks over MLMD read.
VERDICT_PASSED = 'passed'
VERDICT_STATISTICS_ID = 'statistics_id'


class DataValidationVerdict(types.Artifact):
  """The gate's decision on one span of data, with its report.

  Custom properties: passed (1), blocking, warnings, span, baseline_span
  (-1: none), statistics_id, baseline_statistics_id (-1: none), report.
  """
  TYPE_NAME = 'DataValidationVerdict'


class HumanLevelPerformance(types.Artifact):
  """HLP per slice, agreement, gap ranking, label consistency, error analysis, baselines.

  Files: hlp_report.json (all tables), hlp_report.html.
  """
  TYPE_NAME = 'HumanLevelPerformance'


class RolloutDecision(types.Artifact):
  """The outcome of a canary rollout: a directory with rollout.json/.png/.html.

  Custom properties: decision (promoted | rolled_back | not_pushed |
  already_stable), step, step_weight, reason, mode, candidate_version,
  stable_before, stable_after, metrics.
  """
  TYPE_NAME = 'RolloutDecision'


class AutomationPolicy(types.Artifact):
  """Which cases the blessed model may decide alone: the confidence band of partial automation.

  Files: automation_policy.json, automation_policy.html.
  Custom properties: blessed (0: nothing chosen), level, min_confidence (the
  band: automate iff the largest class probability >= it), expected_deferral_rate
  (+ _low/_high), expected_accuracy (+ _low/_high, of the automated cases),
  expected_rare_class_recall (+ _low/_high), confidence_level, model_uri, split.
  """
  TYPE_NAME = 'AutomationPolicy'
