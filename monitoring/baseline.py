"""The training data of a served model version, found through ML Metadata.

The served version is the Pusher's `pushed_version` (the directory name under
the serving root, which the server logs as "version"). From that push the
lineage leads, as in validation/skew.py, to the statistics StatisticsGen
computed of the raw examples the model was trained on: PushedModel <- Pusher
<- Model <- Trainer <- transformed Examples <- Transform <- raw Examples ->
StatisticsGen -> ExampleStatistics. Only that version's own training data
counts: a version with no push recorded has no baseline (drift is then not
measured for it, and the caller says why), never another version's.
"""

import dataclasses
import os
from typing import Dict, Optional

from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import standard_artifacts

from metadata import store as mlmd
from metadata import values
from tensorflow_metadata.proto.v0 import statistics_pb2

TRAINING_SPLIT = 'train'


class BaselineMissing(LookupError):
  """No training statistics for a version; the message says what was looked for."""


@dataclasses.dataclass(frozen=True)
class Baseline:
  version: str
  statistics: statistics_pb2.DatasetFeatureStatisticsList
  uri: str
  label_shares: Dict[str, float]


def _linked(store: mlmd.Store, execution_id: int, type_name: str, outputs: bool):
  events = store.outputs(execution_id) if outputs else store.inputs(execution_id)
  found = store.artifacts(e.artifact_id for e in events)
  return [a for a in found if store.type_of(a) == type_name]


def _statistics_of(store: mlmd.Store, raw_examples) -> list:
  found = []
  for event in store.events_of_artifacts([raw_examples.id]):
    if event.type not in values.INPUT_EVENTS:
      continue
    [execution] = store.executions([event.execution_id]) or [None]
    # Transform also writes ExampleStatistics (of its own input and output).
    if execution is None or not store.type_of(execution).endswith('StatisticsGen'):
      continue
    found += _linked(store, execution.id, 'ExampleStatistics', outputs=True)
  return found


def _pushed_version(artifact) -> str:
  prop = artifact.custom_properties.get('pushed_version')
  return prop.string_value if prop is not None else ''


def find_statistics(metadata_path: str, version: str):
  """The MLMD ExampleStatistics artifact behind `version`, or BaselineMissing."""
  if not os.path.exists(metadata_path):
    raise BaselineMissing(f'no ML Metadata at {metadata_path}: the training data of '
                          f'version {version} cannot be found')
  store = mlmd.Store.open(metadata_path)
  pushes = [a for a in store.artifacts_of_type('PushedModel')
            if _pushed_version(a) == str(version)]
  if not pushes:
    raise BaselineMissing(f'no push of version {version} recorded in {metadata_path}')
  for push in sorted(pushes, key=lambda a: -a.id):
    pusher = store.producer(push.id)
    if pusher is None:
      continue
    for model in _linked(store, pusher.id, 'Model', outputs=False):
      trainer = store.producer(model.id)
      if trainer is None:
        continue
      for transformed in _linked(store, trainer.id, 'Examples', outputs=False):
        transform = store.producer(transformed.id)
        if transform is None:
          continue
        for raw in _linked(store, transform.id, 'Examples', outputs=False):
          statistics = _statistics_of(store, raw)
          if statistics:
            return statistics[-1]
  raise BaselineMissing(f'version {version} was pushed, but the statistics of the data '
                        f'it was trained on are not in {metadata_path}')


def label_shares(statistics: statistics_pb2.DatasetFeatureStatisticsList,
                 label: str) -> Dict[str, float]:
  """Each class's share of the label column, from its string statistics."""
  for dataset in statistics.datasets:
    for feature in dataset.features:
      name = '.'.join(feature.path.step) or feature.name
      if name != label:
        continue
      buckets = feature.string_stats.rank_histogram.buckets
      counts = {b.label: b.sample_count for b in buckets}
      if not counts:
        counts = {v.value: v.frequency for v in feature.string_stats.top_values}
      total = sum(counts.values())
      return {k: v / total for k, v in counts.items()} if total else {}
  return {}


def load(metadata_path: str, version: str, label: str) -> Baseline:
  artifact = find_statistics(metadata_path, version)
  statistics = standard_artifacts.ExampleStatistics()
  statistics.set_mlmd_artifact(artifact)
  try:
    proto = stats_artifact_utils.load_statistics(statistics, TRAINING_SPLIT).proto()
  except Exception as e:  # pylint: disable=broad-except
    raise BaselineMissing(f'training statistics of version {version} at {artifact.uri} '
                          f'cannot be read: {e}') from e
  return Baseline(str(version), proto, artifact.uri, label_shares(proto, label))
