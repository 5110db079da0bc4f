"""The data gate's report: what was found, as text for the terminal and as HTML.

One `Finding` per problem: which column, what kind (a schema violation,
drift of the column's distribution, drift of the label given the column),
the measured distance against its threshold, and whether it blocks the run
or only warns. The HTML page adds, for every drifted column, a small chart
comparing the previous span with the current one:

* categorical: each value's share in both spans;
* numeric: the share of the current span falling in each tenth (decile) of
  the previous span, which is a flat 10% line when nothing moved;
* label given a column: the class rate per bin of the column in both spans.
"""

import dataclasses
import html
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tfx.dsl.io import fileio

from tensorflow_metadata.proto.v0 import statistics_pb2

# A finding blocks the run, warns, or (outside the gate, e.g. skew) is found.
BLOCK, WARN, FOUND = 'block', 'warn', 'found'
REPORT_FILES = ('report.html', 'report.txt', 'report.json')
SCHEMA, DRIFT, LABEL_DRIFT, INPUT = 'schema', 'drift', 'label drift', 'input'


@dataclasses.dataclass
class Chart:
  """Bars to compare: labels with the previous and the current share."""
  title: str
  labels: List[str]
  previous: List[float]
  current: List[float]


@dataclasses.dataclass
class Finding:
  kind: str            # schema | drift | label drift | input
  feature: str         # column name ('(dataset)' for whole-dataset findings)
  action: str          # block | warn
  message: str
  measure: str = ''    # e.g. 'L-infinity distance', 'Jensen-Shannon divergence'
  value: Optional[float] = None
  threshold: Optional[float] = None
  splits: List[str] = dataclasses.field(default_factory=list)
  chart: Optional[Chart] = None

  def line(self) -> str:
    measured = ''
    if self.value is not None and self.threshold is not None:
      measured = f'{self.measure} {self.value:.4f} > {self.threshold:.4f}; '
    where = f' [{", ".join(self.splits)}]' if self.splits else ''
    return (f'{self.action.upper():<6} {self.kind:<17} {self.feature:<24} '
            f'{measured}{self.message}{where}')


@dataclasses.dataclass
class Comparison:
  """One measured comparison, drifted or not (the report lists them all)."""
  feature: str
  measure: str
  value: float
  threshold: float
  action: str

  @property
  def drifted(self) -> bool:
    return self.value > self.threshold


@dataclasses.dataclass
class Report:
  dataset: str
  span: Optional[int]
  files: List[str]
  baseline_span: Optional[int]
  findings: List[Finding]
  comparisons: List[Comparison]
  notes: List[str]
  html_path: str = ''
  text_path: str = ''
  title: str = ''  # Replaces the span-validation headline (e.g. for skew).
  # Seconds each check took (the cost of drift checking is measured here).
  seconds: Dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def blocking(self) -> List[Finding]:
    return [f for f in self.findings if f.action == BLOCK]

  @property
  def warnings(self) -> List[Finding]:
    return [f for f in self.findings if f.action == WARN]

  @property
  def passed(self) -> bool:
    return not self.blocking

  def ordered(self) -> List[Finding]:
    rank = {BLOCK: 0, WARN: 1}
    return sorted(self.findings, key=lambda f: rank.get(f.action, 2))

  def headline(self) -> str:
    if self.title:
      return self.title
    verdict = 'PASSED' if self.passed else 'BLOCKED'
    base = (f'against span {self.baseline_span}' if self.baseline_span is not None
            else 'with no earlier span to compare')
    return (f'Data validation of {self.dataset} span {self.span} {base}: {verdict} '
            f'({len(self.blocking)} blocking, {len(self.warnings)} warning(s))')

  def to_text(self) -> str:
    lines = [self.headline()]
    if self.files:
      lines.append(f'  data: {", ".join(self.files)}')
    for note in self.notes:
      lines.append(f'  note: {note}')
    for finding in self.ordered():
      lines.append('  ' + finding.line())
    if self.html_path:
      lines.append(f'  report: {self.html_path}')
    return '\n'.join(lines)

  def to_json(self) -> Dict[str, Any]:
    def finding(f: Finding):
      d = dataclasses.asdict(f)
      d.pop('chart')
      return d
    return {
        'dataset': self.dataset, 'span': self.span, 'files': self.files,
        'baseline_span': self.baseline_span, 'passed': self.passed,
        'findings': [finding(f) for f in self.findings],
        'comparisons': [dataclasses.asdict(c) | {'drifted': c.drifted}
                        for c in self.comparisons],
        'notes': self.notes,
        'seconds': self.seconds,
    }


