"""Server-side batching: predicts that arrive while a version's model call is
running wait, and then run together as one call.

A model call has a fixed cost that dwarfs its per-row cost (TensorFlow binds
and converts every input, then runs the whole graph): on the taxi model one
row takes 1.7 ms and four rows 2.0 ms. TF Serving merges concurrent requests
for the same reason (its `--enable_batching`). Here no request ever waits for
a batch to fill: a request that finds the version idle runs at once, alone;
only requests that arrive while a call is running queue, and the next call
takes all of them (up to `max_rows`). An idle server answers exactly as
without batching; a busy one makes fewer, larger calls.

Only requests with the same signature, input names, dtypes and per-row
shapes merge. One request's bad content must not cost the others their
answer: a merged call that fails is run again request by request, so each
gets its own result or its own error.
"""

import threading
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

Tensors = Mapping[str, np.ndarray]
Outputs = Dict[str, np.ndarray]
RunFn = Callable[[str, Tensors], Outputs]


class _Request:
  """One predict waiting in (or leading) a batch."""

  def __init__(self, run: RunFn, signature_name: str, tensors: Tensors, rows: int,
               key: Tuple):
    self.run = run
    self.signature_name = signature_name
    self.tensors = tensors
    self.rows = rows
    self.key = key
    self.batch: Optional[List['_Request']] = None  # set when it must run this batch
    self.outputs: Optional[Outputs] = None
    self.error: Optional[BaseException] = None
    self.settled = threading.Event()

  def result(self) -> Outputs:
    if self.error is not None:
      raise self.error
    return self.outputs


def _rows_and_key(signature_name: str, tensors: Tensors) -> Tuple[int, Optional[Tuple]]:
  """(rows, merge key); key None = this request cannot merge with others."""
  if any(getattr(a, 'ndim', 0) < 1 for a in tensors.values()):
    return 0, None
  rows = {int(a.shape[0]) for a in tensors.values()}
  if len(rows) != 1:
    return 0, None
  key = (signature_name,) + tuple(
      (name, a.dtype.str, a.shape[1:]) for name, a in sorted(tensors.items()))
  return rows.pop(), key


class Batcher:
  """Merges concurrent predicts of one model version; thread-safe.

  Each predict brings the model call, `run(signature_name, tensors)`
  (LoadedModel.predict), which must treat rows independently, as serving
  signatures do. The batcher keeps no reference to the model, so a version
  that is unloaded can be freed while its batcher is still looked up.
  """

  def __init__(self, max_rows: int):
    if max_rows < 1:
      raise ValueError(f'max_rows must be at least 1, got {max_rows}')
    self.max_rows = max_rows
    self._lock = threading.Lock()
    self._busy = False  # a call of this version is running
    self._queue: List[_Request] = []
    self.calls = 0  # model calls made (read by tests and benchmarks)
    self.merged_requests = 0  # requests answered by a call they shared

  def pending(self) -> int:
    """Requests waiting for the running call to end."""
    with self._lock:
      return len(self._queue)

  def predict(self, run: RunFn, signature_name: str, tensors: Tensors) -> Outputs:
    rows, key = _rows_and_key(signature_name, tensors)
    if key is None or rows >= self.max_rows:
      return self._call(run, signature_name, tensors)  # nothing to merge with
    me = _Request(run, signature_name, tensors, rows, key)
    with self._lock:
      if self._busy:
        self._queue.append(me)
      else:
        self._busy = True
        me.batch = [me]
    if me.batch is None:
      me.settled.wait()  # answered by a leader, or made the next leader
    if me.batch is not None:
      self._lead(me.batch)
    return me.result()

  def _call(self, run: RunFn, signature_name: str, tensors: Tensors) -> Outputs:
    with self._lock:
      self.calls += 1
    return run(signature_name, tensors)

  def _lead(self, batch: List[_Request]) -> None:
    """Runs `batch` (its first request is this thread's), answers the rest,
    then hands the next batch to the thread of its first request."""
    try:
      self._execute(batch)
    finally:
      for r in batch[1:]:
        if r.outputs is None and r.error is None:
          r.error = RuntimeError('the shared model call did not finish')
        r.settled.set()
      with self._lock:
        following = self._next_batch()
        if following:
          following[0].batch = following
        else:
          self._busy = False
      if following:
        following[0].settled.set()  # it runs them on its own thread

  def _next_batch(self) -> List[_Request]:
    """The oldest waiting request and every waiting one that merges with it."""
    if not self._queue:
      return []
    first = self._queue[0]
    batch, rest, rows = [], [], 0
    for r in self._queue:
      if r.key == first.key and rows + r.rows <= self.max_rows:
        batch.append(r)
        rows += r.rows
      else:
        rest.append(r)
    self._queue = rest
    return batch

  def _execute(self, batch: List[_Request]) -> None:
    if len(batch) > 1:
      try:
        self._run_merged(batch)
        return
      except Exception:  # pylint: disable=broad-except  (each alone says whose it was)
        pass
    for r in batch:
      try:
        r.outputs = self._call(r.run, r.signature_name, r.tensors)
      except Exception as e:  # pylint: disable=broad-except  (raised on its own thread)
        r.error = e

  def _run_merged(self, batch: List[_Request]) -> None:
    first = batch[0]
    merged = {name: np.concatenate([r.tensors[name] for r in batch])
              for name in first.tensors}
    outputs = self._call(first.run, first.signature_name, merged)
    total = sum(r.rows for r in batch)
    if any(getattr(v, 'ndim', 0) < 1 or v.shape[0] != total for v in outputs.values()):
      raise ValueError('an output has no row per input row: cannot split it')
    start = 0
    for r in batch:
      r.outputs = {k: v[start:start + r.rows] for k, v in outputs.items()}
      start += r.rows
    with self._lock:
      self.merged_requests += len(batch)
