"""The lookups' executors: ask ML Metadata (history.py), publish what was found.

In a Kubeflow pod the store is the cluster's metadata service (KFP's
metadata-grpc-service); $METADATA_URI names another (the local KFP stand-in
points it at its SQLite store).

A KFP task always produces its outputs, so "nothing found" cannot be an
empty output as it is from a resolver. The output then carries
`found = 0` (metadata/artifacts.py) and kubeflow_support/launch.py hands it
to the consumer as an empty list, as TFX's orchestrator hands a resolver's
empty answer. When something is found, the output artifact points at it: its
URI replaces the provisioned one (the KFP launcher keeps an executor's
non-empty URI: mergeRuntimeArtifacts) and its properties are copied, so the
consumer reads the earlier artifact's files as it would through a resolver.
"""

import os
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.baseline_lookup import history
from metadata import artifacts
from metadata import connection

METADATA_URI_ENV = 'METADATA_URI'
# KFP's metadata service, in-cluster (standalone KFP and full Kubeflow alike).
KFP_METADATA_URI = 'grpc://metadata-grpc-service.kubeflow:8080'

PIPELINE_NAME = 'pipeline_name'
EXAMPLES_KEY = 'examples'
CANDIDATE_MODEL_KEY = 'candidate_model'
BASELINE_STATISTICS_KEY = 'baseline_statistics'
BASELINE_EXAMPLES_KEY = 'baseline_examples'
BASELINE_MODEL_KEY = 'model'


def metadata_target() -> str:
  return os.environ.get(METADATA_URI_ENV) or KFP_METADATA_URI


def _open_store():
  return connection.open_store(metadata_target())


def _typed(kind, raw: Any) -> Any:
  from tfx.types.artifact import PropertyType  # pylint: disable=g-import-not-at-top
  if kind == PropertyType.INT:
    return int(float(raw))
  if kind == PropertyType.FLOAT:
    return float(raw)
  if kind == PropertyType.STRING:
    return raw if isinstance(raw, str) else str(raw)
  return None


def publish(output: types.Artifact, found: Optional[history.Found]) -> None:
  """Makes `output` stand for `found`, or marks it not found."""
  if found is None:
    output.set_int_custom_property(artifacts.FOUND, 0)
    return
  output.uri = found.uri
  for key, prop in (output.PROPERTIES or {}).items():
    raw = found.properties.get(key)
    converted = None if raw is None else _typed(prop.type, raw)
    if converted is not None:
      setattr(output, key, converted)
  output.set_int_custom_property(artifacts.FOUND, 1)
  output.set_int_custom_property(artifacts.SOURCE_ARTIFACT_ID, found.id)


def current_span(examples: types.Artifact) -> int:
  """The span being processed: a property locally, a custom one from TFX's KFP driver."""
  if examples.has_property('span') and examples.mlmd_artifact.properties['span'].HasField(
      'int_value'):
    return examples.span
  if examples.has_custom_property('span'):
    return int(float(examples.get_custom_property('span')))
  raise ValueError(f'examples at {examples.uri} have no span: the previous span '
                   f'cannot be looked up')


class PreviousSpanExecutor(base_executor.BaseExecutor):
  """Statistics and examples of the latest earlier span the data gate passed."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    span = current_span(artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY]))
    found = history.previous_span(_open_store(), exec_properties[PIPELINE_NAME], span)
    statistics, examples = found if found else (None, None)
    publish(artifact_utils.get_single_instance(output_dict[BASELINE_STATISTICS_KEY]),
            statistics)
    publish(artifact_utils.get_single_instance(output_dict[BASELINE_EXAMPLES_KEY]),
            examples)


class BlessedModelExecutor(base_executor.BaseExecutor):
  """The latest model the Evaluator blessed in this pipeline that no rollout refused."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    found = history.baseline_model(_open_store(), exec_properties[PIPELINE_NAME])
    publish(artifact_utils.get_single_instance(output_dict[BASELINE_MODEL_KEY]), found)
