"""SignatureCall answers what `fn(**tensors)` answers, and fails as it fails."""

import numpy as np
import pytest
import tensorflow as tf

from serving import rest_codec
from serving.model_store import ModelStore
from serving.signature_call import SignatureCall
from testing import toy_model

MODEL = 'toy'


@pytest.fixture(scope='module')
def loaded(tmp_path_factory):
  root = tmp_path_factory.mktemp('models')
  path = toy_model.write_toy_model(str(root), 1, bias=0.3)
  model = ModelStore(MODEL, str(root)).load_version(1)
  # The signatures as TensorFlow loads them, to compare with.
  model.saved = tf.saved_model.load(path)
  return model


def _tensors(model, rows):
  instances = [toy_model.example_instance(i) for i in rows]
  return rest_codec.decode_request({'instances': instances}, model.signatures).tensors


def _outcome(function, tensors):
  try:
    return {k: v.numpy() for k, v in function(tensors).items()}
  except Exception as e:  # pylint: disable=broad-except
    return type(e), str(e)


def test_the_flat_call_returns_what_the_bound_call_returns(loaded):
  fn = loaded.saved.signatures['serving_default']
  call = SignatureCall(fn)
  assert call.fast
  for rows in ([0], range(7), range(3, 40)):
    tensors = _tensors(loaded, rows)
    assert call.flat_inputs(tensors) is not None  # the fast path, not the fallback
    got, expected = call(tensors), fn(**tensors)
    assert sorted(got) == sorted(expected)
    for name in expected:
      np.testing.assert_array_equal(got[name].numpy(), expected[name].numpy())


def test_serialized_examples_take_the_flat_call_too(loaded):
  fn = loaded.saved.signatures['serving_examples']
  call = SignatureCall(fn)
  example = tf.train.Example()
  example.features.feature['annual_income'].float_list.value.append(50000.0)
  example.features.feature['home_ownership'].bytes_list.value.append(b'RENT')
  tensors = {'examples': np.array([example.SerializeToString()] * 3, dtype=object)}
  assert call.flat_inputs(tensors) is not None
  np.testing.assert_array_equal(call(tensors)['probabilities'].numpy(),
                                fn(**tensors)['probabilities'].numpy())


@pytest.mark.parametrize('mistake', ['rank', 'dtype', 'missing', 'extra', 'not_an_array',
                                     'unconvertible'])
def test_inputs_that_do_not_match_exactly_get_tensorflows_own_binding(loaded, mistake):
  fn = loaded.saved.signatures['serving_default']
  call = SignatureCall(fn)
  tensors = dict(_tensors(loaded, range(3)))
  if mistake == 'rank':
    tensors['annual_income'] = tensors['annual_income'].reshape(3, 1)
  elif mistake == 'dtype':
    tensors['annual_income'] = tensors['annual_income'].astype(np.float64)
  elif mistake == 'missing':
    del tensors['annual_income']
  elif mistake == 'extra':
    tensors['surprise'] = np.zeros(3, np.float32)
  elif mistake == 'unconvertible':
    tensors['home_ownership'] = np.array([None, 'RENT', None], dtype=object)
  else:
    tensors['annual_income'] = tensors['annual_income'].tolist()
  assert call.flat_inputs(tensors) is None
  got, expected = _outcome(call, tensors), _outcome(lambda t: fn(**t), tensors)
  if isinstance(expected, tuple):
    assert got == expected  # the same exception, the same message
  else:
    for name in expected:
      np.testing.assert_array_equal(got[name], expected[name])


def test_a_bad_request_is_still_a_request_error(loaded):
  tensors = dict(_tensors(loaded, range(2)))
  tensors['annual_income'] = tensors['annual_income'].reshape(2, 1)
  with pytest.raises(rest_codec.RequestError, match='the model rejected the input'):
    loaded.predict('serving_default', tensors)


class _Signature:
  """A loaded signature's shape, to vary one thing at a time."""

  def __init__(self, kwargs, call_flat=None):
    self.structured_input_signature = ((), kwargs)
    self.function_type = type('FunctionType', (), {'parameters': dict.fromkeys(sorted(kwargs))})
    self._call_flat = call_flat or (lambda tensor_inputs, captured_inputs: {})
    self.captured_inputs = []

  def __call__(self, **tensors):
    return {'bound': tf.constant(1)}


def test_only_plain_tensor_signatures_with_the_known_flat_call_skip_tensorflows_binding():
  dense = {'x': tf.TensorSpec([None], tf.float32, name='x')}
  assert SignatureCall(_Signature(dense)).fast
  # Sparse or nested inputs: TensorFlow binds them.
  assert not SignatureCall(_Signature({'x': tf.SparseTensorSpec([None, 1], tf.float32)})).fast
  assert not SignatureCall(_Signature({'x': {'y': tf.TensorSpec([None], tf.float32)}})).fast
  # A TensorFlow whose _call_flat takes other arguments.
  assert not SignatureCall(_Signature(dense, call_flat=lambda tensor_inputs: {})).fast
  # Parameters in another order than the flat call's.
  odd = _Signature({'a': dense['x'], 'b': dense['x']})
  odd.function_type.parameters = {'b': None, 'a': None}
  assert not SignatureCall(odd).fast
  # Not fast: every call is TensorFlow's own.
  slow = SignatureCall(_Signature({'x': tf.SparseTensorSpec([None, 1], tf.float32)}))
  assert slow.flat_inputs({'x': np.zeros(1, np.float32)}) is None
  assert 'bound' in slow({'x': np.zeros(1, np.float32)})


def test_a_sparse_positional_function_is_bound_by_tensorflow():

  class Sparse(tf.Module):

    @tf.function(input_signature=[tf.SparseTensorSpec([None, 1], tf.float32)])
    def total(self, x):
      return {'total': tf.sparse.reduce_sum(x, axis=1)}

  fn = Sparse().total.get_concrete_function()
  call = SignatureCall(fn)
  assert not call.fast
  x = tf.sparse.from_dense(tf.constant([[1.0], [2.0]]))
  np.testing.assert_array_equal(call({'x': x})['total'].numpy(), [1.0, 2.0])
