"""Names of the project's artifact types and of the properties read back, without TFX.

Readers of ML Metadata (walks, provenance, the commands, sign-off records)
need only these strings; importing the artifact classes (metadata/artifacts.py)
would import TFX and TensorFlow, seconds a lineage command should not pay.
Each name is the importable path of its class, `metadata.<Class>`: see
metadata/artifacts.py for why.
"""

DATA_VALIDATION_VERDICT = 'metadata.DataValidationVerdict'
HUMAN_LEVEL_PERFORMANCE = 'metadata.HumanLevelPerformance'
ROLLOUT_DECISION = 'metadata.RolloutDecision'
AUTOMATION_POLICY = 'metadata.AutomationPolicy'

# Properties of a DataValidationVerdict that walks over MLMD read.
VERDICT_PASSED = 'passed'
VERDICT_STATISTICS_ID = 'statistics_id'

# Custom properties of an artifact a lookup task published on Kubeflow
# (components/baseline_lookup): FOUND 0 means nothing was found and the
# artifact stands for an empty input; SOURCE_ARTIFACT_ID is the MLMD id of the
# artifact it stands for.
FOUND = 'found'
SOURCE_ARTIFACT_ID = 'source_artifact_id'

# A RolloutDecision's `decision` and the values a baseline walk tells apart
# (rollout/config.py defines them; restated so readers of MLMD need not
# import the rollout package). A sign-off's reject or expiry is recorded as a
# new RolloutDecision with ROLLED_BACK (rollout/signoff_record.py).
DECISION = 'decision'
PROMOTED = 'promoted'
ROLLED_BACK = 'rolled_back'
NOT_PUSHED = 'not_pushed'
ALREADY_STABLE = 'already_stable'
AWAITING_SIGNOFF = 'awaiting_signoff'
# Set on the paused RolloutDecision by its sign-off: the outcome it led to.
SIGNOFF_OUTCOME = 'signoff_outcome'
# UniquePusher's SHA-256 of the pushed model's graph and variables, on every
# PushedModel it writes (pushed or a duplicate).
MODEL_FINGERPRINT = 'model_fingerprint'
