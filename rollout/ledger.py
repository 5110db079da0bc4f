"""What each version answered during a rollout, as guardrail samples."""

import dataclasses
import http.client
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from rollout import guardrails
from rollout.client import error_text
from rollout.guardrails import Sample
from rollout.replay import make_instance

@dataclasses.dataclass
class Record:
  """One replayed request."""
  key: str
  version: Optional[int]
  role: Optional[str]
  status: int  # HTTP status; 0 = no answer (connection failure, timeout)
  latency_ms: float
  class_id: Optional[int] = None
  probabilities: Optional[List[float]] = None
  error: Optional[str] = None
  deferred: Optional[bool] = None  # the server's automation decision, if it gave one

  @property
  def ok(self) -> bool:
    return self.status == 200 and self.class_id is not None


class VersionLedger:
  """Everything one version answered across steps, deduplicated by key."""

  def __init__(self):
    self.answers: Dict[str, Record] = {}  # key -> latest good answer
    self.errored: set = set()
    self.latencies: List[float] = []

  def add(self, rec: Record, count_latency: bool) -> None:
    if rec.ok:
      self.answers[rec.key] = rec
      if count_latency:
        self.latencies.append(rec.latency_ms)
    else:
      self.errored.add(rec.key)

  def sample(self, labels: Mapping[str, int]) -> Sample:
    keys = sorted(self.answers)
    scores = [self.answers[k].probabilities for k in keys]
    width = {len(s) for s in scores if s is not None}
    return Sample(
        requests=len(set(self.answers) | self.errored),
        errors=len(self.errored),
        latencies_ms=list(self.latencies),
        predicted=[self.answers[k].class_id for k in keys],
        scores=np.asarray(scores, dtype=np.float64) if scores and len(width) == 1 else None,
        labels=[labels.get(k, -1) for k in keys],
        deferred=[self.answers[k].deferred for k in keys])


def step_stats(records: Sequence[Record], version: Optional[int]) -> Dict[str, Any]:
  mine = [r for r in records if r.version == version]
  lat = [r.latency_ms for r in mine if r.ok]
  return {
      'requests': len(mine),
      'errors': sum(not r.ok for r in mine),
      'p50_ms': guardrails.json_safe(guardrails.percentile(lat, 50)),
      'p99_ms': guardrails.json_safe(guardrails.percentile(lat, 99)),
  }


def send_row(client, path: str, row, inputs: Mapping[str, str]) -> Record:
  """Sends one replay row as one request; the answer (or failure) as a Record."""
  body = {'instances': [make_instance(row.values, inputs)]}
  start = time.perf_counter()
  try:
    status, payload, headers = client.request(
        'POST', path, body, headers={'X-Request-Key': row.key})
  except (OSError, http.client.HTTPException) as e:
    return Record(row.key, None, None, 0, (time.perf_counter() - start) * 1e3,
                  error=f'{type(e).__name__}: {e}')
  latency = (time.perf_counter() - start) * 1e3
  version = headers.get('x-model-version')
  rec = Record(row.key, int(version) if version else None, headers.get('x-model-role'),
               status, latency)
  if status != 200:
    rec.error = error_text(payload)
    return rec
  try:
    pred = payload['predictions'][0]
    rec.class_id = int(pred['class_ids'])
    rec.probabilities = [float(p) for p in pred['probabilities']]
    decision = pred.get('automation')  # serving/automation.py, at levels other than full
    if isinstance(decision, dict):
      rec.deferred = decision.get('decision') == 'deferred'
  except (KeyError, IndexError, TypeError, ValueError):
    rec.class_id = None
    rec.error = 'answer without class_ids/probabilities'
  return rec
