"""Plain data the run report's section templates show: tables, artifact files, charts.

Nothing here writes markup except `svg_bars`, a chart built from numbers
(labels escaped) that templates embed with |safe, as the validation report
does; tables, badges and files are drawn by reports/templates/run_macros.html.j2.
"""

import base64
import glob
import html
import json
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

MAX_TABLE_ROWS = 200
MAX_EMBEDDED_BYTES = 512 * 1024


def table(rows: Sequence[Dict[str, Any]], columns: Sequence[str],
          kinds: Optional[Dict[str, str]] = None,
          row_class: Optional[Callable[[Dict[str, Any]], str]] = None,
          headers: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
  """A table for the `table` macro; `kinds` names how a column's cells are shown
  (see the `cell` macro: bar, count, pct, text, yes, one, dash)."""
  kinds = kinds or {}
  headers = headers or {}
  shown = rows[:MAX_TABLE_ROWS]
  return {
      'columns': [{'header': headers.get(c, c), 'kind': kinds.get(c, '')} for c in columns],
      'rows': [{'css': row_class(r) if row_class else '',
                'cells': [r.get(c) for c in columns]} for r in shown],
      'more': len(rows) - len(shown),
  }


def svg_bars(items: Sequence[Sequence[Any]], reference: Optional[float] = None,
             title: str = '', highlight: Sequence[str] = ()) -> str:
  """A horizontal bar chart (label, value in [0, 1]) as inline SVG."""
  esc = lambda v: html.escape(str(v), quote=True)  # pylint: disable=unnecessary-lambda-assignment
  items = [(str(k), v) for k, v in items if v is not None and not math.isnan(v)]
  if not items:
    return ''
  row, left, width = 18, 150, 260
  height = row * len(items) + 24
  parts = [f'<svg class="chart" width="{left + width + 60}" height="{height}" '
           f'role="img" aria-label="{esc(title)}">']
  parts.append(f'<text x="0" y="12" class="ct">{esc(title)}</text>')
  for i, (label, value) in enumerate(items):
    y = 20 + i * row
    w = max(0.0, min(1.0, value)) * width
    color = '#c0392b' if label in highlight else '#4a78b5'
    parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{esc(label[:24])}</text>')
    parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{color}"/>')
    parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{value:.3f}</text>')
  if reference is not None and not math.isnan(reference):
    x = left + max(0.0, min(1.0, reference)) * width
    parts.append(f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{height}" '
                 f'stroke="#333" stroke-dasharray="3,2"/>')
  parts.append('</svg>')
  return ''.join(parts)


def artifact(artifact_info, prefer_html: bool = False) -> Dict[str, Any]:
  """An artifact for the `artifact` macro: its label, uri and what it wrote."""
  return {'label': artifact_info.label, 'uri': artifact_info.uri,
          'files': artifact_files(artifact_info, prefer_html)}


def artifact_files(artifact_info, prefer_html: bool = False) -> List[Dict[str, Any]]:
  """What a component wrote, shown whatever it is (blocks for the `block` macro):
  JSON and CSV as tables, PNG inline, HTML in a sandboxed frame (a full page of
  its own, with its own styles) when it is the only rendering or `prefer_html`
  asks for it."""
  blocks = []
  props = {k: v for k, v in artifact_info.properties.items() if not isinstance(v, (dict, list))}
  if props:
    blocks.append({'kind': 'kv', 'pairs': sorted(props.items())})
  uri = artifact_info.uri
  paths = sorted(p for p in glob.glob(os.path.join(uri, '**', '*'), recursive=True)
                 if os.path.isfile(p) and os.path.getsize(p) <= MAX_EMBEDDED_BYTES)
  by_ext: Dict[str, List[str]] = {}
  for path in paths:
    by_ext.setdefault(os.path.splitext(path)[1].lower(), []).append(path)
  pages = by_ext.get('.html', []) + by_ext.get('.htm', [])
  tables = by_ext.get('.json', []) + by_ext.get('.csv', [])
  if pages and (prefer_html or not tables):
    for path in pages:
      with open(path, encoding='utf-8', errors='replace') as f:
        blocks.append({'kind': 'page', 'name': os.path.relpath(path, uri), 'html': f.read()})
    return blocks
  for path in tables:
    name = os.path.relpath(path, uri)
    if path.endswith('.json'):
      with open(path) as f:
        blocks.append({'kind': 'titled', 'name': name, 'block': json_block(json.load(f))})
    else:
      import pandas as pd  # pylint: disable=g-import-not-at-top
      frame = pd.read_csv(path)
      blocks.append({'kind': 'titled', 'name': name, 'block': {
          'kind': 'table', 'table': table(frame.to_dict('records'), list(frame.columns))}})
  for path in by_ext.get('.png', []):
    with open(path, 'rb') as f:
      encoded = base64.b64encode(f.read()).decode('ascii')
    blocks.append({'kind': 'png', 'name': os.path.basename(path), 'base64': encoded})
  return blocks


def json_block(value) -> Dict[str, Any]:
  """A JSON value as a block: a list of records is a table, a dict key/values
  (nested ones below under their key), anything else pretty-printed."""
  if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
    return {'kind': 'table', 'table': table(value, list(dict.fromkeys(k for v in value for k in v)))}
  if isinstance(value, dict):
    return {'kind': 'kv',
            'pairs': [(k, v) for k, v in value.items() if not isinstance(v, (dict, list))],
            'nested': [(k, json_block(v)) for k, v in value.items() if isinstance(v, (dict, list))]}
  return {'kind': 'pre', 'text': json.dumps(value, indent=1)}
