"""The project's own artifact types, and the properties other code reads back.

One home for them because two layers meet here: the components publish these
artifacts, and the walks over ML Metadata (the previous accepted span, the
skew command's training baseline, the HLP report's lookup, provenance) find
them by type name and read their properties.

Each TYPE_NAME is the importable path of its class, `metadata.<Class>`
(metadata/__init__.py re-exports the classes): Kubeflow Pipelines (KFP v2)
names a custom artifact type by its TYPE_NAME, which TFX's compiler accepts
only as `<namespace>.<Class>` with one dot (compiler_utils._SCHEMA_TITLE_RE),
and TFX's entrypoint in the task pod imports the class by that path
(kubeflow_v2_entrypoint_utils._retrieve_class_path). The same name is the
MLMD type name in local runs, so both stores call the type alike. The names
and property keys live in metadata/type_names.py, which readers import
without loading TFX; never a literal.
"""

from tfx import types

from metadata import type_names

# Re-exported for the components that set them.
from metadata.type_names import FOUND  # pylint: disable=unused-import
from metadata.type_names import SOURCE_ARTIFACT_ID  # pylint: disable=unused-import
from metadata.type_names import VERDICT_PASSED  # pylint: disable=unused-import
from metadata.type_names import VERDICT_STATISTICS_ID  # pylint: disable=unused-import


class DataValidationVerdict(types.Artifact):
  """The gate's decision on one span of data, with its report.

  Custom properties: passed (1), blocking, warnings, span, baseline_span
  (-1: none), statistics_id, baseline_statistics_id (-1: none), report.
  """
  TYPE_NAME = type_names.DATA_VALIDATION_VERDICT


class HumanLevelPerformance(types.Artifact):
  """HLP per slice, agreement, gap ranking, label consistency, error analysis, baselines.

  Files: hlp_report.json (all tables), hlp_report.html.
  """
  TYPE_NAME = type_names.HUMAN_LEVEL_PERFORMANCE


class RolloutDecision(types.Artifact):
  """The outcome of a canary rollout: a directory with rollout.json/.png/.html.

  Custom properties: decision (promoted | rolled_back | not_pushed |
  already_stable | awaiting_signoff; a sign-off's outcome is a new
  RolloutDecision, rollout/signoff_record.py), step, step_weight, reason,
  mode, candidate_version, stable_before, stable_after, metrics.
  """
  TYPE_NAME = type_names.ROLLOUT_DECISION


class AutomationPolicy(types.Artifact):
  """Which cases the blessed model may decide alone: the confidence band of partial automation.

  Files: automation_policy.json, automation_policy.html.
  Custom properties: blessed (0: nothing chosen), level, min_confidence (the
  band: automate iff the largest class probability >= it), expected_deferral_rate
  (+ _low/_high), expected_accuracy (+ _low/_high, of the automated cases),
  expected_rare_class_recall (+ _low/_high), confidence_level, model_uri, split.
  """
  TYPE_NAME = type_names.AUTOMATION_POLICY
