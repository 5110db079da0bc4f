"""A small SavedModel with exactly the serving contract of the project's Trainer.

Used by the serving tests and by `benchmarks/serving_benchmark.py`; it does not
depend on the real pipeline. The contract (see `serving.model_store`):

* signature ``serving_default``: one rank-1 input per raw feature, float32 for
  numeric features (NaN = missing) and tf.string for categorical ones
  ("" = missing);
* signature ``serving_examples``: ``examples`` (serialized tf.Example, [None]);
* outputs of both: ``probabilities`` float32 [None, K], ``class_ids`` int64
  [None], ``classes`` tf.string [None].

`bias` moves every logit of one class, so two versions written with very
different biases give recognisably different answers (class 0 vs class K-1),
which the tests use to tell which version computed a response.

`broken` writes deliberately bad models for the failure-path tests:
  'corrupt'        saved_model.pb is garbage bytes
  'missing_pb'     the version directory has no saved_model.pb
  'no_default'     no serving_default signature
  'bad_outputs'    serving_default lacks the `classes` output
  'rank2_input'    a numeric input of shape [None, 1]
  'nan_output'     probabilities are NaN (fails the smoke test)
  'raises'         the signature fails at run time (fails the smoke test)
"""

import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

from typing import Dict, Optional, Sequence  # noqa: E402

NUMERIC_FEATURES = ('annual_income', 'loan_amount', 'credit_score')
CATEGORICAL_FEATURES = ('home_ownership', 'employment_type')
CLASSES = ('repaid', 'late', 'default')
HOME_OWNERSHIP = ('RENT', 'OWN', 'MORTGAGE')
EMPLOYMENT_TYPE = ('salaried', 'self_employed', 'unemployed')

BROKEN_KINDS = ('corrupt', 'missing_pb', 'no_default', 'bad_outputs',
                'rank2_input', 'nan_output', 'raises')


def example_instance(i: int = 0) -> Dict[str, object]:
  """One JSON-ready request row for the toy model (varies with i)."""
  return {
      'annual_income': 20000.0 + 1000.0 * (i % 50),
      'loan_amount': 5000.0 + 250.0 * (i % 7),
      'credit_score': 550.0 + (i % 300),
      'home_ownership': HOME_OWNERSHIP[i % len(HOME_OWNERSHIP)],
      'employment_type': EMPLOYMENT_TYPE[i % len(EMPLOYMENT_TYPE)],
  }


def write_toy_model(base_dir: str,
                    version: int,
                    bias: float = 0.0,
                    broken: Optional[str] = None,
                    classes: Sequence[str] = CLASSES) -> str:
  """Writes `<base_dir>/<version>/` and returns that path."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  path = os.path.join(base_dir, str(version))
  if broken is not None and broken not in BROKEN_KINDS:
    raise ValueError(f'unknown broken kind {broken!r}; one of {BROKEN_KINDS}')
  if broken == 'corrupt':
    os.makedirs(os.path.join(path, 'variables'), exist_ok=True)
    with open(os.path.join(path, 'saved_model.pb'), 'wb') as f:
      f.write(b'\x08\x96\x01 this is not a SavedModel protobuf \xff\xfe')
    return path

  k = len(classes)
  numeric_spec = (tf.TensorSpec([None, 1], tf.float32) if broken == 'rank2_input'
                  else tf.TensorSpec([None], tf.float32))
  feature_specs = {}
  for name in NUMERIC_FEATURES:
    feature_specs[name] = tf.TensorSpec([None], tf.float32, name=name)
  if broken == 'rank2_input':
    feature_specs[NUMERIC_FEATURES[0]] = numeric_spec
  for name in CATEGORICAL_FEATURES:
    feature_specs[name] = tf.TensorSpec([None], tf.string, name=name)

  parse_spec = {}
  for name in NUMERIC_FEATURES:
    parse_spec[name] = tf.io.FixedLenFeature([], tf.float32, default_value=float('nan'))
  for name in CATEGORICAL_FEATURES:
    parse_spec[name] = tf.io.FixedLenFeature([], tf.string, default_value='')

  class ToyModel(tf.Module):
    """Linear model over imputed/scaled numerics and one-hot categoricals."""

    def __init__(self):
      super().__init__()
      rng = tf.random.stateless_normal
      self.w_num = tf.Variable(rng([len(NUMERIC_FEATURES), k], seed=[1, 2]) * 0.5)
      self.w_home = tf.Variable(rng([len(HOME_OWNERSHIP) + 1, k], seed=[3, 4]) * 0.5)
      self.w_emp = tf.Variable(rng([len(EMPLOYMENT_TYPE) + 1, k], seed=[5, 6]) * 0.5)
      self.bias = tf.Variable(
          tf.one_hot(k - 1, k) * bias if bias >= 0 else tf.one_hot(0, k) * -bias)
      self.scale = tf.constant([1e5, 1e4, 1e3])
      self.class_names = tf.constant(list(classes))
      self.home_table = tf.lookup.StaticHashTable(
          tf.lookup.KeyValueTensorInitializer(
              tf.constant(HOME_OWNERSHIP), tf.range(len(HOME_OWNERSHIP), dtype=tf.int64)),
          default_value=len(HOME_OWNERSHIP))
      self.emp_table = tf.lookup.StaticHashTable(
          tf.lookup.KeyValueTensorInitializer(
              tf.constant(EMPLOYMENT_TYPE), tf.range(len(EMPLOYMENT_TYPE), dtype=tf.int64)),
          default_value=len(EMPLOYMENT_TYPE))

    def _predict(self, features):
      cols = []
      for name in NUMERIC_FEATURES:
        x = tf.reshape(features[name], [-1])
        cols.append(tf.where(tf.math.is_nan(x), tf.zeros_like(x), x))
      num = tf.stack(cols, axis=1) / self.scale
      home = tf.one_hot(self.home_table.lookup(features['home_ownership']),
                        len(HOME_OWNERSHIP) + 1)
      emp = tf.one_hot(self.emp_table.lookup(features['employment_type']),
                       len(EMPLOYMENT_TYPE) + 1)
      logits = (tf.matmul(num, self.w_num) + tf.matmul(home, self.w_home) +
                tf.matmul(emp, self.w_emp) + self.bias)
      probabilities = tf.nn.softmax(logits)
      if broken == 'nan_output':
        probabilities = probabilities * float('nan')
      if broken == 'raises':
        tf.debugging.assert_equal(
            tf.reduce_sum(tf.ones_like(num)), -1.0, message='toy model refuses to run')
      class_ids = tf.argmax(probabilities, axis=1)
      outputs = {
          'probabilities': probabilities,
          'class_ids': class_ids,
          'classes': tf.gather(self.class_names, class_ids),
      }
      if broken == 'bad_outputs':
        del outputs['classes']
      return outputs

    @tf.function(input_signature=[feature_specs])
    def serve_features(self, features):
      return self._predict(features)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def serve_examples(self, examples):
      return self._predict(tf.io.parse_example(examples, parse_spec))

  model = ToyModel()
  if broken == 'no_default':
    signatures = {'predict_other': model.serve_features}
  else:
    signatures = {'serving_default': model.serve_features,
                  'serving_examples': model.serve_examples}
  tf.saved_model.save(model, path, signatures=signatures)
  if broken == 'missing_pb':
    os.remove(os.path.join(path, 'saved_model.pb'))
  return path
