"""Loading, contract checks and smoke tests of model versions."""

import os
import re
import shutil

import numpy as np
import pytest

from testing import toy_model
from testing.serving_fixtures import MODEL, add_version
from serving.model_store import END, Contract, ModelLoadError, ModelStore


def test_good_version_loads_with_signatures(make_root):
  root = make_root({5: 'mixed'})
  store = ModelStore(MODEL, os.path.join(root, MODEL))
  result = store.scan()
  assert result.loaded == [5] and not result.failed
  model = store.get(5)
  sig = model.signatures['serving_default']
  assert {n: i.dtype for n, i in sig.inputs.items()} == {
      'annual_income': 'float32', 'loan_amount': 'float32', 'credit_score': 'float32',
      'home_ownership': 'string', 'employment_type': 'string'}
  assert sig.outputs['probabilities'].shape == (None, 3)
  assert 'serving_examples' in model.signatures
  out = model.predict('serving_default', {
      n: (np.array([np.nan], np.float32) if i.dtype == 'float32' else
          np.array([b''], dtype=object)) for n, i in sig.inputs.items()})
  assert out['probabilities'].shape == (1, 3)
  assert store.scan().loaded == []  # nothing new


@pytest.mark.parametrize('bank_name, fragment', [
    ('corrupt', 'corrupt: not a valid SavedModel protobuf'),
    ('nan_output', 'smoke test of signature "serving_default" failed'),
    ('bad_outputs', 'lacks output "classes"'),
])
def test_bad_versions_are_reported_and_never_available(make_root, bank_name, fragment):
  root = make_root({1: 'mixed', 2: bank_name})
  store = ModelStore(MODEL, os.path.join(root, MODEL))
  result = store.scan()
  assert result.loaded == [1] and fragment in result.failed[2]
  assert store.available_versions() == [1] and store.latest_version() == 1
  status = store.status(2)
  assert status.state == END and status.error_code != 'OK' and fragment in status.error_message
  with pytest.raises(ModelLoadError, match=re.escape(fragment)):
    store.load_version(2)


def test_missing_pb_and_retry_after_the_files_change(make_root, model_bank):
  root = make_root({1: 'mixed'})
  base = os.path.join(root, MODEL)
  os.makedirs(os.path.join(base, '3', 'variables'))  # the Pusher is still copying
  store_scan = ModelStore(MODEL, base)
  result = store_scan.scan()
  assert 'no saved_model.pb' in result.failed[3]
  assert store_scan.scan().failed == {}  # unchanged: not retried on every scan
  shutil.rmtree(os.path.join(base, '3'))
  add_version(root, 3, 'mixed', model_bank)  # the copy finished
  assert store_scan.scan().loaded == [3]


def test_settle_seconds_defers_fresh_versions(make_root):
  root = make_root({1: 'mixed'})
  store = ModelStore(MODEL, os.path.join(root, MODEL), settle_seconds=3600)
  assert store.scan().skipped == [1]


def test_contract_rank2_input_and_smoke_instances(tmp_path):
  base = str(tmp_path / MODEL)
  toy_model.write_toy_model(base, 1, broken='rank2_input')
  store = ModelStore(MODEL, base)
  assert 'the contract needs [None]' in store.scan().failed[1]
  # Without the contract the same model passes the (generic) smoke test.
  lenient = ModelStore(MODEL, base, contract=None)
  assert lenient.scan().loaded == [1]
  # Caller-supplied smoke instances that do not fit the signature refuse the version.
  picky = ModelStore(MODEL, base, contract=None, smoke_instances=[{'nope': 1}])
  assert 'smoke instances do not fit' in picky.scan().failed[1]
  assert Contract().required_signature == 'serving_default'
