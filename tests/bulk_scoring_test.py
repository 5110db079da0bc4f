"""Batch scoring inside a full pipeline run: TFX's BulkInferrer after the
Evaluator scores the description's `scoring` split with the blessed model, and
its InferenceResult is in ML Metadata with the model and blessing it used.

The blessed case is the shared validation run (tests/conftest.py: the good
span 2, whose fast description names `scoring: {split: test}`). The unblessed
case reuses that run's trained model: a partial run of the same pipeline from
the Evaluator to the BulkInferrer, with a blessing floor no model reaches,
re-evaluates and scores nothing. Expectations are read from raw MLMD events
and the example files, not from the pipeline's own summaries.
"""

import copy
import glob
import os

import pytest
import tensorflow as tf
import yaml
from tensorflow_serving.apis import prediction_log_pb2

import description
from metadata import connection
from metadata import values
from pipeline import configs

pytestmark = pytest.mark.e2e

NAME = 'credit_risk'


def _records(pattern):
  return [r.numpy() for path in sorted(glob.glob(pattern))
          for r in tf.data.TFRecordDataset(path, compression_type='GZIP')]


def _bulk_inferrer_executions(store, run_id):
  [run] = [c for c in store.get_contexts_by_type('pipeline_run') if c.name == run_id]
  return [e for e in store.get_executions_by_context(run.id)
          if store.get_execution_types_by_id([e.type_id])[0].name.endswith('BulkInferrer')]


def _inputs_and_output(store, execution):
  events = store.get_events_by_execution_ids([execution.id])
  inputs = {values.event_key(e): store.get_artifacts_by_id([e.artifact_id])[0]
            for e in events if e.type in values.INPUT_EVENTS}
  [result] = [store.get_artifacts_by_id([e.artifact_id])[0]
              for e in events if e.type in values.OUTPUT_EVENTS]
  return inputs, result


def test_the_blessed_model_scores_the_described_split_into_an_inference_result(
    validation_pipeline):
  env = validation_pipeline
  store = connection.open_store(env.metadata)
  [execution] = _bulk_inferrer_executions(store, env.good.summary.run_id)
  assert values.EXECUTION_STATES[execution.last_known_state] == 'COMPLETE'
  inputs, result = _inputs_and_output(store, execution)
  assert store.get_artifact_types_by_id([result.type_id])[0].name == 'InferenceResult'
  assert values.property_value(inputs['model_blessing'], 'blessed') == 1
  # The model scored is the one the Trainer of this run produced and the Pusher pushed.
  trainer_models = [a for a in env.good.summary.artifacts['Model'] if '/Trainer/' in a.uri]
  assert [inputs['model'].id] == [m.id for m in trainer_models]
  # One prediction per example of the test split, with the model's answer.
  test_split = _records(os.path.join(inputs['examples'].uri, 'Split-test', '*.gz'))
  logs = [prediction_log_pb2.PredictionLog.FromString(r)
          for r in _records(os.path.join(result.uri, '*.gz'))]
  assert len(logs) == len(test_split) > 0
  outputs = logs[0].predict_log.response.outputs
  probabilities = tf.make_ndarray(outputs['class_probabilities']).reshape(-1)
  assert len(probabilities) == 3 and abs(probabilities.sum() - 1.0) < 1e-4


def test_a_model_that_is_not_blessed_scores_nothing(validation_pipeline):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import pipeline as pipeline_py  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  env = validation_pipeline
  with open(env.description) as f:
    raw = copy.deepcopy(yaml.safe_load(f))
  raw['evaluation']['min_accuracy'] = 1.0  # no model of this data is perfect
  spec = description.parse(raw, source='unreachable floor')
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=NAME, pipeline_root=env.pipeline_root,
      data_root=env.scenarios['clean'], spec=spec, serving_model_dir=env.serving_dir, span=2,
      schema_path=configs.curated_schema_path(spec.name),
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(env.metadata),
      beam_pipeline_args=configs.beam_pipeline_args(5000, setup_file=configs.SETUP_FILE))
  tfx.orchestration.LocalDagRunner().run(pipeline, run_options=pipeline_py.RunOptions(
      from_nodes=['Evaluator'], to_nodes=['BulkInferrer'],
      base_pipeline_run_id=env.good.summary.run_id))

  store = connection.open_store(env.metadata)
  runs = store.get_contexts_by_type('pipeline_run')
  latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id)).name
  assert latest != env.good.summary.run_id
  [execution] = _bulk_inferrer_executions(store, latest)
  inputs, result = _inputs_and_output(store, execution)
  assert values.property_value(inputs['model_blessing'], 'blessed') == 0
  good_inputs, _ = _inputs_and_output(
      store, _bulk_inferrer_executions(store, env.good.summary.run_id)[0])
  assert inputs['model'].id == good_inputs['model'].id  # the same model, judged again
  # TFX records the execution and its (empty) output: no prediction was written.
  assert _records(os.path.join(result.uri, '*.gz')) == []
  assert env.pushed() == env.pushed_before
