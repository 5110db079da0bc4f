"""The experiment table, read from ML Metadata: one row per pipeline run.

A run's row: the spans it read, the Trainer's hyperparameters, the code
version, key metrics of its evaluation, whether the model was blessed and
pushed. MLMD is the only store. Key metrics are read from the ModelEvaluation
artifact's custom properties when `record_key_metrics` put them there (after a
local run), else from the TFMA files themselves (slower: loads TFMA).
"""

import dataclasses
import json
from typing import Any, Dict, List, Optional

import description
from provenance import evaluation
from metadata import connection
from metadata import store as mlmd
from metadata import values
from provenance import record

METRIC_PREFIX = 'metric_'


@dataclasses.dataclass
class RunRow:
  run_id: str
  started_ms: int
  states: Dict[str, int]
  spans: List[int]
  model_id: Optional[int]
  hyperparameters: Optional[Dict[str, Any]]
  code_version: Optional[str]
  metrics: Dict[str, float]
  evaluation_id: Optional[int]
  blessed: Optional[bool]
  pushed_version: Optional[str]

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def _rare_class(execution) -> (Optional[int], str):
  config = values.json_property(execution, 'custom_config')
  try:
    spec = description.DatasetSpec.from_config(config)
  except Exception:  # pylint: disable=broad-except
    return None, 'rare'
  return spec.rare_class_id, spec.rare_class or 'rare'


def metric_order(name: str):
  order = ('accuracy', 'examples', 'recall', 'precision', 'auc')
  rank = next((i for i, n in enumerate(order) if name == n or name.endswith('_' + n)),
              len(order))
  return rank, name


def stored_metrics(artifact) -> Dict[str, float]:
  found = {k[len(METRIC_PREFIX):]: v.double_value
           for k, v in artifact.custom_properties.items() if k.startswith(METRIC_PREFIX)}
  return {k: found[k] for k in sorted(found, key=metric_order)}


def key_metrics_of(evaluation_artifact, trainer_execution) -> Dict[str, float]:
  found = stored_metrics(evaluation_artifact)
  if found:
    return found
  rare_id, rare_name = _rare_class(trainer_execution) if trainer_execution else (None, 'rare')
  return evaluation.key_metrics(evaluation.load_rows(evaluation_artifact.uri), rare_id, rare_name)


def record_key_metrics(metadata_path: str, evaluation_id: int,
                       trainer_execution_id: Optional[int]) -> Dict[str, float]:
  """Stores the key metrics on the ModelEvaluation artifact (metric_<name>)."""
  store = connection.open_store(metadata_path, writable=True)
  artifact = store.get_artifacts_by_id([evaluation_id])[0]
  trainer = (store.get_executions_by_id([trainer_execution_id])[0]
             if trainer_execution_id else None)
  rare_id, rare_name = _rare_class(trainer) if trainer else (None, 'rare')
  metrics = evaluation.key_metrics(evaluation.load_rows(artifact.uri), rare_id, rare_name)
  for name, number in metrics.items():
    artifact.custom_properties[METRIC_PREFIX + name].double_value = float(number)
  store.put_artifacts([artifact])
  return metrics


def runs(metadata_path: str, pipeline_name: Optional[str] = None) -> List[RunRow]:
  store = mlmd.Store.open(metadata_path)
  contexts = store.pipeline_runs(pipeline_name)
  if not contexts:
    names = store.pipeline_names()
    raise mlmd.ProvenanceError(
        f'no run of pipeline {pipeline_name!r} in {metadata_path}; pipelines there: '
        f'{names or "none"}' if pipeline_name else f'no pipeline run in {metadata_path}')
  return [_row(store, context) for context in contexts]


def _row(store: mlmd.Store, context) -> RunRow:
  executions = sorted(store.store.get_executions_by_context(context.id), key=lambda e: e.id)
  states: Dict[str, int] = {}
  for e in executions:
    name = values.EXECUTION_STATES.get(e.last_known_state, '?')
    states[name] = states.get(name, 0) + 1
  by_node = {store.node_id(e): e for e in executions}
  trainer = next((e for node, e in by_node.items() if node == 'Trainer'), None)
  if trainer is None:
    trainer = next((e for e in executions
                    if store.type_of(e).endswith('.Trainer')), None)

  # What the run's executions wrote: a Resolver also attributes the previous
  # span's examples (a drift baseline) to the run, but the run did not read them.
  store.events_of_executions(e.id for e in executions)
  written = store.artifacts(sorted({ev.artifact_id for e in executions
                                    for ev in store.outputs(e.id)}))
  spans = sorted({values.properties_of(a).get('span') for a in written
                  if store.type_of(a) == 'Examples' and
                  isinstance(values.properties_of(a).get('span'), int)})

  # The run's own evaluation: the one its Evaluator execution output.
  evaluation_artifact = blessing = pushed = model = None
  for e in executions:
    for event in store.outputs(e.id):
      artifact = store.artifacts([event.artifact_id])[0]
      kind = store.type_of(artifact)
      if kind == 'ModelEvaluation':
        evaluation_artifact = artifact
      elif kind == 'ModelBlessing':
        blessing = artifact
      elif kind == 'PushedModel':
        pushed = artifact
      elif kind == 'Model' and e is trainer:
        model = artifact
  hyperparameters = None
  if trainer is not None:
    hyperparameters = values.json_property(trainer, record.HYPERPARAMETERS)
    if not isinstance(hyperparameters, dict):
      config = values.json_property(trainer, 'custom_config') or {}
      hyperparameters = (config.get('description') or {}).get('training')
  codes = sorted({values.properties_of(e).get(record.CODE_VERSION) for e in executions} - {None})
  code = ', '.join(codes) if codes else None
  pushed_props = values.properties_of(pushed) if pushed is not None else {}
  return RunRow(
      run_id=context.name, started_ms=context.create_time_since_epoch, states=states,
      spans=spans, model_id=model.id if model is not None else None,
      hyperparameters=hyperparameters, code_version=code,
      metrics=(key_metrics_of(evaluation_artifact, trainer)
               if evaluation_artifact is not None else {}),
      evaluation_id=evaluation_artifact.id if evaluation_artifact is not None else None,
      blessed=(bool(values.properties_of(blessing).get('blessed'))
               if blessing is not None else None),
      pushed_version=(str(pushed_props.get('pushed_version'))
                      if pushed_props.get('pushed') else None))


def varying_hyperparameters(rows: List[RunRow]) -> List[str]:
  """The hyperparameter names whose value differs between runs (all if one run)."""
  names = sorted({k for r in rows for k in (r.hyperparameters or {})})
  if len(rows) < 2:
    return names
  return [n for n in names if len({json.dumps((r.hyperparameters or {}).get(n), sort_keys=True)
                                   for r in rows}) > 1]
