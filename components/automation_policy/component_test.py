"""AutomationPolicy on a stand-in model whose confidence says when it is wrong."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

import description
from analysis import automation_band
from components.automation_policy import component
from components.automation_policy import executor
from metadata import artifacts
from models import model as model_lib
from pipeline import configs

ROWS = 3000
BROKER_SHARE = 0.2


class _StandIn(tf.Module):
  """Right and sure (0.9) except on broker applications, where it is wrong and unsure (0.5)."""

  def __init__(self, spec):
    super().__init__()
    self._classes = list(spec.classes)
    self._label = spec.transformed_label

  def _parse(self, serialized):
    parsed = tf.io.parse_example(serialized, {
        'outcome': tf.io.FixedLenFeature([], tf.string),
        'channel': tf.io.FixedLenFeature([], tf.string)})
    truth = tf.argmax(tf.cast(tf.equal(parsed['outcome'][:, None],
                                       tf.constant(self._classes)[None, :]), tf.int64), axis=1)
    return truth, tf.equal(parsed['channel'], 'broker')

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(self, serialized):
    truth, broker = self._parse(serialized)
    sure = tf.one_hot(truth, 3, on_value=0.9, off_value=0.05)
    unsure = tf.one_hot((truth + 1) % 3, 3, on_value=0.5, off_value=0.25)
    probabilities = tf.where(broker[:, None], unsure, sure)
    # pylint: disable-next=protected-access
    return model_lib._prediction_outputs(probabilities, self._classes)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def transform(self, serialized):
    truth, _ = self._parse(serialized)
    return {self._label: truth}


def _spec(**automation):
  raw = description.load(configs.DEFAULT_DESCRIPTION).raw
  return description.parse(dict(raw, automation=automation), source='test.yaml')


def _examples(directory):
  rng = np.random.default_rng(0)
  split_dir = os.path.join(directory, 'Split-eval')
  os.makedirs(split_dir)
  broker = rng.random(ROWS) < BROKER_SHARE
  outcomes = rng.choice(['repaid', 'late', 'default'], size=ROWS, p=[0.7, 0.25, 0.05])
  with tf.io.TFRecordWriter(os.path.join(split_dir, 'data.gz'), 'GZIP') as writer:
    for is_broker, outcome in zip(broker, outcomes):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          'outcome': tf.train.Feature(bytes_list=tf.train.BytesList(value=[outcome.encode()])),
          'channel': tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[b'broker' if is_broker else b'branch'])),
      })).SerializeToString())
  examples = standard_artifacts.Examples()
  examples.uri = directory
  examples.split_names = artifact_utils.encode_split_names(['eval'])
  return examples, broker.mean()


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
  root = tmp_path_factory.mktemp('automation')
  spec = _spec(target_accuracy=0.95)
  module = _StandIn(spec)
  model = standard_artifacts.Model()
  model.uri = str(root / 'model')
  tf.saved_model.save(module, os.path.join(model.uri, 'Format-Serving'), signatures={
      'serving_examples': module.serve, 'transform_features': module.transform})
  examples, broker_share = _examples(str(root / 'examples'))
  return {'root': root, 'model': model, 'examples': examples, 'broker_share': broker_share}


def _run(inputs, spec, blessed=True, name='policy'):
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property('blessed', int(blessed))
  policy = artifacts.AutomationPolicy()
  policy.uri = str(inputs['root'] / name)
  executor.Executor().Do(
      {executor.EXAMPLES_KEY: [inputs['examples']], executor.MODEL_KEY: [inputs['model']],
       executor.BLESSING_KEY: [blessing]},
      {executor.OUTPUT_KEY: [policy]},
      {description.EXEC_PROPERTY: description.to_exec_property(spec), 'example_split': 'eval'})
  return policy


def test_the_band_defers_the_unsure_cases_and_is_recorded_with_the_model(inputs):
  policy = _run(inputs, _spec(target_accuracy=0.95, target_rare_class_recall=0.9,
                              max_deferral_rate=0.5))
  band = policy.get_float_custom_property('min_confidence')
  assert 0.5 < band <= 0.9
  low = policy.get_float_custom_property('expected_deferral_rate_low')
  high = policy.get_float_custom_property('expected_deferral_rate_high')
  assert low <= inputs['broker_share'] <= high
  assert policy.get_float_custom_property('expected_accuracy') == 1.0
  assert policy.get_float_custom_property('expected_accuracy_low') >= 0.95
  assert policy.get_float_custom_property('expected_rare_class_recall') == 1.0
  assert policy.get_string_custom_property('level') == 'partial'
  assert policy.get_string_custom_property('model_uri') == inputs['model'].uri
  with open(os.path.join(policy.uri, executor.POLICY_JSON)) as f:
    document = json.load(f)
  assert document['band']['min_confidence'] == band and document['examples'] == ROWS
  assert [row['deferral_rate'] for row in document['curve']][0] == 0.0
  # The file the Pusher puts next to the model is what the server reads.
  from serving import automation  # pylint: disable=g-import-not-at-top
  served = automation.read_policy(policy.uri)
  assert served.min_confidence == band and (served.expected_deferral_rate_low,
                                            served.expected_deferral_rate_high) == (low, high)
  with open(os.path.join(policy.uri, executor.POLICY_HTML)) as f:
    page = f.read()
  assert f'automate iff confidence &ge; {band:.4f}' in page


def test_an_unblessed_model_gets_no_band(inputs):
  policy = _run(inputs, _spec(target_accuracy=0.95), blessed=False, name='unblessed')
  assert policy.get_int_custom_property('blessed') == 0
  assert not policy.has_custom_property('min_confidence')
  assert 'no band was chosen' in open(os.path.join(policy.uri, executor.POLICY_HTML)).read()
  from serving import automation  # pylint: disable=g-import-not-at-top
  assert automation.read_policy(policy.uri) is None  # served: partial defers every case


def test_a_target_no_band_reaches_fails_the_component(inputs):
  with pytest.raises(automation_band.UnreachableTarget, match='at most 5.0%'):
    _run(inputs, _spec(target_accuracy=0.95, max_deferral_rate=0.05), name='unreachable')


def test_the_component_needs_an_automation_section():
  spec = description.load(configs.DEFAULT_DESCRIPTION)
  assert spec.automation is None  # Opt-in in the shipped description.
  with pytest.raises(description.DatasetSpecError, match='needs an automation section'):
    component.AutomationPolicy(examples=None, model=None, model_blessing=None, spec=spec)


def _pipeline(spec):
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  return pipeline_lib.create_pipeline(
      pipeline_name='automation', pipeline_root='/tmp/root', data_root='/tmp/data', spec=spec,
      serving_model_dir='/tmp/serving')


def test_the_pipeline_chooses_the_band_before_pushing_only_when_described():
  spec = _spec(level='partial', target_accuracy=0.8, max_deferral_rate=0.6)
  nodes = {c.id: c for c in _pipeline(spec).components}

  def upstream(node):
    return {n.id for n in nodes[node].upstream_nodes}

  assert 'AutomationPolicy' in upstream('Pusher')
  # The band travels into the pushed version directory (serving/automation.py).
  assert nodes['Pusher'].inputs['automation_policy'].producer_component_id == 'AutomationPolicy'
  assert upstream('AutomationPolicy') >= {'Evaluator', 'Trainer'}
  nodes = {c.id: c for c in _pipeline(description.load(configs.DEFAULT_DESCRIPTION)).components}
  assert 'AutomationPolicy' not in nodes and 'AutomationPolicy' not in upstream('Pusher')
