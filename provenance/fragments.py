"""HTML fragments the run report's sections are built from: tables, badges, bars, SVG charts.

Every value is escaped here (`esc`) before it becomes markup; the page around
the fragments is the `reports` kit's (reports/templates/run_report.html.j2).
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


def esc(value: Any) -> str:
  return html.escape(str(value), quote=True)


def num(value: Any, digits: int = 3, percent: bool = False) -> str:
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return '-'
  if isinstance(value, bool):
    return 'yes' if value else 'no'
  if isinstance(value, (int, float)):
    if percent:
      return f'{value * 100:.1f}%'
    if isinstance(value, int):
      return f'{value:,}'
    return f'{value:.{digits}f}'
  return str(value)


def table(rows: Sequence[Dict[str, Any]], columns: Sequence[str],
           formats: Optional[Dict[str, Callable[[Any], str]]] = None,
           row_class: Optional[Callable[[Dict[str, Any]], str]] = None,
           headers: Optional[Dict[str, str]] = None, css: str = '') -> str:
  formats = formats or {}
  headers = headers or {}
  head = ''.join(f'<th>{esc(headers.get(c, c))}</th>' for c in columns)
  body = []
  for row in rows[:MAX_TABLE_ROWS]:
    cls = row_class(row) if row_class else ''
    cells = []
    for c in columns:
      value = row.get(c)
      text = formats[c](value) if c in formats else esc(num(value))
      numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
      cells.append(f'<td class="{"num" if numeric else ""}">{text}</td>')
    body.append(f'<tr class="{cls}">{"".join(cells)}</tr>')
  more = (f'<p class="note">{len(rows) - MAX_TABLE_ROWS} more rows not shown.</p>'
          if len(rows) > MAX_TABLE_ROWS else '')
  return (f'<table class="{css}"><thead><tr>{head}</tr></thead>'
          f'<tbody>{"".join(body)}</tbody></table>{more}')


def bar(value: Optional[float], scale: float = 1.0) -> str:
  if value is None or math.isnan(value):
    return '-'
  width = max(0.0, min(1.0, value / scale)) * 100
  return (f'<span class="bar"><span style="width:{width:.1f}%"></span></span>'
          f'<span class="barval">{value:.3f}</span>')


def count(value: Any) -> str:
  return '-' if value is None else f'{int(value):,}'


def kv(pairs: Sequence[Sequence[Any]]) -> str:
  rows = ''.join(f'<tr><th>{esc(k)}</th><td>{v}</td></tr>' for k, v in pairs)
  return f'<table class="kv">{rows}</table>'


def badge(ok: Optional[bool], yes: str, no: str, unknown: str = 'n/a') -> str:
  if ok is None:
    return f'<span class="badge grey">{esc(unknown)}</span>'
  return f'<span class="badge {"green" if ok else "red"}">{esc(yes if ok else no)}</span>'


def svg_bars(items: Sequence[Sequence[Any]], reference: Optional[float] = None,
              title: str = '', highlight: Sequence[str] = ()) -> str:
  """A horizontal bar chart (label, value in [0, 1]) as inline SVG."""
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


def artifact_files(artifact, prefer_html: bool = False) -> str:
  """What a component wrote, shown whatever it is: JSON and CSV as tables,
  PNG inline, HTML in a sandboxed frame (a full page of its own, with its own
  styles) when it is the only rendering or `prefer_html` asks for it."""
  parts = []
  props = {k: v for k, v in artifact.properties.items() if not isinstance(v, (dict, list))}
  if props:
    parts.append(kv([(k, esc(num(v))) for k, v in sorted(props.items())]))
  paths = sorted(p for p in glob.glob(os.path.join(artifact.uri, '**', '*'), recursive=True)
                 if os.path.isfile(p) and os.path.getsize(p) <= MAX_EMBEDDED_BYTES)
  by_ext: Dict[str, List[str]] = {}
  for path in paths:
    by_ext.setdefault(os.path.splitext(path)[1].lower(), []).append(path)
  pages = by_ext.get('.html', []) + by_ext.get('.htm', [])
  tables = by_ext.get('.json', []) + by_ext.get('.csv', [])
  if pages and (prefer_html or not tables):
    for path in pages:
      with open(path, encoding='utf-8', errors='replace') as f:
        parts.append(f'<h3>{esc(os.path.relpath(path, artifact.uri))}</h3>'
                     f'<iframe class="embedded" sandbox="" srcdoc="{esc(f.read())}"></iframe>')
    return ''.join(parts)
  for path in tables:
    rel = esc(os.path.relpath(path, artifact.uri))
    if path.endswith('.json'):
      with open(path) as f:
        parts.append(f'<h3>{rel}</h3>' + json_block(json.load(f)))
    else:
      import pandas as pd  # pylint: disable=g-import-not-at-top
      frame = pd.read_csv(path)
      parts.append(f'<h3>{rel}</h3>' + table(
          frame.to_dict('records'), list(frame.columns),
          formats={c: esc for c in frame.columns if frame[c].dtype == object}))
  for path in by_ext.get('.png', []):
    with open(path, 'rb') as f:
      encoded = base64.b64encode(f.read()).decode('ascii')
    parts.append(f'<p><img alt="{esc(os.path.basename(path))}" class="figure" '
                 f'src="data:image/png;base64,{encoded}"></p>')
  return ''.join(parts) or '<p class="note">The artifact holds no file to show.</p>'


def json_block(value) -> str:
  if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
    columns = list(dict.fromkeys(k for v in value for k in v))
    return table(value, columns, formats={
        c: (lambda v: esc(num(v))) for c in columns})
  if isinstance(value, dict):
    simple = [(k, esc(num(v))) for k, v in value.items() if not isinstance(v, (dict, list))]
    nested = ''.join(f'<h4>{esc(k)}</h4>{json_block(v)}' for k, v in value.items()
                     if isinstance(v, (dict, list)))
    return (kv(simple) if simple else '') + nested
  return f'<pre>{esc(json.dumps(value, indent=1))}</pre>'