# --- charts from statistics ---------------------------------------------------
def number(x: float) -> str:
  """Readable bin edges: 52,340 rather than 5.234e+04."""
  if abs(x) >= 1000 and np.isfinite(x):
    return f'{x:,.0f}'
  return f'{x:.4g}'


def _feature_stats(stats: statistics_pb2.DatasetFeatureStatisticsList,
                   name: str) -> Optional[statistics_pb2.FeatureNameStatistics]:
  for dataset in stats.datasets:
    for f in dataset.features:
      if (f.path.step and list(f.path.step) == [name]) or f.name == name:
        return f
  return None


def _value_shares(f: statistics_pb2.FeatureNameStatistics) -> Dict[str, float]:
  string_stats = f.string_stats if f.HasField('string_stats') else None
  if string_stats is None:
    return {}
  buckets = string_stats.rank_histogram.buckets
  total = sum(b.sample_count for b in buckets)
  if buckets and total:
    return {b.label: b.sample_count / total for b in buckets}
  total = sum(v.frequency for v in string_stats.top_values)
  return {v.value: v.frequency / total for v in string_stats.top_values} if total else {}


def _quantile_histogram(f: statistics_pb2.FeatureNameStatistics):
  if not f.HasField('num_stats'):
    return None
  for h in f.num_stats.histograms:
    if h.type == statistics_pb2.Histogram.QUANTILES and h.buckets:
      return h
  return None


def _cdf(histogram, x: float) -> float:
  """Share of values below x, reading a quantile histogram linearly."""
  total = sum(b.sample_count for b in histogram.buckets) or 1.0
  below = 0.0
  for b in histogram.buckets:
    if x >= b.high_value:
      below += b.sample_count
    elif x > b.low_value:
      below += b.sample_count * (x - b.low_value) / (b.high_value - b.low_value)
  return below / total


def chart_for(name: str, previous: statistics_pb2.DatasetFeatureStatisticsList,
              current: statistics_pb2.DatasetFeatureStatisticsList,
              max_values: int = 12) -> Optional[Chart]:
  """Previous vs current span for one feature (see the module docstring)."""
  p, c = _feature_stats(previous, name), _feature_stats(current, name)
  if p is None or c is None:
    return None
  p_shares, c_shares = _value_shares(p), _value_shares(c)
  if p_shares or c_shares:
    labels = sorted(set(p_shares) | set(c_shares),
                    key=lambda v: -max(p_shares.get(v, 0), c_shares.get(v, 0)))
    labels = labels[:max_values]
    return Chart(f'{name}: share of each value', labels,
                 [p_shares.get(v, 0.0) for v in labels],
                 [c_shares.get(v, 0.0) for v in labels])
  ph, ch = _quantile_histogram(p), _quantile_histogram(c)
  if ph is None or ch is None:
    return None
  edges = np.quantile(
      [b.low_value for b in ph.buckets] + [ph.buckets[-1].high_value],
      np.linspace(0, 1, 11))
  edges = sorted(set(float(e) for e in edges))
  if len(edges) < 3:
    return None
  labels, prev, cur = [], [], []
  for low, high in zip(edges[:-1], edges[1:]):
    labels.append(f'{number(low)}–{number(high)}')
    prev.append(_cdf(ph, high) - _cdf(ph, low))
    cur.append(_cdf(ch, high) - _cdf(ch, low))
  # Values beyond the previous span's range, which the bins above miss.
  prev[0] += _cdf(ph, edges[0])
  cur[0] += _cdf(ch, edges[0])
  prev[-1] += 1.0 - _cdf(ph, edges[-1])
  cur[-1] += 1.0 - _cdf(ch, edges[-1])
  return Chart(f'{name}: share in each tenth of the previous span\'s range',
               labels, prev, cur)


