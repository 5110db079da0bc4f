"""The next span from production: labelled requests as a CSV under the data root.

One row per request key that has a label: the description's columns from the
logged inputs, else from the labels file's extra columns (else empty, i.e.
missing),
slice columns from the request or the labels file, the id and the label.
Personal data is treated with the description's `pii` rules before anything
is written (dropped columns stay in the header, empty). A key served by
several versions (stable and shadow) gives one row, from the version that
answered the caller (not a shadow), latest first.

Modes (the usual drift playbook):
  all              every labelled request of the period
  recent-only      only those at or after `recent_since`
  recent-weighted  all recent ones, and each older one with probability
                   1/weight (decided by a hash of its key, so reruns agree):
                   recent data counts `weight` times as much without
                   duplicating rows across the train/eval split
A case the model deferred to a person (partial automation: the label is the
person's decision) is kept in every mode: the next span learns most from
what the model found hardest.

The manifest (span-N/manifest.json, beside the CSV; ExampleGen reads only
*.csv) says where every row came from: its log directory, version, role and
time, and the labels file line; and how many were left out, and why.
"""

import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import description
from feedback.join import Joined
from feedback.join import Prediction
from feedback.labels import LabelSet
from feedback.skipped import Skipped

MODES = ('all', 'recent-weighted', 'recent-only')
MANIFEST = 'manifest.json'


class HarvestError(ValueError):
  """The span cannot be written; the message says why."""


@dataclasses.dataclass
class Harvest:
  span: int
  csv_path: str
  manifest_path: str
  rows: int
  skipped: Skipped
  # column -> rows where neither the request nor the labels file had a value
  # (personal data that is dropped is not counted: it is empty on purpose).
  missing: Dict[str, int]


def next_span(data_root: str, pattern: str) -> int:
  """One more than the highest span under `data_root` (1 for none)."""
  first = pattern.split('/')[0]
  regex = re.compile('^' + re.escape(first).replace(re.escape('{SPAN}'), r'(\d+)') + '$')
  spans = [int(m.group(1)) for m in map(regex.match, os.listdir(data_root)
                                        if os.path.isdir(data_root) else []) if m]
  return max(spans, default=0) + 1


def _unwrap(value: Any) -> Any:
  while isinstance(value, list) and len(value) == 1:
    value = value[0]
  return value


def _cell(column: description.Column, value: Any) -> str:
  value = _unwrap(value)
  if value is None or isinstance(value, list):
    return ''
  if column.type == 'int' and isinstance(value, float) and value.is_integer():
    return str(int(value))
  return str(value)


def _kept(p: Prediction, mode: str, recent_since: Optional[float], weight: int) -> bool:
  if mode == 'all' or recent_since is None or p.ts >= recent_since or p.decision == 'deferred':
    return True
  if mode == 'recent-only':
    return False
  digest = hashlib.sha256(p.key.encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') % weight == 0


def select(joined: Joined, mode: str, recent_since: Optional[float] = None,
           weight: int = 3) -> Tuple[List[Prediction], Skipped]:
  """The labelled predictions that become rows, one per key, and what was left out."""
  if mode not in MODES:
    raise HarvestError(f'mode {mode!r}: expected one of {MODES}')
  if mode != 'all' and recent_since is None:
    raise HarvestError(f'mode {mode} needs the start of the recent period')
  if weight < 1:
    raise HarvestError(f'weight must be >= 1, got {weight}')
  skipped = Skipped()
  by_key: Dict[str, Prediction] = {}
  for p in joined.labelled:
    held = by_key.get(p.key)
    if held is not None:
      skipped.add('keys served by several versions (one row kept)', p.key)
      if (held.role != 'shadow', held.ts) >= (p.role != 'shadow', p.ts):
        continue
    by_key[p.key] = p
  chosen = []
  # Key order, not arrival order: concurrent requests interleave differently
  # in every log, and the same traffic and labels must give the same span
  # byte for byte (a re-harvest is a cache hit; its model is reproducible).
  for p in sorted(by_key.values(), key=lambda q: q.key):
    if _kept(p, mode, recent_since, weight):
      chosen.append(p)
    else:
      skipped.add(f'older rows left out by mode {mode}', p.key)
  return chosen, skipped


def row_of(p: Prediction, spec: description.DatasetSpec, redactor: description.Redactor,
           from_labels: Optional[Dict[str, str]] = None) -> Dict[str, str]:
  """The CSV row: the request's values, else the labels file's, PII treated."""
  raw = {c.name: _cell(c, p.inputs.get(c.name)) for c in spec.columns}
  for column, value in list(p.slices.items()) + list((from_labels or {}).items()):
    if not raw.get(column):
      raw[column] = value
  raw[spec.id_column] = p.key
  raw[spec.label] = spec.classes[p.actual]
  treated = redactor.apply(raw)
  return {c.name: treated.get(c.name, '') for c in spec.columns}


def write_span(data_root: str, spec: description.DatasetSpec, chosen: Sequence[Prediction],
               label_set: LabelSet, skipped: Skipped, provenance: Dict[str, Any],
               span: Optional[int] = None,
               environ: Optional[Dict[str, str]] = None) -> Harvest:
  """Writes span-N/data.csv and its manifest atomically; never over a span."""
  if spec.label_rule or not spec.id_column:
    raise HarvestError(f'{spec.source}: harvesting needs an id_column and a label '
                       f'that is a column (not derived)')
  if not chosen:
    raise HarvestError('no labelled request in the period: nothing to harvest')
  redactor = description.redactor(spec, environ)  # PIIKeyError before writing.
  span = span or next_span(data_root, spec.input_pattern)
  rel = os.path.dirname(spec.input_pattern.replace('{SPAN}', str(span)))
  target = os.path.join(data_root, rel)
  if os.path.exists(target):
    raise HarvestError(f'{target} exists: a harvest never overwrites a span')
  os.makedirs(os.path.dirname(target) or '.', exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.harvest-', dir=os.path.dirname(target) or '.')
  missing: Dict[str, int] = {}
  dropped = set(spec.pii.dropped)
  try:
    with open(os.path.join(staging, 'data.csv'), 'w', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=[c.name for c in spec.columns])
      writer.writeheader()
      for p in chosen:
        row = row_of(p, spec, redactor, label_set.labels[p.key].columns)
        for column, value in row.items():
          if value == '' and column not in dropped:
            missing[column] = missing.get(column, 0) + 1
        writer.writerow(row)
    manifest = dict(provenance, span=span, rows=len(chosen), missing_values=missing,
                    left_out=skipped.to_dict(), pii=dict(spec.pii.columns),
                    row_sources=[{'id': p.key, 'version': p.version, 'role': p.role,
                                  'ts': p.ts, 'log': p.source,
                                  'label': label_set.labels[p.key].source}
                                 for p in chosen])
    with open(os.path.join(staging, MANIFEST), 'w') as f:
      json.dump(manifest, f, indent=1)
    os.rename(staging, target)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return Harvest(span, os.path.join(target, 'data.csv'), os.path.join(target, MANIFEST),
                 len(chosen), skipped, missing)
