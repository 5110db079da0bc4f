"""Server-side batching: requests that queue behind a running call share the
next one, each gets its own rows back, and one bad request fails only itself."""

import threading
import time

import numpy as np
import pytest

from serving.batching import Batcher
from serving.rest_codec import RequestError


class GatedModel:
  """A model call that doubles `x`, refuses x < 0, and can be held open so
  that other requests queue behind it."""

  def __init__(self):
    self.calls = []  # rows per call, in call order
    self.gate = threading.Event()
    self.gate.set()
    self.entered = threading.Event()
    self.split_outputs = True

  def __call__(self, signature_name, tensors):
    x = tensors['x']
    self.calls.append((signature_name, len(x)))
    self.entered.set()
    self.gate.wait(10)
    if (x < 0).any():
      raise RequestError('the model rejected the input: x < 0')
    out = {'y': x * 2}
    if not self.split_outputs:
      out['total'] = np.asarray(x.sum())  # no row dimension
    return out


def _request(value, rows=1):
  return {'x': np.full((rows, 1), float(value), np.float32)}


def _wait_until(condition, seconds=10.0):
  deadline = time.monotonic() + seconds
  while not condition():
    assert time.monotonic() < deadline, 'timed out'
    time.sleep(0.001)


def _run_queued(batcher, model, first, queued, signature='serving_default'):
  """Holds the first request's call open, queues `queued`, then lets go.
  Returns {index: outputs or exception}, index 0 being `first`."""
  results = {}

  def call(i, tensors, sig):
    try:
      results[i] = batcher.predict(model, sig, tensors)
    except Exception as e:  # pylint: disable=broad-except
      results[i] = e

  model.gate.clear()
  model.entered.clear()
  threads = [threading.Thread(target=call, args=(0, first, 'serving_default'))]
  threads[0].start()
  assert model.entered.wait(10)
  for i, item in enumerate(queued, 1):
    tensors, sig = item if isinstance(item, tuple) else (item, signature)
    threads.append(threading.Thread(target=call, args=(i, tensors, sig)))
    threads[-1].start()
    _wait_until(lambda i=i: batcher.pending() == i)  # queued in this order
  model.gate.set()
  for t in threads:
    t.join(10)
  return results


def test_an_idle_version_runs_a_request_at_once_and_alone():
  model = GatedModel()
  batcher = Batcher(max_rows=32)
  out = batcher.predict(model, 'serving_default', _request(3, rows=2))
  np.testing.assert_array_equal(out['y'], [[6.0], [6.0]])
  assert model.calls == [('serving_default', 2)]


def test_requests_that_queue_behind_a_call_share_the_next_and_get_their_own_rows():
  model = GatedModel()
  batcher = Batcher(max_rows=32)
  results = _run_queued(batcher, model, _request(1), [_request(2), _request(3, rows=2),
                                                      _request(4)])
  assert model.calls == [('serving_default', 1), ('serving_default', 4)]
  np.testing.assert_array_equal(results[0]['y'], [[2.0]])
  np.testing.assert_array_equal(results[1]['y'], [[4.0]])
  np.testing.assert_array_equal(results[2]['y'], [[6.0], [6.0]])
  np.testing.assert_array_equal(results[3]['y'], [[8.0]])
  assert batcher.calls == 2 and batcher.merged_requests == 3


def test_one_bad_request_in_a_shared_call_fails_only_itself():
  model = GatedModel()
  batcher = Batcher(max_rows=32)
  results = _run_queued(batcher, model, _request(1), [_request(2), _request(-1),
                                                      _request(5)])
  # The shared call of the three failed; each ran again alone.
  assert [rows for _, rows in model.calls] == [1, 3, 1, 1, 1]
  np.testing.assert_array_equal(results[1]['y'], [[4.0]])
  assert isinstance(results[2], RequestError) and 'x < 0' in str(results[2])
  np.testing.assert_array_equal(results[3]['y'], [[10.0]])


def test_only_requests_of_the_same_signature_and_shape_merge_and_rows_are_bounded():
  model = GatedModel()
  batcher = Batcher(max_rows=4)
  queued = [_request(2, rows=3),                            # merges with nothing after it
            (_request(3), 'other_signature'),               # another signature
            {'x': np.full((1, 2), 4.0, np.float32)},        # another per-row shape
            _request(5, rows=1),                            # joins the first: 3 + 1 rows
            _request(6, rows=1)]                            # would make 5 rows: waits
  results = _run_queued(batcher, model, _request(1), queued)
  assert model.calls[0] == ('serving_default', 1)
  assert sorted(model.calls[1:]) == sorted([('serving_default', 4), ('other_signature', 1),
                                            ('serving_default', 1), ('serving_default', 1)])
  for i, value in [(1, 2), (2, 3), (4, 5), (5, 6)]:
    assert (results[i]['y'] == 2 * value).all(), (i, results[i])
  assert results[3]['y'].shape == (1, 2)


def test_a_request_as_large_as_a_batch_does_not_wait_for_the_running_call():
  model = GatedModel()
  batcher = Batcher(max_rows=4)
  model.gate.clear()
  first = threading.Thread(target=batcher.predict, args=(model, 'serving_default', _request(1)))
  first.start()
  assert model.entered.wait(10)
  big = threading.Thread(target=batcher.predict, args=(model, 'serving_default', _request(7, rows=4)))
  big.start()
  _wait_until(lambda: len(model.calls) == 2)  # in the model while the first still is
  assert model.calls == [('serving_default', 1), ('serving_default', 4)]
  assert batcher.pending() == 0
  model.gate.set()
  first.join(10)
  big.join(10)


def test_outputs_without_a_row_each_are_never_split_between_requests():
  model = GatedModel()
  model.split_outputs = False
  batcher = Batcher(max_rows=32)
  results = _run_queued(batcher, model, _request(1), [_request(2), _request(3)])
  # The shared call's `total` cannot be divided: each ran again on its own.
  assert float(results[1]['total']) == 2.0 and float(results[2]['total']) == 3.0


def test_max_rows_below_one_is_refused():
  with pytest.raises(ValueError, match='max_rows'):
    Batcher(max_rows=0)