# --- HTML -----------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em}
.passed{color:#1a7f37} .blocked{color:#c62828}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4} .block{color:#c62828;font-weight:600} .warn{color:#b26a00;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums} .drifted{background:#fdecea}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
figure{margin:1em 0} figcaption{font-size:.9em;color:#555}
"""


def _svg(chart: Chart, width: int = 640) -> str:
  row, bar = 22, 8
  label_w = 170
  scale = (width - label_w - 110) / max(max(chart.previous + chart.current, default=0), 1e-9)
  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{row * len(chart.labels) + 10}" role="img">']
  for i, (label, p, c) in enumerate(zip(chart.labels, chart.previous, chart.current)):
    y = 5 + i * row
    parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="11" '
                 f'text-anchor="end">{html.escape(label[:28])}</text>')
    parts.append(f'<rect x="{label_w}" y="{y + 1}" width="{p * scale:.1f}" '
                 f'height="{bar}" fill="#9e9e9e"><title>previous {p:.1%}</title></rect>')
    parts.append(f'<rect x="{label_w}" y="{y + bar + 2}" width="{c * scale:.1f}" '
                 f'height="{bar}" fill="#ef6c00"><title>current {c:.1%}</title></rect>')
    parts.append(f'<text x="{label_w + max(p, c) * scale + 4:.1f}" y="{y + 13}" '
                 f'font-size="10" fill="#555">{p:.1%} → {c:.1%}</text>')
  parts.append('</svg>')
  return ''.join(parts)


def to_html(report: Report) -> str:
  e = html.escape
  status = 'passed' if report.passed else 'blocked'
  out = ['<!doctype html><html><head><meta charset="utf-8">',
         f'<title>{e(report.headline())}</title>',
         f'<style>{_STYLE}</style></head><body>',
         f'<h1 class="{status}">{e(report.headline())}</h1>']
  if report.files:
    out.append('<p>Data: ' + ', '.join(f'<code>{e(f)}</code>' for f in report.files) + '</p>')
  if report.notes:
    out.append('<ul>' + ''.join(f'<li>{e(n)}</li>' for n in report.notes) + '</ul>')
  out.append('<h2>Findings</h2>')
  if report.findings:
    out.append('<table><tr><th>action</th><th>kind</th><th>column</th>'
               '<th>measured</th><th>threshold</th><th>what</th></tr>')
    for f in report.ordered():
      value = '' if f.value is None else f'{f.value:.4f}'
      threshold = '' if f.threshold is None else f'{f.threshold:.4f}'
      splits = f' <small>({e(", ".join(f.splits))})</small>' if f.splits else ''
      out.append(f'<tr><td class="{f.action}">{f.action}</td><td>{e(f.kind)}</td>'
                 f'<td><code>{e(f.feature)}</code></td><td class="num">{value}</td>'
                 f'<td class="num">{threshold}</td><td>{e(f.message)}{splits}</td></tr>')
    out.append('</table>')
  else:
    out.append('<p>Nothing found.</p>')
  charts = [f for f in report.findings if f.chart]
  if charts:
    before, after = (('training', 'serving') if report.title else
                     ('previous span', 'current span'))
    out.append(f'<h2>Columns that moved</h2><p class="legend">'
               f'<span style="background:#9e9e9e"></span>{before}'
               f'<span style="background:#ef6c00"></span>{after}</p>')
    for f in charts:
      out.append(f'<figure>{_svg(f.chart)}<figcaption>{e(f.chart.title)} '
                 f'({e(f.kind)}, {e(f.measure)} {f.value:.4f} against '
                 f'{f.threshold:.4f})</figcaption></figure>')
  if report.comparisons:
    out.append('<h2>Every distribution comparison</h2>'
               '<table><tr><th>column</th><th>measure</th><th>value</th>'
               '<th>threshold</th><th>on drift</th></tr>')
    for c in sorted(report.comparisons, key=lambda c: -c.value / max(c.threshold, 1e-12)):
      cls = ' class="drifted"' if c.drifted else ''
      out.append(f'<tr{cls}><td><code>{e(c.feature)}</code></td><td>{e(c.measure)}</td>'
                 f'<td class="num">{c.value:.4f}</td><td class="num">{c.threshold:.4f}</td>'
                 f'<td>{c.action}</td></tr>')
    out.append('</table>')
  out.append('</body></html>')
  return '\n'.join(out)


def write(report: Report, directory: str) -> Report:
  """Writes report.html, report.txt and report.json under `directory`."""
  fileio.makedirs(directory)
  report.html_path = os.path.join(directory, 'report.html')
  report.text_path = os.path.join(directory, 'report.txt')
  with fileio.open(report.html_path, 'w') as f:
    f.write(to_html(report))
  with fileio.open(report.text_path, 'w') as f:
    f.write(report.to_text() + '\n')
  with fileio.open(os.path.join(directory, 'report.json'), 'w') as f:
    json.dump(report.to_json(), f, indent=2)
  return report


def label_chart(label: str, feature: str, label_class: str,
                bins: Sequence[Tuple[str, float, float]]) -> Chart:
  return Chart(f'P({label} = {label_class} | {feature} bin)',
               [b for b, _, _ in bins], [p for _, p, _ in bins],
               [c for _, _, c in bins])
