"""The scorer turns rows into output lines, and a row the model refuses into a reject."""

import csv
import io

import numpy as np
import pytest

from scoring import predict
from scoring import rows
from serving.rest_codec import RequestError, SignatureInfo, TensorInfo


class _Model:
  """Refuses any batch holding income 13; answers NaN for income 7."""

  path = '/models/tiny/3'
  signatures = {predict.SIGNATURE: SignatureInfo(
      predict.SIGNATURE,
      {'income': TensorInfo('income', 'float32', (None,)),
       'city': TensorInfo('city', 'string', (None,))},
      {'probabilities': TensorInfo('probabilities', 'float32', (None, 3))})}

  def __init__(self):
    self.calls = 0

  def predict(self, signature, tensors):
    self.calls += 1
    income = tensors['income']
    if (income == 13).any():
      raise RequestError('the model rejected the input: income 13 is unlucky')
    probabilities = np.tile(np.float32([0.5, 0.25, 0.25]), (len(income), 1))
    probabilities[income == 7] = np.nan
    return {'probabilities': probabilities,
            'classes': np.array([b'good'] * len(income), dtype=object)}


def _batch(incomes):
  lines = list(range(2, 2 + len(incomes)))
  return rows.RowBatch('in.csv', lines, {
      'row_id': [f'r{n}' for n in lines], 'income': incomes,
      'city': ['paris'] * len(incomes)}, [f'text {n}' for n in lines])


def test_a_row_the_model_refuses_is_rejected_and_the_others_scored(tiny_spec):
  model = _Model()
  scorer = predict.Scorer(model, tiny_spec, 3)
  text, rejects = scorer.score(_batch(['1.5', '13', '', '7']))
  scored = list(csv.reader(io.StringIO(text)))
  assert scored == [['r2', 'good', '0.5', '0.25', '0.25', '3'],
                    ['r4', 'good', '0.5', '0.25', '0.25', '3']]
  assert [(r.line, r.text) for r in rejects] == [(3, 'text 3'), (5, 'text 5')]
  assert 'income 13 is unlucky' in rejects[0].reason
  assert 'non-finite' in rejects[1].reason
  assert model.calls == 5  # the batch, then each of its 4 rows


def test_the_header_names_every_class_and_the_id_column(tiny_spec):
  assert predict.output_header(tiny_spec) == [
      'row_id', 'predicted_class', 'probability_good', 'probability_late',
      'probability_bad', 'model_version']
  assert predict.wanted_columns(['income', 'city'], tiny_spec) == ['income', 'city', 'row_id']


def test_a_model_of_another_dataset_is_refused(tiny_spec):
  model = _Model()
  model.signatures = {predict.SIGNATURE: SignatureInfo(
      predict.SIGNATURE, {'salary': TensorInfo('salary', 'float32', (None,))},
      {'probabilities': TensorInfo('probabilities', 'float32', (None, 3))})}
  with pytest.raises(predict.ModelMismatchError, match=r"reads \['salary'\], which tiny does not"):
    predict.check_model(model, tiny_spec)
