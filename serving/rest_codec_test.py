"""Unit tests of TF Serving JSON decoding/encoding (no TensorFlow needed)."""

import base64
import math

import numpy as np
import pytest

from serving.rest_codec import (RequestError, SignatureInfo, TensorInfo, decode_request,
                                encode_response, json_rows)

SIG = SignatureInfo(
    'serving_default',
    inputs={
        'income': TensorInfo('income', 'float32', (None,)),
        'home': TensorInfo('home', 'string', (None,)),
    },
    outputs={})
EXAMPLES = SignatureInfo('serving_examples',
                         inputs={'examples': TensorInfo('examples', 'string', (None,))},
                         outputs={})
INTS = SignatureInfo('ints', inputs={'n': TensorInfo('n', 'int64', (None,))}, outputs={})
SIGS = {'serving_default': SIG, 'serving_examples': EXAMPLES, 'ints': INTS}


def test_row_format_nulls_become_missing():
  req = decode_request({'instances': [{'income': 1.5, 'home': 'RENT'},
                                      {'income': None, 'home': None}]}, SIGS)
  assert req.row_format and req.batch_size == 2 and req.signature_name == 'serving_default'
  assert req.tensors['income'].dtype == np.float32
  assert req.tensors['income'][0] == 1.5 and math.isnan(req.tensors['income'][1])
  assert req.tensors['home'].tolist() == [b'RENT', b'']


def test_columnar_format_and_integers_for_floats():
  req = decode_request({'inputs': {'income': [1, 2, None], 'home': ['a', 'b', 'c']}}, SIGS)
  assert not req.row_format and req.batch_size == 3
  assert req.tensors['income'].tolist()[:2] == [1.0, 2.0]


def test_single_input_signature_accepts_bare_values_and_b64():
  payload = base64.b64encode(b'\x00\x01binary').decode()
  req = decode_request({'signature_name': 'serving_examples',
                        'instances': [{'b64': payload}, 'plain']}, SIGS)
  assert req.tensors['examples'].tolist() == [b'\x00\x01binary', b'plain']
  req = decode_request({'signature_name': 'serving_examples', 'inputs': ['x', 'y']}, SIGS)
  assert req.batch_size == 2


@pytest.mark.parametrize('body, fragment', [
    ([1, 2], 'must be a JSON object'),
    ({}, 'must contain "instances"'),
    ({'instances': [], 'inputs': {}}, 'not both'),
    ({'instances': []}, 'is empty'),
    ({'instances': {'income': 1}}, 'must be a list'),
    ({'instances': [{'income': 1.0}]}, "missing input(s) ['home']"),
    ({'instances': [{'income': 1.0, 'home': 'x', 'zip': 1}]}, "unknown input(s) ['zip']"),
    ({'instances': [{'income': 'lots', 'home': 'x'}]}, 'expected a number'),
    ({'instances': [{'income': True, 'home': 'x'}]}, 'expected a number'),
    ({'instances': [{'income': 1.0, 'home': 7}]}, 'expected a string'),
    ({'instances': [{'income': [1.0], 'home': 'x'}]}, 'expected a tensor of shape [?]'),
    ({'instances': [{'income': 1.0, 'home': {'x': 1}}]}, 'got an object'),
    ({'instances': [1.0]}, 'bare values are only allowed'),
    ({'inputs': {'income': [1.0, 2.0], 'home': ['x']}}, 'same number of values'),
    ({'inputs': {'income': 1.0, 'home': 'x'}}, 'expected a list'),
    ({'signature_name': 'nope', 'instances': [{}]}, '"nope" not found'),
    ({'signature_name': 'ints', 'instances': [None]}, 'expected an integer'),
    ({'signature_name': 'serving_examples', 'instances': [{'b64': '***'}]}, 'invalid base64'),
])
def test_bad_requests_are_400_with_clear_message(body, fragment):
  with pytest.raises(RequestError) as e:
    decode_request(body, SIGS)
  assert e.value.status == 400
  assert fragment in str(e.value)


def test_key_field_is_taken_out_of_instances():
  req = decode_request({'instances': [{'income': 1.0, 'home': 'x', 'application_id': 'a-1'},
                                      {'income': 2.0, 'home': 'y'}]},
                       SIGS, key_field='application_id')
  assert req.row_keys == ['a-1', None]
  assert set(req.tensors) == {'income', 'home'}
  req = decode_request({'inputs': {'income': [1.0], 'home': ['x'], 'application_id': [7]}},
                       SIGS, key_field='application_id')
  assert req.row_keys == ['7']


def test_encode_response_shapes_match_tf_serving():
  outputs = {'probabilities': np.array([[0.25, 0.75], [np.nan, 1.0]], np.float32),
             'class_ids': np.array([1, 1], np.int64),
             'classes': np.array([b'late', b'\xff'], dtype=object)}
  rows = encode_response(outputs, row_format=True, batch_size=2)['predictions']
  assert rows[0] == {'probabilities': [0.25, 0.75], 'class_ids': 1, 'classes': 'late'}
  assert rows[1]['probabilities'] == [None, 1.0]  # NaN -> null (strict JSON)
  assert rows[1]['classes'] == {'b64': base64.b64encode(b'\xff').decode()}
  cols = encode_response(outputs, row_format=False, batch_size=2)['outputs']
  assert cols['class_ids'] == [1, 1]
  single = {'y': np.array([1.0, 2.0], np.float32)}
  assert encode_response(single, True, 2) == {'predictions': [1.0, 2.0]}
  assert encode_response(single, False, 2) == {'outputs': [1.0, 2.0]}


def test_json_rows():
  rows = json_rows({'a': np.array([1.0, np.nan], np.float32),
                    'b': np.array([b'x', b''], dtype=object)}, 2)
  assert rows == [{'a': 1.0, 'b': 'x'}, {'a': None, 'b': ''}]
