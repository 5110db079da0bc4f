"""Changes to the TFX pipeline before TFX's KFP v2 compiler sees it.

TFX compiles only LatestBlessedModelStrategy and LatestArtifactStrategy
resolvers into KFP v2 (as MLMD queries); a custom ResolverStrategy is Python
that runs inside TFX's own orchestrator, which no KFP v2 backend has.
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


def optional_inputs(pipeline) -> List[Tuple[str, str]]:
  """(component id, input key) pairs a component runs without."""
  pairs = []
  for component in pipeline.components:
    spec_class = getattr(component, 'SPEC_CLASS', None)  # None: Resolver nodes
    for key, channel in (spec_class.INPUTS.items() if spec_class else ()):
      if channel.optional:
        pairs.append((component.id, key))
  return pairs
