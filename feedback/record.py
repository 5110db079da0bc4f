"""Live quality recorded in ML Metadata, linked to the model version it rates.

One execution of type `LiveQualityEvaluation` per version and join, with the
PushedModel that became that serving version as its input and a `LiveQuality`
artifact (the JSON figures at `uri`) as its output: the lineage from a
training span through the model and its push reaches the quality it had in
production. A harvest is recorded the same way: a `Harvest` execution whose
inputs are the PushedModels that served the harvested requests and whose
output is a `HarvestedSpan` artifact (uri = the span's directory), so the blast
radius of a served model reaches the span trained on its traffic; the next
run's Examples name the same directory in their `source_files`. Opened through metadata.connection, the one MLMD access layer; only
figures and counts go into properties (no keys, no row values, no PII).
"""

import dataclasses
from typing import List, Optional

from ml_metadata.proto import metadata_store_pb2

from metadata import connection
from metadata import record as mlmd_record

LIVE_QUALITY_TYPE = 'LiveQuality'
EVALUATION_TYPE = 'LiveQualityEvaluation'
HARVESTED_SPAN_TYPE = 'HarvestedSpan'
HARVEST_TYPE = 'Harvest'
PUSHED_MODEL_TYPE = 'PushedModel'


@dataclasses.dataclass(frozen=True)
class Recorded:
  artifact_id: int
  execution_id: int
  pushed_model_id: Optional[int]  # None: no push of that version is recorded


def pushed_models_of_version(store, version: str) -> List[metadata_store_pb2.Artifact]:
  """PushedModel artifacts whose pushed_version is `version`."""
  found = []
  for a in store.get_artifacts_by_type(PUSHED_MODEL_TYPE):
    v = a.custom_properties.get('pushed_version')
    if v is not None and v.string_value == str(version):
      found.append(a)
  return found


def record_harvest(metadata_path: str, versions, span_dir: str, span: int,
                   rows: int) -> Recorded:
  """Records a harvested span, with the pushes of `versions` as its inputs."""
  store = connection.open_store(metadata_path, writable=True)
  pushed = [p for v in sorted(set(map(str, versions)))
            for p in pushed_models_of_version(store, v)[-1:]]
  artifact = mlmd_record.new_artifact(
      store, HARVESTED_SPAN_TYPE, span_dir,
      {'span': span, 'rows': rows, 'versions': ','.join(sorted(set(map(str, versions))))})
  done = mlmd_record.record_execution(store, HARVEST_TYPE, inputs=[(p, None) for p in pushed],
                                      outputs=[(artifact, None)])
  return Recorded(done.output_ids[-1], done.execution_id, pushed[-1].id if pushed else None)


def record(metadata_path: str, model: str, version: str, uri: str,
           figures: dict) -> Recorded:
  """Writes the LiveQuality artifact and its execution; `figures` are numbers."""
  store = connection.open_store(metadata_path, writable=True)
  pushed = pushed_models_of_version(store, version)
  artifact = mlmd_record.new_artifact(store, LIVE_QUALITY_TYPE, uri,
                                      dict(figures, model=model, version=str(version)))
  done = mlmd_record.record_execution(
      store, EVALUATION_TYPE, properties={'version': str(version)},
      inputs=[(p, None) for p in pushed[-1:]], outputs=[(artifact, None)])
  return Recorded(done.output_ids[-1], done.execution_id, pushed[-1].id if pushed else None)
