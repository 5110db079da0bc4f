"""The dataset description: one YAML file that tells models/ and pipeline/ what
the columns are and how each is treated.

Everything downstream (preprocessing_fn, the Keras model, the EvalConfig, the
pipeline's input pattern, the data gate) is derived from a `DatasetSpec`, so a
user brings their own CSV plus a description and changes no code. The spec
travels to the Transform and Trainer executors as a plain dict in
`custom_config`, and to our custom components under `EXEC_PROPERTY`; both
record it in ML Metadata with the executions that used it.

One module per part of it:
  spec        DatasetSpec, parse, load
  fields      DatasetSpecError and the field readers that name file and field
  columns     Column, column types and treatments, transformed feature names
  label       the label column or the rule deriving it, classes, weighting
  roles       id column, protected attributes, tags, slice crosses, labelers
  splits      ExampleGen's split sizes, when to stratify
  policy      ValidationPolicy: how the data gate treats drift
  rollout_policy  RolloutPolicy: whether a canary waits for a sign-off
  training    Training: the Trainer's hyperparameters
  evaluation  Evaluation: the Evaluator's blessing gates
  pii         PII: personal-data columns, drop or keyed hash; Redactor
  automation  Automation: how far the model may decide on its own (optional)
  codec       EXEC_PROPERTY, to_exec_property, from_exec_property
  spans       the spans of a dataset on disk
"""

from description.automation import LEVELS as AUTOMATION_LEVELS
from description.automation import Automation
from description.codec import EXEC_PROPERTY
from description.codec import from_exec_property
from description.codec import to_exec_property
from description.columns import COLUMN_TYPES
from description.columns import Column
from description.columns import DRIFT_ACTIONS
from description.columns import MISSING_SUFFIX
from description.columns import TRANSFORMED_SUFFIX
from description.columns import TREATMENTS
from description.columns import missing_indicator_name
from description.columns import transformed_name
from description.evaluation import Evaluation
from description.fields import DatasetSpecError
from description.label import CLASS_WEIGHTINGS
from description.pii import PII
from description.pii import PII_TREATMENTS
from description.pii import PIIKeyError
from description.pii import Redactor
from description.pii import redactor
from description.policy import ValidationPolicy
from description.rollout_policy import RolloutPolicy
from description.spec import PACKAGE_PREFIX
from description.spec import DatasetSpec
from description.spec import load
from description.spec import parse
from description.training import Training
