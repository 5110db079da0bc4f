"""The audit's page (audit.html through the reports kit) and audit.json.

The sign-off records the HTML page's SHA-256: what the reviewer saw, checked
again when the decision is taken.
"""

import json
import os
from typing import Dict

import durable
import reports
from rollout import audit as audit_lib

HTML = 'audit.html'
JSON = 'audit.json'


def _page(audit: audit_lib.Audit) -> Dict[str, object]:
  rows = []
  for s in audit.slices:
    for source, pair in (('evaluation', s.evaluation), ('live', s.live)):
      if not pair:
        continue
      empty = audit_lib.Figures(None, None, {})
      rows.append({'slice': s.slice, 'kind': s.kind, 'source': source,
                   'regressed': any(r.source == source for r in s.regressions),
                   'judged': s.judged, 'candidate': pair.get('candidate', empty),
                   'stable': pair.get('stable', empty)})
  return dict(title=f'Audit of {audit.model} version {audit.candidate}', audit=audit,
              rows=rows, metrics=list(audit_lib.METRICS),
              min_examples=audit_lib.MIN_SLICE_EXAMPLES,
              regressions=[(s.slice, r.text()) for s in audit.slices for r in s.regressions])


def write(audit: audit_lib.Audit, out_dir: str) -> Dict[str, str]:
  """audit.json and audit.html in out_dir: their paths and the page's sha256."""
  os.makedirs(out_dir, exist_ok=True)
  json_path = os.path.join(out_dir, JSON)
  with open(json_path, 'w', encoding='utf-8') as f:
    json.dump(audit.to_json(), f, indent=1, allow_nan=False)
  html = reports.write(os.path.join(out_dir, HTML), 'audit.html.j2', **_page(audit))
  return {'json': json_path, 'html': html, 'sha256': durable.sha256_of(html)}
