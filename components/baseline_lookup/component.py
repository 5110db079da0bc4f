"""Baseline lookups: the two resolver questions as tasks, for Kubeflow Pipelines.

  PreviousSpanLookup  inputs   examples (this run's span)
                      outputs  baseline_statistics, baseline_examples: the
                               latest earlier span the data gate passed
  BlessedModelLookup  inputs   candidate_model (this run's; orders the task
                               after training and keys KFP's cache on it)
                      outputs  model: the latest model the Evaluator blessed
                               that no rollout refused

A local run answers both with TFX resolvers (pipeline/previous_span.py,
pipeline/serving_baseline.py), which run inside TFX's orchestrator. The
open-source KFP backend runs container tasks only, so there these components
ask ML Metadata themselves (history.py), with the same answers;
kubeflow_support/surgery.py puts them in place of the resolvers. An output
with nothing found carries found = 0 (executor.py).
"""

from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import channel
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.baseline_lookup import executor

PIPELINE_NAME = executor.PIPELINE_NAME


class PreviousSpanLookupSpec(ComponentSpec):
  PARAMETERS = {PIPELINE_NAME: ExecutionParameter(type=str)}
  INPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
  OUTPUTS = {
      executor.BASELINE_STATISTICS_KEY: ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
      executor.BASELINE_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
  }


class PreviousSpanLookup(base_component.BaseComponent):
  """The previous accepted span's statistics and examples, found in ML Metadata."""

  SPEC_CLASS = PreviousSpanLookupSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.PreviousSpanExecutor)

  def __init__(self, examples: channel.BaseChannel, pipeline_name: str):
    super().__init__(spec=PreviousSpanLookupSpec(
        examples=examples, pipeline_name=pipeline_name,
        baseline_statistics=channel.Channel(type=standard_artifacts.ExampleStatistics),
        baseline_examples=channel.Channel(type=standard_artifacts.Examples)))


class BlessedModelLookupSpec(ComponentSpec):
  PARAMETERS = {PIPELINE_NAME: ExecutionParameter(type=str)}
  INPUTS = {executor.CANDIDATE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}
  OUTPUTS = {executor.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class BlessedModelLookup(base_component.BaseComponent):
  """The latest blessed model of the pipeline no rollout refused, found in ML Metadata."""

  SPEC_CLASS = BlessedModelLookupSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.BlessedModelExecutor)

  def __init__(self, candidate_model: channel.BaseChannel, pipeline_name: str):
    super().__init__(spec=BlessedModelLookupSpec(
        candidate_model=candidate_model, pipeline_name=pipeline_name,
        **{executor.BASELINE_MODEL_KEY: channel.Channel(type=standard_artifacts.Model)}))
