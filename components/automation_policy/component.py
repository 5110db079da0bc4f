"""AutomationPolicy: which cases the blessed model may decide alone (partial automation).

Inputs
  examples        ExampleGen's Examples (the eval split is scored)
  model           the candidate Model (its serving_examples and
                  transform_features signatures)
  model_blessing  the Evaluator's blessing: an unblessed model gets no band
Execution properties
  dataset_description  the dataset description (description.EXEC_PROPERTY); its
                  `automation` section holds the targets and the level
  example_split   the split the band is chosen on (the Evaluator's)
Output
  policy          an AutomationPolicy artifact: the band (min_confidence), the
                  expected deferral rate and automated accuracy and rare-class
                  recall with their intervals as MLMD custom properties, and
                  automation_policy.json / .html

Targets no band reaches within the maximum deferral rate fail the component
(analysis/automation_band.UnreachableTarget). The server applies the band
with serving/automation.py decide().
"""

from typing import Any, Dict, Union

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

import description
from components.automation_policy import executor
from components.automation_policy.executor import (BLESSING_KEY, EXAMPLES_KEY, MODEL_KEY,
                                                   OUTPUT_KEY)  # The channels' names, one home.
from metadata.artifacts import AutomationPolicy as AutomationPolicyArtifact


class AutomationPolicySpec(types.ComponentSpec):
  PARAMETERS = {
      description.EXEC_PROPERTY: ExecutionParameter(type=str),
      'example_split': ExecutionParameter(type=str),
  }
  INPUTS = {
      EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
  }
  OUTPUTS = {
      OUTPUT_KEY: ChannelParameter(type=AutomationPolicyArtifact),
  }


class AutomationPolicy(base_component.BaseComponent):
  """Chooses and records the confidence band of the blessed model (see module doc)."""

  SPEC_CLASS = AutomationPolicySpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               model_blessing: types.BaseChannel,
               spec: Union[description.DatasetSpec, Dict[str, Any]],
               example_split: str = 'eval'):
    if not isinstance(spec, description.DatasetSpec):
      spec = description.from_exec_property(spec)
    if spec.automation is None:
      # Caught when the pipeline is built, not when it runs.
      raise description.DatasetSpecError(
          f'{spec.source}: AutomationPolicy needs an automation section')
    super().__init__(spec=AutomationPolicySpec(
        examples=examples, model=model, model_blessing=model_blessing,
        **{description.EXEC_PROPERTY: description.to_exec_property(spec)},
        example_split=example_split,
        policy=types.Channel(type=AutomationPolicyArtifact)))
