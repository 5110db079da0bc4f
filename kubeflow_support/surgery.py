"""Changes to the TFX pipeline before TFX's KFP v2 compiler sees it.

TFX compiles only LatestBlessedModelStrategy and LatestArtifactStrategy
resolvers into KFP v2, as MLMD queries that only Vertex AI evaluates; a
custom ResolverStrategy (pipeline/previous_span.py) is Python that runs
inside TFX's own orchestrator, which no KFP v2 backend has. For the
open-source KFP backend, replace_resolvers() puts a lookup task
(components/baseline_lookup) in place of each of our two resolvers. For
Vertex AI, fall_back_for_vertex() puts LatestBlessedModelStrategy in place of
the serving-baseline strategy (pipeline/serving_baseline.py), with a note.
What is left uncompilable is dropped (drop_uncompilable_resolvers), with a
note.
"""

from typing import List, Tuple

from kubeflow_support.settings import UsageError


def _strategy(node):
  from tfx.dsl.components.common import resolver  # pylint: disable=g-import-not-at-top
  from tfx.utils import deprecation_utils  # pylint: disable=g-import-not-at-top
  strategy = node.exec_properties.get(resolver.RESOLVER_STRATEGY_CLASS)
  return deprecation_utils.get_first_nondeprecated_class(strategy) if strategy else None


def resolvers(pipeline) -> list:
  from tfx.dsl.components.common import resolver  # pylint: disable=g-import-not-at-top
  return [n for n in pipeline.components if isinstance(n, resolver.Resolver)]


def _compilable(node) -> bool:
  from tfx.dsl.input_resolution.strategies import latest_artifact_strategy  # pylint: disable=g-import-not-at-top
  from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy  # pylint: disable=g-import-not-at-top
  return _strategy(node) in (latest_blessed_model_strategy.LatestBlessedModelStrategy,
                             latest_artifact_strategy.LatestArtifactStrategy)


def _remove_node(pipeline, node) -> List[Tuple[str, str]]:
  """Takes `node` out; returns the (consumer id, input key) pairs it fed."""
  fed = []
  for consumer in pipeline.components:
    spec_class = getattr(consumer, 'SPEC_CLASS', None)
    for key, channel in list(consumer.inputs.items()):
      if getattr(channel, 'producer_component_id', None) != node.id:
        continue
      if spec_class is None or not spec_class.INPUTS[key].optional:
        raise UsageError(
            f'{consumer.id}.{key} comes from the Resolver {node.id}, whose '
            f'strategy {getattr(_strategy(node), "__name__", None)} cannot be '
            f'compiled for Kubeflow Pipelines, and the input is not optional')
      del consumer.inputs[key]
      fed.append((consumer.id, key))
    if node in consumer.upstream_nodes:  # both directions go together
      consumer.remove_upstream_node(node)
  for upstream in list(node.upstream_nodes):
    node.remove_upstream_node(upstream)
  pipeline.components = [c for c in pipeline.components if c is not node]
  return fed


def drop_uncompilable_resolvers(pipeline) -> Tuple[List[str], List[Tuple[str, str]]]:
  """Takes out Resolver nodes whose strategy the KFP v2 compiler cannot build.

  Such a node can go only if every input it feeds is optional; the consumer
  then runs as it does when the resolver finds nothing (kubeflow_support/launch.py
  passes the input empty). Returns (notes, the (component id, input key) pairs it fed).
  """
  notes, dropped = [], []
  for node in resolvers(pipeline):
    if _compilable(node):
      continue
    fed = _remove_node(pipeline, node)
    dropped += fed
    notes.append(
        f'{node.id} ({getattr(_strategy(node), "__name__", None)}) was left out: '
        f'custom resolver strategies run only in TFX\'s own orchestrator; '
        f'{", ".join(f"{c}.{k}" for c, k in fed) or "nothing"} always empty')
  return notes, dropped


def _rewire(pipeline, node, replacement) -> List[Tuple[str, str]]:
  """Feeds every consumer of `node` from `replacement`'s output of the same key."""
  fed = []
  for consumer in pipeline.components:
    for key, channel in list(consumer.inputs.items()):
      if getattr(channel, 'producer_component_id', None) != node.id:
        continue
      if channel.output_key not in replacement.outputs:
        raise UsageError(f'{consumer.id}.{key} reads {node.id}.{channel.output_key}, '
                         f'which {replacement.id} does not produce')
      consumer.inputs[key] = replacement.outputs[channel.output_key]
      if node in consumer.upstream_nodes:
        consumer.remove_upstream_node(node)
      fed.append((consumer.id, key))
  for upstream in list(node.upstream_nodes):
    node.remove_upstream_node(upstream)
  # The setter links producers and consumers again from the channels; the
  # registry is what TFX's compiler reads node contexts from (replace_node is
  # its API for modifying a pipeline during compilation).
  pipeline.components = [replacement if c is node else c for c in pipeline.components]
  registry = pipeline.dsl_context_registry
  with registry.temporary_mutable():
    registry.replace_node(node, replacement)
  return fed


