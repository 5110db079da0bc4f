"""A model whose tf.Example signatures require their features still loads.

The Trainer's export (models/model.py) parses serialized tf.Examples with the
Transform's raw feature spec, where most features are required: an empty
string -- a tf.Example with every feature missing -- is rightly rejected by
`serving_examples` and `transform_features`. The server's smoke test must not
refuse the whole version for that (it did, so no pipeline-pushed model could
serve); `serving_default` is smoke-tested on the same graph with raw values.
"""

import base64
import os

import tensorflow as tf

from testing import toy_model
from serving.model_store import ModelStore
from serving.server import ModelServer
from testing.serving_fixtures import MODEL, Client, rows


def write_strict_model(base_dir: str, version: int) -> str:
  inner_dir = toy_model.write_toy_model(os.path.join(base_dir, '_inner'), 1)
  inner = tf.saved_model.load(inner_dir)
  spec = {n: tf.io.FixedLenFeature([], tf.float32) for n in toy_model.NUMERIC_FEATURES}
  spec.update({n: tf.io.FixedLenFeature([], tf.string) for n in toy_model.CATEGORICAL_FEATURES})
  with_label = dict(spec, outcome=tf.io.FixedLenFeature([], tf.string))

  class Strict(tf.Module):

    def __init__(self):
      super().__init__()
      self.inner = inner

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def serve_examples(self, examples):
      return self.inner.signatures['serving_default'](**tf.io.parse_example(examples, spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def transform_features(self, examples):
      parsed = tf.io.parse_example(examples, with_label)
      return {'annual_income_xf': parsed['annual_income'] / 1e5}

  m = Strict()
  path = os.path.join(base_dir, MODEL, str(version))
  tf.saved_model.save(m, path, signatures={
      'serving_default': inner.signatures['serving_default'],
      'serving_examples': m.serve_examples,
      'transform_features': m.transform_features})
  return path


def test_required_example_features_do_not_block_loading(tmp_path):
  root = str(tmp_path)
  path = write_strict_model(root, 1)
  fn = tf.saved_model.load(path).signatures['serving_examples']
  try:
    fn(examples=tf.constant([b'']))
    raise AssertionError('the strict signature accepted an empty example')
  except tf.errors.InvalidArgumentError:
    pass  # as the real model does
  store = ModelStore(MODEL, os.path.join(root, MODEL))
  result = store.scan()
  assert result.loaded == [1], result.failed
  # Both signatures serve real requests.
  row = rows(1)[0]
  ex = tf.train.Example()
  for k, v in row.items():
    if isinstance(v, str):
      ex.features.feature[k].bytes_list.value.append(v.encode())
    else:
      ex.features.feature[k].float_list.value.append(v)
  with ModelServer(root, MODEL) as srv:
    c = Client(srv.port)
    status, by_raw, _ = c.predict({'instances': [row]})
    assert status == 200, by_raw
    status, by_example, _ = c.predict({'signature_name': 'serving_examples', 'instances': [
        {'b64': base64.b64encode(ex.SerializeToString()).decode()}]})
    assert status == 200, by_example
    assert by_example['predictions'][0]['classes'] == by_raw['predictions'][0]['classes']
    status, body, _ = c.predict({'signature_name': 'serving_examples',
                                 'instances': [{'b64': ''}]})
    assert status == 400 and 'rejected the input' in body['error']
    c.close()
