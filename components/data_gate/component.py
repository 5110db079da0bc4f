"""DataValidationGate: the pipeline stops here on bad or drifted data.

Reads what the validators found and decides, by the dataset description's
policy, whether the span may go on to Transform and Trainer
(validation/gate_findings.py):

* schema anomalies (ExampleValidator: types, domains, ranges, presence,
  unknown or missing columns) always block: the schema is the data contract,
  and a tolerance is expressed in the schema itself (e.g. a new category is
  tolerated up to `distribution_constraints.min_domain_mass`);
* drift between this span and the previous good one (DistributionValidator
  with the schema's comparators) blocks or warns per column
  (`drift: block|warn` in the description);
* concept drift: P(label | feature bin) between the two spans
  (validation/label_drift.py), validation.label_drift in the description.

It always writes a report (report.txt, report.html, report.json) under
<pipeline root>/DataValidationGate/reports/<execution id>/ -- outside the
output artifact, whose directory TFX deletes when an execution fails. When
anything blocks, the execution FAILS with a message that summarises the
findings and names the report; MLMD keeps the message with the FAILED
execution, and nothing downstream runs. Otherwise it publishes a
DataValidationVerdict artifact (passed=1) carrying the report and the ids of
the statistics it judged, which is how PreviousSpanStrategy finds the last
good span. The work is in executor.py.
"""

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

import description
from components.data_gate import executor
from metadata.artifacts import DataValidationVerdict

# Where the reports go is part of the component's contract:
# pipeline/validation_outcome.py finds a failed run's report there.
REPORTS_DIR = executor.REPORTS_DIR


class DataValidationGateSpec(ComponentSpec):
  PARAMETERS = {description.EXEC_PROPERTY: ExecutionParameter(type=str)}
  INPUTS = {
      executor.STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
      executor.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
      executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      # From the previous span (absent for the first span).
      executor.DRIFT_ANOMALIES_KEY: ChannelParameter(
          type=standard_artifacts.ExampleAnomalies, optional=True),
      executor.BASELINE_STATISTICS_KEY: ChannelParameter(
          type=standard_artifacts.ExampleStatistics, optional=True),
      executor.BASELINE_EXAMPLES_KEY: ChannelParameter(
          type=standard_artifacts.Examples, optional=True),
  }
  OUTPUTS = {executor.VERDICT_KEY: ChannelParameter(type=DataValidationVerdict)}


class DataValidationGate(base_component.BaseComponent):
  """Stops the pipeline on blocking anomalies or drift (see module docstring)."""

  SPEC_CLASS = DataValidationGateSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, spec: description.DatasetSpec, statistics, schema, anomalies,
               examples, drift_anomalies=None, baseline_statistics=None,
               baseline_examples=None):
    super().__init__(spec=DataValidationGateSpec(
        **{description.EXEC_PROPERTY: description.to_exec_property(spec)},
        statistics=statistics, schema=schema, anomalies=anomalies,
        examples=examples, drift_anomalies=drift_anomalies,
        baseline_statistics=baseline_statistics,
        baseline_examples=baseline_examples,
        verdict=types.Channel(type=DataValidationVerdict)))
