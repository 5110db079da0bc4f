"""Request-log records joined to their labels: one labelled prediction per
(version, request key).

Read through serving.request_log's reader (the log's one reader), which skips
and counts torn lines. A key requested twice from the same version counts
once, the last answer (a retry gives the same answer; the latest is what the
caller acted on); the repeats are counted. Records without a key or without
a prediction are counted; labels whose key no request carries are counted
as `labels for unknown request keys`.
"""

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence

import description
from feedback.labels import LabelSet
from feedback.skipped import Skipped
from serving import request_log


@dataclasses.dataclass
class Prediction:
  """One served prediction, labelled or still waiting for its label."""
  key: str
  version: str
  role: str
  ts: float
  predicted: int
  inputs: Dict[str, Any]
  source: str  # log file (version directory) it came from
  actual: Optional[int] = None
  slices: Dict[str, str] = dataclasses.field(default_factory=dict)
  # Who decided the case (serving/automation.py): the model ('decided') or a
  # person it was deferred to ('deferred'). Records without the field were
  # served at level full: the model decided.
  decision: str = 'decided'


@dataclasses.dataclass
class Joined:
  predictions: List[Prediction]  # every usable logged prediction
  skipped: Skipped
  records: int
  unknown_label_keys: int

  @property
  def labelled(self) -> List[Prediction]:
    return [p for p in self.predictions if p.actual is not None]

  def versions(self) -> List[str]:
    return sorted({p.version for p in self.predictions},
                  key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))


def predicted_class(outputs: Any, num_classes: int) -> Optional[int]:
  """The class id of a logged answer: class_ids, else argmax of probabilities."""
  if not isinstance(outputs, Mapping):
    return None
  ids = outputs.get('class_ids')
  while isinstance(ids, list) and len(ids) == 1:
    ids = ids[0]
  if isinstance(ids, (int, float)) and not isinstance(ids, bool):
    return int(ids) if 0 <= int(ids) < num_classes else None
  probs = outputs.get('probabilities')
  while isinstance(probs, list) and len(probs) == 1 and isinstance(probs[0], list):
    probs = probs[0]
  if isinstance(probs, list) and len(probs) == num_classes and all(
      isinstance(p, (int, float)) for p in probs):
    return max(range(num_classes), key=lambda i: probs[i])
  return None


def _slices(spec: description.DatasetSpec, inputs: Mapping[str, Any],
            label_slices: Mapping[str, str]) -> Dict[str, str]:
  out = {}
  for column in spec.slice_columns:
    value = inputs.get(column)
    while isinstance(value, list) and len(value) == 1:
      value = value[0]
    if value in (None, '') and column in label_slices:
      value = label_slices[column]
    if value not in (None, ''):
      out[column] = str(value)
  return out


def join(log_dir: str, label_set: LabelSet, spec: description.DatasetSpec,
         model: Optional[str] = None, since: Optional[float] = None,
         until: Optional[float] = None,
         roles: Optional[Sequence[str]] = None) -> Joined:
  """Labelled predictions of the log's records in [since, until)."""
  reader = request_log.RequestLogReader(log_dir)
  model = model or spec.name
  skipped = Skipped()
  latest: Dict[tuple, Prediction] = {}
  records = 0
  for rec in reader.records(model=model, since=since, until=until):
    records += 1
    version, role = str(rec.get('version', '')), str(rec.get('role', ''))
    if roles and role not in roles:
      skipped.add(f'records of roles other than {list(roles)}', role)
      continue
    key = rec.get('request_key')
    if key in (None, ''):
      skipped.add('records without a request key', f'version {version} '
                  f'request {rec.get("request_id")}')
      continue
    predicted = predicted_class(rec.get('outputs'), spec.num_classes)
    if predicted is None:
      skipped.add('records without a usable prediction', f'{key} (version {version})')
      continue
    inputs = rec.get('inputs') if isinstance(rec.get('inputs'), dict) else {}
    if (version, key) in latest:
      skipped.add('repeated requests (same key, same version; last kept)', str(key))
    automation = rec.get('automation')
    decision = (automation.get('decision') if isinstance(automation, dict) else None)
    latest[(version, str(key))] = Prediction(
        str(key), version, role, float(rec.get('ts') or 0.0), predicted, inputs,
        source=f'{log_dir}/{model}/{version}',
        decision=decision if decision in ('decided', 'deferred') else 'decided')
  if reader.skipped:
    for _ in range(reader.skipped):
      skipped.add('torn or undecodable log lines')
  logged_keys = set()
  for p in latest.values():
    logged_keys.add(p.key)
    label = label_set.labels.get(p.key)
    if label is not None:
      p.actual = label.class_id
    p.slices = _slices(spec, p.inputs, label.columns if label else {})
  unknown = [k for k in label_set.labels if k not in logged_keys]
  for key in unknown:
    skipped.add('labels for unknown request keys (no logged request)', key)
  predictions = sorted(latest.values(), key=lambda p: (p.ts, p.version, p.key))
  return Joined(predictions, skipped, records, len(unknown))


def deferred_keys(log_dir: str, model: str) -> List[str]:
  """Request keys whose case the model deferred to a person, oldest first: the
  cases that get a person's decision (their label) before any other."""
  keys: Dict[str, None] = {}
  for rec in request_log.RequestLogReader(log_dir).records(model=model):
    automation = rec.get('automation')
    key = rec.get('request_key')
    if (isinstance(automation, dict) and automation.get('decision') == 'deferred' and
        key not in (None, '') and rec.get('role') != 'shadow'):
      keys[str(key)] = None
  return list(keys)
