"""The HTML monitor report: every window's history, drift per feature, alarms.

For people without Grafana: one self-contained page (the `reports` kit,
template reports/templates/monitor_report.html.j2). Alarms are of two kinds:
the thresholds each stored window breached (computed here from the same
thresholds the rules use, so the page needs nothing running), and, when a
Prometheus URL is given, the alerts Prometheus has pending or firing and
since when.
"""

import datetime
import json
import os
import urllib.request
from typing import Any, Dict, List, Mapping, Optional

import reports
from monitoring import history
from monitoring import thresholds as thresholds_lib

TEMPLATE = 'monitor_report.html.j2'
CHART_WIDTH, CHART_HEIGHT = 640, 160


def _utc(ts: Optional[float]) -> str:
  if not ts:
    return '–'
  return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
      '%Y-%m-%d %H:%M:%S UTC')


def breaches(window: Mapping[str, Any], current: Mapping[str, Any]) -> List[Dict[str, Any]]:
  """The thresholds this window is above: concern, feature, value, threshold."""
  found = []
  for (concern, feature), value in thresholds_lib.window_values(window).items():
    threshold = thresholds_lib.threshold_of(current, concern, feature)
    if threshold is not None and value > threshold:
      found.append({'concern': concern, 'feature': feature, 'value': value,
                    'threshold': threshold})
  return sorted(found, key=lambda b: (b['concern'], b['feature'] or ''))


def prometheus_alerts(url: str, model: str, timeout: float = 10.0) -> List[Dict[str, Any]]:
  """Alerts Prometheus holds for the model's rules (pending or firing)."""
  with urllib.request.urlopen(url.rstrip('/') + '/api/v1/alerts', timeout=timeout) as r:
    payload = json.load(r)
  out = []
  for alert in payload.get('data', {}).get('alerts', []):
    labels = alert.get('labels', {})
    if labels.get('model') not in (None, model) and labels.get('job') is None:
      continue
    out.append({'name': labels.get('alertname', '?'), 'state': alert.get('state', '?'),
                'since': alert.get('activeAt', ''), 'labels': {
                    k: v for k, v in sorted(labels.items()) if k != 'alertname'},
                'summary': alert.get('annotations', {}).get('summary', '')})
  return out


def _chart(windows: List[Mapping[str, Any]], feature: str) -> str:
  """An SVG polyline of one feature's drift over windows, with its threshold."""
  points = [(i, m['value'], m['threshold']) for i, w in enumerate(windows)
            for m in w.get('drift') or () if m['feature'] == feature]
  if not points:
    return ''
  top = max(max(v, t) for _, v, t in points) * 1.15 or 1.0
  step = CHART_WIDTH / max(len(windows) - 1, 1)

  def y(value):
    return CHART_HEIGHT - value / top * CHART_HEIGHT

  line = ' '.join(f'{i * step:.1f},{y(v):.1f}' for i, v, _ in points)
  threshold = points[-1][2]
  return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" '
          f'height="{CHART_HEIGHT}" role="img" aria-label="drift of {feature}">'
          f'<rect width="100%" height="100%" fill="#fafbfd"/>'
          f'<line x1="0" x2="{CHART_WIDTH}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
          f'stroke="#c0392b" stroke-dasharray="4 3"/>'
          f'<polyline points="{line}" fill="none" stroke="#1f3a5f" stroke-width="2"/></svg>')


def build(state_dir: str, model: str, current: Mapping[str, Any],
          prometheus: Optional[str] = None) -> Dict[str, Any]:
  """Everything the template shows, as plain values."""
  windows = sorted(history.windows(state_dir, model),
                   key=lambda w: (w.get('first_ts', 0), w['sequence']))
  features = sorted({m['feature'] for w in windows for m in w.get('drift') or ()})
  rows = []
  for w in windows:
    drift = {m['feature']: m for m in w.get('drift') or ()}
    rows.append({
        'version': w['version'], 'sequence': w['sequence'], 'start': _utc(w['first_ts']),
        'end': _utc(w['last_ts']), 'records': w['records'], 'closed_by': w['closed_by'],
        'drift': [drift.get(f) for f in features], 'drifted': w.get('drifted') or [],
        'prediction_shift': w.get('prediction_shift'),
        'invalid_output_share': w['outputs']['invalid_output_share'],
        'class_share': w['outputs']['class_share'], 'baseline_note': w.get('baseline_note'),
        'breaches': breaches(w, current)})
  ever_drifted = sorted({f for w in windows for f in w.get('drifted') or ()})
  alerts, alert_error = [], None
  if prometheus:
    try:
      alerts = prometheus_alerts(prometheus, model)
    except (OSError, ValueError) as e:
      alert_error = f'{prometheus}: {e}'
  rejected = history.History(state_dir).rejected() if os.path.isdir(state_dir) else []
  return {
      'title': f'Monitor report: {model}', 'model': model, 'state_dir': state_dir,
      'generated': _utc(datetime.datetime.now(datetime.timezone.utc).timestamp()),
      'windows': rows, 'features': features,
      'charts': [(f, _chart(windows, f)) for f in ever_drifted],
      'alarms': [dict(b, version=r['version'], sequence=r['sequence'], end=r['end'])
                 for r in rows for b in r['breaches']],
      'alerts': alerts, 'alert_error': alert_error, 'prometheus': prometheus,
      'rejected': len(rejected), 'rejected_examples': rejected[:10],
  }


def write(path: str, data: Mapping[str, Any]) -> str:
  return reports.write(path, TEMPLATE, **data)
