"""The data gate's report: what was found, as text for the terminal and as HTML.

One `Finding` per problem: which column, what kind (a schema violation,
drift of the column's distribution, drift of the label given the column),
the measured distance against its threshold, and whether it blocks the run
or only warns. The HTML page (the reports kit's validation_report.html.j2) adds, for every drifted column, a small chart
comparing the previous span with the current one:

* categorical: each value's share in both spans;
* numeric: the share of the current span falling in each tenth (decile) of
  the previous span, which is a flat 10% line when nothing moved;
* label given a column: the class rate per bin of the column in both spans.
"""

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tfx.dsl.io import fileio

from tensorflow_metadata.proto.v0 import statistics_pb2

import reports

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


# --- HTML (reports/templates/validation_report.html.j2) ---------------------------
TEMPLATE = 'validation_report.html.j2'
_ROW, _BAR, _LABEL_WIDTH, _WIDTH = 22, 8, 170, 640


def chart_bars(chart: Chart) -> Dict[str, Any]:
  """The chart's geometry for the template's SVG: plain numbers, no markup."""
  scale = (_WIDTH - _LABEL_WIDTH - 110) / max(max(chart.previous + chart.current, default=0),
                                               1e-9)
  rows = []
  for i, (label, p, c) in enumerate(zip(chart.labels, chart.previous, chart.current)):
    rows.append({'label': label[:28], 'y': 5 + i * _ROW, 'previous': p, 'current': c,
                 'previous_width': p * scale, 'current_width': c * scale,
                 'text_x': _LABEL_WIDTH + max(p, c) * scale + 4})
  return {'width': _WIDTH, 'height': _ROW * len(chart.labels) + 10, 'bar': _BAR,
          'label_x': _LABEL_WIDTH, 'rows': rows}


def page_data(report: Report) -> Dict[str, Any]:
  before, after = (('training', 'serving') if report.title else
                   ('previous span', 'current span'))
  return {
      'title': report.headline(), 'passed': report.passed, 'files': report.files,
      'notes': report.notes, 'findings': report.ordered(),
      'charts': [{'finding': f, 'svg': chart_bars(f.chart)}
                 for f in report.findings if f.chart],
      'before': before, 'after': after,
      'comparisons': sorted(report.comparisons,
                            key=lambda c: -c.value / max(c.threshold, 1e-12)),
  }


def to_html(report: Report) -> str:
  return reports.render(TEMPLATE, **page_data(report))


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