def _lookup_for(pipeline, node):
  """The lookup task answering `node`'s question, or None if it is not ours."""
  from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy  # pylint: disable=g-import-not-at-top
  from components.baseline_lookup import component as lookup  # pylint: disable=g-import-not-at-top
  from pipeline import previous_span  # pylint: disable=g-import-not-at-top
  from pipeline import serving_baseline  # pylint: disable=g-import-not-at-top
  name = pipeline.pipeline_info.pipeline_name
  nodes = {c.id: c for c in pipeline.components}
  strategy = _strategy(node)
  if strategy is previous_span.PreviousSpanStrategy:
    statistics = node.raw_inputs[previous_span.CURRENT_KEY]
    examples = nodes[statistics.producer_component_id].inputs['examples']
    return lookup.PreviousSpanLookup(examples=examples, pipeline_name=name).with_id(
        'previous_span_lookup')
  if strategy in (serving_baseline.ServingBaselineStrategy,
                  latest_blessed_model_strategy.LatestBlessedModelStrategy):
    candidates = [c.inputs['model'] for c in pipeline.components
                  if 'model' in c.inputs and any(
                      getattr(ch, 'producer_component_id', None) == node.id
                      for ch in c.inputs.values())]
    if not candidates:
      raise UsageError(f'{node.id}: no consumer evaluates a candidate `model` against it')
    return lookup.BlessedModelLookup(
        candidate_model=candidates[0], pipeline_name=name).with_id(
            'latest_blessed_model_lookup')
  return None


def replace_resolvers(pipeline) -> Tuple[List[str], List[Tuple[str, str]], List[str]]:
  """Puts a lookup task in place of each resolver we have one for.

  Returns (notes, the (consumer id, input key) pairs the lookups feed, the
  lookup task ids).
  """
  notes, fed, lookups = [], [], []
  for node in resolvers(pipeline):
    replacement = _lookup_for(pipeline, node)
    if replacement is None:
      continue
    pairs = _rewire(pipeline, node, replacement)
    fed += pairs
    lookups.append(replacement.id)
    notes.append(f'{node.id} is answered by the task {replacement.id}, which queries '
                 f'ML Metadata (the resolver runs only in TFX\'s orchestrator); it feeds '
                 f'{", ".join(f"{c}.{k}" for c, k in pairs)}')
  return notes, fed, lookups


def fall_back_for_vertex(pipeline) -> List[str]:
  """Puts TFX's LatestBlessedModelStrategy in place of ServingBaselineStrategy.

  Vertex AI evaluates only TFX's own strategies, in its own ML Metadata,
  which the lookup tasks cannot reach. Dropping the resolver would leave the
  Evaluator without a baseline; this one keeps the comparison, with the
  known gap the note names.
  """
  from tfx.dsl.components.common import resolver  # pylint: disable=g-import-not-at-top
  from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy  # pylint: disable=g-import-not-at-top
  from pipeline import serving_baseline  # pylint: disable=g-import-not-at-top
  notes = []
  for node in resolvers(pipeline):
    if _strategy(node) is not serving_baseline.ServingBaselineStrategy:
      continue
    replacement = resolver.Resolver(
        strategy_class=latest_blessed_model_strategy.LatestBlessedModelStrategy,
        **node.raw_inputs).with_id(node.id)
    _rewire(pipeline, node, replacement)
    notes.append(f'{node.id} runs LatestBlessedModelStrategy on Vertex AI: a blessed '
                 f'model whose rollout was rolled back can be the baseline there')
  return notes


def adapt_executors(pipeline) -> List[str]:
  """Compiles executors.REPLACEMENTS in place of TFX executors the KFP entrypoint trips."""
  from tfx.dsl.components.base import executor_spec  # pylint: disable=g-import-not-at-top
  from kubeflow_support import executors  # pylint: disable=g-import-not-at-top
  notes = []
  for component in pipeline.components:
    spec = getattr(component, 'executor_spec', None)
    replacement = executors.REPLACEMENTS.get(getattr(spec, 'executor_class', None))
    if isinstance(spec, executor_spec.ExecutorClassSpec) and replacement:
      component.executor_spec = executor_spec.ExecutorClassSpec(replacement)
      notes.append(f'{component.id} runs {replacement.__module__}.'
                   f'{replacement.__name__}, which decodes its proto exec properties '
                   f'(TFX\'s KFP entrypoint passes them as JSON text)')
  return notes


def optional_inputs(pipeline) -> List[Tuple[str, str]]:
  """(component id, input key) pairs a component runs without."""
  pairs = []
  for component in pipeline.components:
    spec_class = getattr(component, 'SPEC_CLASS', None)  # None: Resolver nodes
    for key, channel in (spec_class.INPUTS.items() if spec_class else ()):
      if channel.optional:
        pairs.append((component.id, key))
  return pairs
