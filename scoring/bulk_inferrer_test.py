"""TFX's BulkInferrer scores with the exported model, and only a blessed one.

The pipeline runs TFX's standard BulkInferrer after the Evaluator (see the
description's `scoring` section), through the signature its ModelSpec names.
tfx_bsl's RunInference cannot split a rank-1 string output row by row
(`'bytes' object has no attribute 'dtype'`), so `serving_examples`, whose
`classes` is rank 1 by the serving contract, cannot be that signature: the
model needs one more, BULK_INFERENCE below, with the same predictions under
names the serving contract does not constrain. Until models/model.py exports
it, `_export_with_bulk_signature` adds it here to the Trainer's own
signatures; once it does, export with `model_lib.export_model` instead.
"""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.components.bulk_inferrer import executor as bulk_executor
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import bulk_inferrer_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as keys
from tfx.utils import proto_utils

from models import model as model_lib
from pipeline import pipeline as pipeline_lib
from serving import model_store
from scoring.conftest import random_rows

MODEL_SPEC = bulk_inferrer_pb2.ModelSpec(model_signature_name=['bulk_inference'])
BEAM = ['--runner=FnApiRunner', '--direct_running_mode=in_memory', '--direct_num_workers=1']


def _example(row):
  row_id, income, city, score, gender = row
  feature = {
      'row_id': tf.train.Feature(bytes_list=tf.train.BytesList(value=[row_id.encode()])),
      'score': tf.train.Feature(int64_list=tf.train.Int64List(value=[int(score)])),
      'gender': tf.train.Feature(bytes_list=tf.train.BytesList(value=[gender.encode()])),
  }
  if income:
    feature['income'] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(income)]))
  if city:
    feature['city'] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[city.encode()]))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def _export_with_bulk_signature(spec, transform, path):
  """The Trainer's own export (models/model.py), bulk_inference signature included."""
  transformed, output = transform
  tf.keras.utils.set_random_seed(5)
  model = model_lib.build_keras_model(
      spec, model_lib.categorical_sizes(spec, output), spec.training)
  model.fit({k: np.array([np.asarray(r[k]).reshape(-1) for r in transformed])
             for k in model.input_names},
            np.array([r['outcome_xf'] for r in transformed]), epochs=2, verbose=0)
  model_lib.export_model(model, path, spec, output)
  return path


@pytest.fixture(scope='module')
def bulk_model(tmp_path_factory, tiny_spec, tiny_transform):
  model_dir = tmp_path_factory.mktemp('bulk') / 'tiny'
  return _export_with_bulk_signature(tiny_spec, tiny_transform, str(model_dir / '1'))


def _artifacts(tmp_path, model_version_dir, rows, blessed):
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  examples.split_names = artifact_utils.encode_split_names(['train', 'test'])
  for split, part in (('train', rows[:3]), ('test', rows)):
    os.makedirs(os.path.join(examples.uri, f'Split-{split}'))
    with tf.io.TFRecordWriter(os.path.join(examples.uri, f'Split-{split}', 'data.gz'),
                              options='GZIP') as writer:
      for row in part:
        writer.write(_example(row).SerializeToString())
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  shutil.copytree(model_version_dir, os.path.join(model.uri, 'Format-Serving'))
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  blessing.set_int_custom_property('blessed', int(blessed))
  result = standard_artifacts.InferenceResult()
  result.uri = str(tmp_path / 'inference')
  os.makedirs(result.uri)
  return ({keys.EXAMPLES_KEY: [examples], keys.MODEL_KEY: [model],
           keys.MODEL_BLESSING_KEY: [blessing]},
          {keys.INFERENCE_RESULT_KEY: [result]})


def _run(inputs, outputs, split):
  context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM)
  bulk_executor.Executor(context).Do(inputs, outputs, {
      keys.DATA_SPEC_KEY: proto_utils.proto_to_json(
          bulk_inferrer_pb2.DataSpec(example_splits=[split])),
      keys.MODEL_SPEC_KEY: proto_utils.proto_to_json(MODEL_SPEC),
  })
  logs = []
  for path in glob.glob(os.path.join(outputs[keys.INFERENCE_RESULT_KEY][0].uri, '*.gz')):
    for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
      logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
  return logs


def test_bulk_inferrer_predicts_what_the_raw_signature_does(tmp_path, bulk_model):
  rows = random_rows(20)
  logs = _run(*_artifacts(tmp_path, bulk_model, rows, blessed=True), split='test')
  assert len(logs) == len(rows)  # the test split only
  raw = tf.saved_model.load(bulk_model).signatures['serving_default']
  by_id = {}
  for log in logs:
    example = tf.train.Example.FromString(log.predict_log.request.inputs['examples'].string_val[0])
    row_id = example.features.feature['row_id'].bytes_list.value[0].decode()
    outputs = log.predict_log.response.outputs
    by_id[row_id] = (tf.make_ndarray(outputs['class_probabilities']).reshape(-1),
                     tf.make_ndarray(outputs['class_name']).reshape(-1)[0].decode())
  for row in rows:
    row_id, income, city, score, _ = row
    expected = raw(income=tf.constant([float(income) if income else np.nan]),
                   city=tf.constant([city]), score=tf.constant([float(score)]))
    np.testing.assert_allclose(by_id[row_id][0], expected['probabilities'].numpy()[0],
                               rtol=1e-5, atol=1e-6)
    assert by_id[row_id][1] == expected['classes'].numpy()[0].decode()


def test_the_model_server_still_accepts_the_export(bulk_model):
  store = model_store.ModelStore('tiny', os.path.dirname(bulk_model))
  assert 'bulk_inference' in store.load_version(1).signatures  # contract + smoke test


def test_bulk_inferrer_writes_nothing_without_a_blessing(tmp_path, bulk_model):
  logs = _run(*_artifacts(tmp_path, bulk_model, random_rows(5), blessed=False), split='test')
  assert logs == []


def test_the_pipeline_scores_the_described_split_with_the_blessed_model(tmp_path):
  import yaml  # pylint: disable=g-import-not-at-top
  import description  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)

  def build(section):
    spec = description.parse(dict(raw, **section), source='d.yaml')
    built = pipeline_lib.create_pipeline(
        pipeline_name='p', pipeline_root=str(tmp_path / 'root'), data_root=str(tmp_path),
        spec=spec, serving_model_dir=str(tmp_path / 'serving'))
    return {c.id: c for c in built.components}

  assert 'BulkInferrer' not in build({})
  nodes = build({'scoring': {'split': 'test'}})
  inferrer = nodes['BulkInferrer']
  assert inferrer.inputs['model'].producer_component_id == 'Trainer'
  assert inferrer.inputs['model_blessing'].producer_component_id == 'Evaluator'
  assert inferrer.inputs['examples'].producer_component_id == 'CsvExampleGen'
  data_spec = proto_utils.json_to_proto(inferrer.exec_properties['data_spec'],
                                        bulk_inferrer_pb2.DataSpec())
  assert data_spec.example_splits == ['test']
  assert proto_utils.json_to_proto(inferrer.exec_properties['model_spec'],
                                   bulk_inferrer_pb2.ModelSpec()) == MODEL_SPEC
  assert 'inference_result' in inferrer.outputs
  nodes = build({'scoring': {'span': 7}})
  assert nodes['BulkInferrer'].inputs['examples'].producer_component_id == 'ScoringExampleGen'
  scoring_gen = nodes['ScoringExampleGen']
  config = json.loads(scoring_gen.exec_properties['input_config'])
  assert config['splits'] == [{'name': 'score', 'pattern': 'span-7/*.csv'}]
