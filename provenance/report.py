"""One self-contained HTML report per pipeline run, read from ML Metadata.

  python -m cli.provenance report [--run RUN_ID] [--out FILE]
  local_runner.py writes one at the end of every run and prints its path.

The page has no external resources (inline CSS and SVG, no scripts), so it
can be mailed, attached to a ticket or archived with the run.

Each section is a function keyed on what the run produced: it is rendered
only when the run has artifacts it matches. Adding a section for a new
component is one decorated function:

    @section('my-thing', 'My thing', of_type('MyArtifactType'))
    def _my_thing(run, artifacts):
      return _table(rows, columns)      # an HTML fragment, or None to skip

A section that raises is shown as an error box instead of failing the run;
tests look for RENDER_ERROR_CLASS.
"""

import base64
import dataclasses
import datetime
import functools
import glob
import html
import json
import math
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence

import description
from metadata import run_summary
from provenance import data as data_lib
from provenance import evaluation as evaluation_lib
from provenance import lineage as lineage_lib
from metadata import store as mlmd
from metadata import values
from provenance import record

RENDER_ERROR_CLASS = 'render-error'
MAX_TABLE_ROWS = 200
MAX_EMBEDDED_BYTES = 512 * 1024


# --- the run -----------------------------------------------------------------
@dataclasses.dataclass
class Run:
  """What the sections get: the run's summary, its artifacts and the spec."""
  metadata_path: str
  summary: run_summary.RunSummary
  lineage: lineage_lib.Lineage
  artifacts: List[lineage_lib.ArtifactInfo]
  spec: Optional[description.DatasetSpec]
  trainer: Optional[lineage_lib.ExecutionInfo]

  def of_type(self, type_name: str, output_key: Optional[str] = None):
    return [a for a in self.artifacts if a.type == type_name and
            (output_key is None or a.output_key == output_key)]

  @property
  def spans(self) -> List[int]:
    return sorted({a.span for a in self.artifacts if a.span is not None})

  @functools.lru_cache(maxsize=None)
  def metric_rows(self, uri: str) -> List[evaluation_lib.MetricRow]:
    return evaluation_lib.load_rows(uri)

  @functools.lru_cache(maxsize=None)
  def confusion(self, uri: str):
    return evaluation_lib.load_confusion(uri)

  def positives(self, uri: str) -> Optional[Dict[Any, float]]:
    if self.rare_class_id is None:
      return None
    return evaluation_lib.class_counts(self.confusion(uri), self.rare_class_id)

  @property
  def rare_class_id(self) -> Optional[int]:
    return self.spec.rare_class_id if self.spec else None

  def __hash__(self):
    return id(self)


def load_run(metadata_path: str, pipeline_name: str, run_id: Optional[str] = None) -> Run:
  try:
    summary = run_summary.summarize(metadata_path, pipeline_name, run_id)
  except StopIteration:
    raise mlmd.ProvenanceError(f'no run {run_id!r} of {pipeline_name} in {metadata_path}')
  except LookupError as e:
    raise mlmd.ProvenanceError(str(e)) from e
  lin = lineage_lib.Lineage(mlmd.Store.open(metadata_path))
  executions = [c.execution_id for c in summary.components]
  lin.store.events_of_executions(executions)
  # The run's own artifacts: what its executions output (cached ones output
  # the artifacts they reuse), not what a Resolver merely handed on.
  ids = [e.artifact_id for x in executions for e in lin.store.outputs(x)]
  artifacts = lin.describe(ids)
  spec, trainer = None, None
  for execution in lin.store.executions(executions):
    info = lin.execution_info(execution)
    if record.is_trainer_type(info.type):
      trainer = info
    config = values.json_property(execution, 'custom_config')
    if spec is None and isinstance(config, dict) and 'description' in config:
      try:
        spec = description.DatasetSpec.from_config(config)
      except description.DatasetSpecError:
        pass
  return Run(metadata_path, summary, lin, artifacts, spec, trainer)


# --- sections ----------------------------------------------------------------
@dataclasses.dataclass
class Section:
  id: str
  title: str
  matches: Optional[Callable[[lineage_lib.ArtifactInfo], bool]]
  render: Callable[[Run, List[lineage_lib.ArtifactInfo]], Optional[str]]


SECTIONS: List[Section] = []


def of_type(*type_names: str, output_key: Optional[str] = None):
  def matches(artifact):
    return artifact.type in type_names and (output_key is None or artifact.output_key == output_key)
  return matches


def type_name_like(*patterns: str):
  """Matches artifact type names by regex: for components still being written."""
  compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
  return lambda artifact: any(p.search(artifact.type) for p in compiled)


def section(section_id: str, title: str, matches=None):
  """Registers a section; `matches=None` renders it for every run."""
  def register(render):
    SECTIONS.append(Section(section_id, title, matches, render))
    return render
  return register


# --- small HTML helpers ------------------------------------------------------
def _e(value: Any) -> str:
  return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3, percent: bool = False) -> str:
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


def _table(rows: Sequence[Dict[str, Any]], columns: Sequence[str],
           formats: Optional[Dict[str, Callable[[Any], str]]] = None,
           row_class: Optional[Callable[[Dict[str, Any]], str]] = None,
           headers: Optional[Dict[str, str]] = None, css: str = '') -> str:
  formats = formats or {}
  headers = headers or {}
  head = ''.join(f'<th>{_e(headers.get(c, c))}</th>' for c in columns)
  body = []
  for row in rows[:MAX_TABLE_ROWS]:
    cls = row_class(row) if row_class else ''
    cells = []
    for c in columns:
      value = row.get(c)
      text = formats[c](value) if c in formats else _e(_num(value))
      numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
      cells.append(f'<td class="{"num" if numeric else ""}">{text}</td>')
    body.append(f'<tr class="{cls}">{"".join(cells)}</tr>')
  more = (f'<p class="note">{len(rows) - MAX_TABLE_ROWS} more rows not shown.</p>'
          if len(rows) > MAX_TABLE_ROWS else '')
  return (f'<table class="{css}"><thead><tr>{head}</tr></thead>'
          f'<tbody>{"".join(body)}</tbody></table>{more}')


def _bar(value: Optional[float], scale: float = 1.0) -> str:
  if value is None or math.isnan(value):
    return '-'
  width = max(0.0, min(1.0, value / scale)) * 100
  return (f'<span class="bar"><span style="width:{width:.1f}%"></span></span>'
          f'<span class="barval">{value:.3f}</span>')


def _count(value: Any) -> str:
  return '-' if value is None else f'{int(value):,}'


def _kv(pairs: Sequence[Sequence[Any]]) -> str:
  rows = ''.join(f'<tr><th>{_e(k)}</th><td>{v}</td></tr>' for k, v in pairs)
  return f'<table class="kv">{rows}</table>'


def _badge(ok: Optional[bool], yes: str, no: str, unknown: str = 'n/a') -> str:
  if ok is None:
    return f'<span class="badge grey">{_e(unknown)}</span>'
  return f'<span class="badge {"green" if ok else "red"}">{_e(yes if ok else no)}</span>'


def _svg_bars(items: Sequence[Sequence[Any]], reference: Optional[float] = None,
              title: str = '', highlight: Sequence[str] = ()) -> str:
  """A horizontal bar chart (label, value in [0, 1]) as inline SVG."""
  items = [(str(k), v) for k, v in items if v is not None and not math.isnan(v)]
  if not items:
    return ''
  row, left, width = 18, 150, 260
  height = row * len(items) + 24
  parts = [f'<svg class="chart" width="{left + width + 60}" height="{height}" '
           f'role="img" aria-label="{_e(title)}">']
  parts.append(f'<text x="0" y="12" class="ct">{_e(title)}</text>')
  for i, (label, value) in enumerate(items):
    y = 20 + i * row
    w = max(0.0, min(1.0, value)) * width
    color = '#c0392b' if label in highlight else '#4a78b5'
    parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{_e(label[:24])}</text>')
    parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{color}"/>')
    parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{value:.3f}</text>')
  if reference is not None and not math.isnan(reference):
    x = left + max(0.0, min(1.0, reference)) * width
    parts.append(f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{height}" '
                 f'stroke="#333" stroke-dasharray="3,2"/>')
  parts.append('</svg>')
  return ''.join(parts)


# --- the sections, in page order ---------------------------------------------
@section('overview', 'Run')
def _overview(run: Run, _) -> str:
  s = run.summary
  trainer = run.trainer
  codes = sorted({run.lineage.execution_info(e).code_version or 'not recorded'
                  for e in run.lineage.store.executions(c.execution_id for c in s.components)
                  if values.EXECUTION_STATES.get(e.last_known_state) != 'CACHED'})
  pushed = s.pushed_destination
  pairs = [
      ('pipeline', _e(s.pipeline_name)), ('run', _e(s.run_id)),
      ('data spans', _e(', '.join(map(str, run.spans)) or '-')),
      ('code version', _e(', '.join(codes) or '(every component cached)')),
      ('hyperparameters', _e(json.dumps(trainer.hyperparameters, sort_keys=True))
       if trainer and trainer.hyperparameters else '-'),
      ('blessed', _badge(s.blessed, 'blessed', 'NOT blessed', 'not evaluated')),
      ('pushed', _e(pushed) if pushed else _badge(False, '', 'not pushed')),
      ('metadata store', _e(run.metadata_path)),
  ]
  rows = [{'component': c.node_id, 'state': c.state, 'seconds': c.seconds,
           'execution': c.execution_id} for c in s.components]
  return _kv(pairs) + '<h3>Components</h3>' + _table(
      rows, ['component', 'state', 'seconds', 'execution'],
      formats={'seconds': lambda v: _num(v, 1), 'execution': str},
      row_class=lambda r: 'bad' if r['state'] == 'FAILED' else '')


@section('statistics', 'Data statistics', of_type('ExampleStatistics', output_key='statistics'))
def _statistics(run: Run, artifacts) -> str:
  artifact = artifacts[-1]
  splits = data_lib.splits(artifact.uri)
  loaded = {s: data_lib.load_statistics(artifact.uri, s) for s in splits}
  counts = [{'split': s, 'examples': data_lib.num_examples(v)} for s, v in loaded.items()]
  first = splits[0]
  rows = data_lib.feature_rows(loaded[first])
  label = run.spec.label if run.spec else None
  used = set(run.spec.feature_names) if run.spec else set()
  for row in rows:
    row['role'] = ('label' if row['feature'] == label else 'input' if row['feature'] in used
                   else 'slice' if run.spec and row['feature'] in run.spec.slice_columns
                   else 'excluded')
  pct = lambda v: _e(_num(v, percent=True))  # pylint: disable=unnecessary-lambda-assignment
  return (f'<p>{_e(artifact.label)} (<code>{_e(artifact.uri)}</code>), '
          f'span {_e(_span_of(run, artifact))}.</p>' +
          _table(counts, ['split', 'examples']) +
          f'<h3>Features ({_e(first)} split)</h3>' +
          _table(rows, ['feature', 'role', 'type', 'missing', 'mean', 'std_dev', 'min',
                        'median', 'max', 'unique', 'top', 'top_share'],
                 formats={'missing': pct, 'top_share': pct,
                          'top': lambda v: _e(v if v is not None else '-')},
                 row_class=lambda r: 'warn' if (r.get('missing') or 0) > 0.05 else ''))


def _span_of(run: Run, statistics) -> str:
  span = data_lib.statistics_span(run.lineage, statistics)
  return '-' if span is None else str(span)


@section('anomalies', 'Anomalies', of_type('ExampleAnomalies', output_key='anomalies'))
def _anomalies(run: Run, artifacts) -> str:
  parts = []
  for artifact in artifacts:
    source = f'{artifact.producer.node_id if artifact.producer else "?"} ({artifact.label})'
    for split, directory in data_lib.split_dirs(artifact.uri):
      rows = data_lib.anomaly_rows(data_lib.load_anomalies(artifact.uri, split, directory))
      if not rows:
        parts.append(f'<p>{_badge(True, "no anomalies", "")} {_e(source)}, '
                     f'{_e(split)} split.</p>')
        continue
      parts.append(f'<h3>{_e(source)}, {_e(split)} split: {len(rows)} '
                   f'anomal{"y" if len(rows) == 1 else "ies"}</h3>')
      parts.append(_table(rows, ['feature', 'severity', 'anomaly', 'description'],
                          formats={k: _e for k in ('feature', 'severity', 'anomaly', 'description')},
                          row_class=lambda r: 'bad' if r['severity'] == 'ERROR' else 'warn'))
  return ''.join(parts)


def _pipeline_drift(run: Run) -> List[lineage_lib.ArtifactInfo]:
  """Anomalies the pipeline computed against a baseline (its own drift check)."""
  found = []
  for artifact in run.of_type('ExampleAnomalies'):
    producer = artifact.producer
    if producer and any(lineage_lib.is_reference(values.event_key(e))
                        for e in run.lineage.store.inputs(producer.id)):
      found.append(artifact)
  return found


@section('drift', 'Drift against the previous span',
         of_type('ExampleStatistics', output_key='statistics'))
def _drift(run: Run, artifacts) -> Optional[str]:
  """The pipeline's own drift numbers when it has a drift check, else TFDV's."""
  current = artifacts[-1]
  span = data_lib.statistics_span(run.lineage, current)
  watched = (set(run.spec.feature_names + [run.spec.label] + run.spec.slice_columns)
             if run.spec else None)
  own = _pipeline_drift(run)
  if own:
    rows, splits = [], []
    for artifact in own:
      for split, directory in data_lib.split_dirs(artifact.uri):
        rows += data_lib.drift_rows_of(data_lib.load_anomalies(artifact.uri, split, directory))
        splits.append(split)
    if not rows:
      return None  # a first span: the check had no baseline
    how = (f'As measured by the pipeline\'s own drift check '
           f'({_e(", ".join(sorted({a.producer.node_id for a in own})))}, '
           f'{_e("; ".join(splits))}) with its thresholds.')
  else:
    previous = data_lib.previous_span_statistics(run.lineage, span) if span is not None else None
    schemas = run.of_type('Schema', output_key='schema')
    if previous is None or not schemas:
      return None  # the first span has nothing to drift from
    split = ('train' if 'train' in data_lib.splits(current.uri)
             else data_lib.splits(current.uri)[0])
    rows = data_lib.drift_rows(data_lib.load_statistics(current.uri, split),
                               data_lib.load_statistics(previous.uri, split),
                               data_lib.load_schema(schemas[-1].uri))
    how = (f'Span {span} ({_e(current.label)}) against span '
           f'{data_lib.statistics_span(run.lineage, previous)} ({_e(previous.label)}), '
           f'{_e(split)} split, computed here with TFDV (the pipeline has no drift check).')
  for row in rows:
    row['watched'] = watched is None or row['feature'] in watched
  drifted = [r['feature'] for r in rows if r['drifted'] and r['watched']]
  verdict = (_badge(False, '', f'{len(drifted)} feature(s) drifted: {", ".join(drifted)}')
             if drifted else _badge(True, 'no drift above the thresholds', ''))
  return (f'<p>{how} L-infinity distance for categorical features, Jensen-Shannon '
          f'divergence for numeric ones. Rows in grey are neither model inputs, the label '
          f'nor slices (ids, dates): they are expected to change.</p><p>{verdict}</p>' +
          _table(rows, ['feature', 'measure', 'value', 'threshold', 'drifted'],
                 formats={'value': lambda v: _bar(v), 'drifted': lambda v: 'yes' if v else ''},
                 row_class=lambda r: ('muted' if not r['watched'] else
                                      'bad' if r['drifted'] else '')))


@section('data-gate', 'Data validation gate', of_type('DataValidationVerdict'))
def _data_gate(run: Run, artifacts) -> str:
  return ''.join(f'<p>{_e(a.label)} (<code>{_e(a.uri)}</code>)</p>' +
                 _artifact_files(a, prefer_html=True) for a in artifacts)


def _rows(run: Run, artifacts):
  return run.metric_rows(artifacts[-1].uri)


@section('evaluation', 'Evaluation: sliced metrics', of_type('ModelEvaluation'))
def _evaluation(run: Run, artifacts) -> str:
  rows = _rows(run, artifacts)
  rare = run.rare_class_id
  rare_name = run.spec.rare_class if run.spec else 'rare class'
  parts = [f'<p>{_e(artifacts[-1].label)} (<code>{_e(artifacts[-1].uri)}</code>). '
           f'Recall, precision and AUC are one-vs-rest for the rare class '
           f'<b>{_e(rare_name)}</b> (class id {_e(rare)}).</p>']
  comparison = evaluation_lib.baseline_comparison(rows, rare)
  if comparison:
    parts.append('<h3>Candidate against the baseline (last blessed model)</h3>')
    parts.append(_table(comparison, ['metric', 'candidate', 'baseline', 'diff'],
                        formats={'metric': _e},
                        row_class=lambda r: 'bad' if (r['diff'] or 0) < -0.01 else ''))
  columns = run.spec.slice_columns if run.spec else []
  table = evaluation_lib.sliced_table(rows, rare, columns,
                                      run.positives(artifacts[-1].uri))
  overall = table[0]['accuracy'] if table else None
  parts.append('<h3>Slices</h3>')
  parts.append(_table(
      table, ['slice', 'examples', 'positives', 'accuracy', 'recall', 'precision', 'auc'],
      formats={'slice': _e, 'accuracy': _bar, 'recall': _bar, 'examples': _count,
               'positives': _count},
      row_class=lambda r: ('overall' if r['slice'] == 'overall' else
                           'warn' if (overall is not None and r['accuracy'] is not None and
                                      r['accuracy'] < overall - 0.05) else ''),
      headers={'positives': f'{rare_name} examples', 'recall': f'recall ({rare_name})', 'precision': f'precision ({rare_name})',
               'auc': f'AUC ({rare_name})'}))
  parts.append('<p class="note">Amber: accuracy more than 5 points below overall. '
               f'"-": no {_e(rare_name)} example in the slice, so its recall and AUC '
               'are undefined.</p>')
  return ''.join(parts)


@section('fairness', 'Fairness gaps across protected attributes', of_type('ModelEvaluation'))
def _fairness(run: Run, artifacts) -> Optional[str]:
  if not run.spec or not run.spec.protected_attributes:
    return None
  rows = _rows(run, artifacts)
  rare = run.rare_class_id
  threshold = float(run.spec.evaluation.get('fairness_gap_threshold',
                                            evaluation_lib.DEFAULT_GAP_THRESHOLD))
  gaps = evaluation_lib.fairness_gaps(rows, run.spec.protected_attributes, rare, threshold,
                                      positives=run.positives(artifacts[-1].uri))
  flagged = [g for g in gaps if g.flagged]
  table = [dict(dataclasses.asdict(g), small=', '.join(g.slices_too_small)) for g in gaps]
  parts = [
      f'<p>Per protected attribute, the largest difference (max minus min) of a '
      f'metric across its slices, for the rare class <b>{_e(run.spec.rare_class)}</b> '
      f'(accuracy: all classes). Gaps above <b>{threshold:.2f}</b> are highlighted. '
      f'Left out (and listed): slices with fewer than {evaluation_lib.MIN_SLICE_EXAMPLES} '
      f'examples, and for recall and false negative rates, slices with fewer than '
      f'{evaluation_lib.MIN_CLASS_EXAMPLES} {_e(run.spec.rare_class)} examples: their '
      f'rates swing by chance.</p>',
      f'<p>{_badge(not flagged, "no gap above the threshold", f"{len(flagged)} gap(s) above {threshold:.2f}")}</p>',
      _table(table, ['attribute', 'metric', 'gap', 'worst', 'worst_value', 'best',
                     'best_value', 'slices_used', 'small'],
             formats={'attribute': _e, 'metric': _e, 'worst': _e, 'best': _e,
                      'small': _e, 'slices_used': str},
             headers={'small': 'left out (small)', 'slices_used': 'slices'},
             row_class=lambda r: 'bad' if r['flagged'] else ''),
  ]
  own = evaluation_lib.candidate(rows)
  overall_recall = evaluation_lib.value(own, 'recall', class_id=rare)
  charts = []
  for attribute in run.spec.protected_attributes:
    items = [(evaluation_lib.slice_label(s).split('=', 1)[1],
              evaluation_lib.value(own, 'recall', s, class_id=rare))
             for s in evaluation_lib.slices_of(own, attribute)]
    worst = [g.worst.split('=', 1)[1] for g in flagged
             if g.attribute == attribute and g.metric == 'recall']
    charts.append(_svg_bars(items, overall_recall,
                            f'{attribute}: recall of {run.spec.rare_class} (dashed: overall)',
                            highlight=worst))
  parts.append('<div class="charts">' + ''.join(charts) + '</div>')
  return ''.join(parts)


@section('per-class', 'Per-class metrics (overall)', of_type('ModelEvaluation'))
def _per_class(run: Run, artifacts) -> Optional[str]:
  if not run.spec:
    return None
  table = evaluation_lib.per_class(_rows(run, artifacts), run.spec.classes)
  rare = run.rare_class_id
  confusion = run.confusion(artifacts[-1].uri).get(evaluation_lib.OVERALL, {})
  for row in table:
    row['examples'] = sum(n for (a, _), n in confusion.items() if a == row['class_id'])
  parts = [_table(table, ['class', 'class_id', 'examples', 'precision', 'recall', 'f1_score',
                          'auc', 'calibration'],
                  formats={'class': _e, 'class_id': str, 'recall': _bar, 'examples': _count},
                  row_class=lambda r: 'rare' if r['class_id'] == rare else ''),
           '<p class="note">One-vs-rest per class. Calibration is mean prediction over '
           'mean label (1 is calibrated).</p>']
  if confusion:
    classes = run.spec.classes
    matrix = []
    for a, actual in enumerate(classes):
      row = {'actual': actual}
      for p, predicted in enumerate(classes):
        row[predicted] = confusion.get((a, p), 0.0)
      matrix.append(row)
    parts.append('<h3>Confusion matrix (rows: actual, columns: predicted, argmax)</h3>' +
                 _table(matrix, ['actual'] + list(classes),
                        formats=dict({'actual': _e}, **{c: _count for c in classes})))
  return ''.join(parts)


@section('blessing', 'Blessing', of_type('ModelBlessing'))
def _blessing(run: Run, artifacts) -> str:
  blessing = artifacts[-1]
  blessed = bool(blessing.properties.get('blessed'))
  parts = [f'<p>{_badge(blessed, "BLESSED", "NOT BLESSED")} {_e(blessing.label)} for '
           f'Model {_e(blessing.properties.get("current_model_id", "?"))}'
           + (f', baseline Model {_e(blessing.properties["baseline_model_id"])}'
              if blessing.properties.get('baseline_model_id') else ', no baseline yet')
           + '.</p>']
  evaluations = run.of_type('ModelEvaluation')
  if evaluations:
    import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
    try:
      result = tfma.load_validation_result(evaluations[-1].uri)
    except Exception:  # pylint: disable=broad-except
      result = None
    failures = []
    if result is not None:
      for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
          failures.append({'slice': evaluation_lib.slice_label(
              evaluation_lib._slice_of(per_slice.slice_key)),  # pylint: disable=protected-access
                           'metric': failure.metric_key.name,
                           'class_id': (failure.metric_key.sub_key.class_id.value
                                        if failure.metric_key.sub_key.HasField('class_id') else None),
                           'value': failure.metric_value.double_value.value,
                           'message': failure.message})
    if failures:
      parts.append('<h3>Failed thresholds</h3>' + _table(
          failures, ['slice', 'metric', 'class_id', 'value', 'message'],
          formats={'slice': _e, 'metric': _e, 'message': _e,
                   'class_id': lambda v: '-' if v is None else str(v)},
          row_class=lambda r: 'bad'))
    elif result is not None:
      parts.append('<p>Every threshold of the EvalConfig passed.</p>')
  return ''.join(parts)


def _artifact_files(artifact, prefer_html: bool = False) -> str:
  """What a component wrote, shown whatever it is: JSON and CSV as tables,
  PNG inline, HTML in a sandboxed frame (a full page of its own, with its own
  styles) when it is the only rendering or `prefer_html` asks for it."""
  parts = []
  props = {k: v for k, v in artifact.properties.items() if not isinstance(v, (dict, list))}
  if props:
    parts.append(_kv([(k, _e(_num(v))) for k, v in sorted(props.items())]))
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
        parts.append(f'<h3>{_e(os.path.relpath(path, artifact.uri))}</h3>'
                     f'<iframe class="embedded" sandbox="" srcdoc="{_e(f.read())}"></iframe>')
    return ''.join(parts)
  for path in tables:
    rel = _e(os.path.relpath(path, artifact.uri))
    if path.endswith('.json'):
      with open(path) as f:
        parts.append(f'<h3>{rel}</h3>' + _json_block(json.load(f)))
    else:
      import pandas as pd  # pylint: disable=g-import-not-at-top
      frame = pd.read_csv(path)
      parts.append(f'<h3>{rel}</h3>' + _table(
          frame.to_dict('records'), list(frame.columns),
          formats={c: _e for c in frame.columns if frame[c].dtype == object}))
  for path in by_ext.get('.png', []):
    with open(path, 'rb') as f:
      encoded = base64.b64encode(f.read()).decode('ascii')
    parts.append(f'<p><img alt="{_e(os.path.basename(path))}" class="figure" '
                 f'src="data:image/png;base64,{encoded}"></p>')
  return ''.join(parts) or '<p class="note">The artifact holds no file to show.</p>'


def _json_block(value) -> str:
  if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
    columns = list(dict.fromkeys(k for v in value for k in v))
    return _table(value, columns, formats={
        c: (lambda v: _e(_num(v))) for c in columns})
  if isinstance(value, dict):
    simple = [(k, _e(_num(v))) for k, v in value.items() if not isinstance(v, (dict, list))]
    nested = ''.join(f'<h4>{_e(k)}</h4>{_json_block(v)}' for k, v in value.items()
                     if isinstance(v, (dict, list)))
    return (_kv(simple) if simple else '') + nested
  return f'<pre>{_e(json.dumps(value, indent=1))}</pre>'


@section('hlp', 'Human-level performance', type_name_like(r'HumanLevel', r'^HLP'))
def _hlp(run: Run, artifacts) -> str:
  parts = []
  for a in artifacts:
    parts.append(f'<p>{_e(a.label)} (<code>{_e(a.uri)}</code>)</p>')
    try:
      # The component's own tables, made for embedding in a larger report.
      from analysis import hlp_report  # pylint: disable=g-import-not-at-top
      parts.append(hlp_report.render_html_fragment(hlp_report.read_report(a.uri)))
    except (ImportError, FileNotFoundError, KeyError, AttributeError):
      parts.append(_artifact_files(a))
  return ''.join(parts)


@section('rollout', 'Rollout', type_name_like(r'Rollout', r'Canary'))
def _rollout(run: Run, artifacts) -> str:
  return ''.join(f'<p>{_e(a.label)} (<code>{_e(a.uri)}</code>)</p>' + _artifact_files(a)
                 for a in artifacts)


@section('lineage', 'Lineage of the model', of_type('Model', output_key='model'))
def _lineage(run: Run, artifacts) -> str:
  m = run.lineage.model_lineage(str(artifacts[-1].id))
  parts = [_kv([
      ('model', _e(f'{m.model.label}: {m.model.uri}')),
      ('trained by', _e(f'{m.trainer.node_id} execution {m.trainer.id}, '
                        f'code {m.trainer.code_version or "not recorded"}')
       if m.trainer else '-'),
      ('code commit', _e(m.trainer.code_commit or 'not recorded') if m.trainer else '-'),
  ])]
  files = []
  for d in m.data:
    for f in d.files or [lineage_lib.DataFile('(no file found)', None, None, None)]:
      files.append({'span': d.span, 'examples': d.examples.id, 'input_base': d.input_base,
                    'file': f.path, 'bytes': f.bytes,
                    'sha256': (f.sha256_recorded or f.sha256_now or '-')[:16],
                    'file status': f.status,
                    'fingerprint': {True: 'matches', False: 'CHANGED', None: '-'}[
                        d.fingerprint_matches]})
  parts.append('<h3>Data</h3>' + _table(
      files, ['span', 'examples', 'input_base', 'file', 'bytes', 'sha256', 'file status',
              'fingerprint'],
      formats={'span': str, 'examples': str, 'input_base': _e, 'file': _e, 'sha256': _e,
               'file status': _e, 'fingerprint': _e},
      row_class=lambda r: 'bad' if 'CHANGED' in (r['file status'], r['fingerprint']) else ''))
  upstream = [{'artifact': a.label, 'from': f'{a.producer.node_id}#{a.producer.id}'
               if a.producer else 'external', 'uri': a.uri} for a in m.upstream]
  parts.append('<h3>Built from</h3>' + _table(upstream, ['artifact', 'from', 'uri'],
                                               formats={c: _e for c in ('artifact', 'from', 'uri')}))
  parts.append('<p class="note">Everything built from a span: '
               '<code>python -m cli.provenance blast-radius --span N</code>.</p>')
  return ''.join(parts)


@section('artifacts', 'Artifacts of this run')
def _artifacts(run: Run, _) -> str:
  rows = [{'id': a.id, 'type': a.type, 'output': a.output_key,
           'producer': f'{a.producer.node_id}#{a.producer.id}' if a.producer else '-',
           'uri': a.uri} for a in run.artifacts]
  return _table(rows, ['id', 'type', 'output', 'producer', 'uri'],
                formats={'id': str, 'type': _e, 'output': _e, 'producer': _e, 'uri': _e})


# --- the page ----------------------------------------------------------------
CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}
header{background:#1f3a5f;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav{background:#fff;padding:8px 28px;border-bottom:1px solid #dde}
nav a{margin-right:14px;color:#1f3a5f;text-decoration:none;font-weight:600}
main{padding:8px 28px 40px}section{background:#fff;border:1px solid #dde;border-radius:6px;margin:16px 0;padding:4px 18px 14px}
h2{font-size:18px;color:#1f3a5f;border-bottom:2px solid #e4e8f0;padding-bottom:6px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}th,td{border:1px solid #e1e4ea;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#eef1f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{background:#f6f7f9;width:160px}tr.bad td{background:#fde2e0}tr.warn td{background:#fff4d6}
tr.muted td{color:#99a}tr.overall td{font-weight:600}tr.rare td{background:#eef6ff}
.badge{display:inline-block;padding:2px 9px;border-radius:10px;font-weight:600;color:#fff}
.badge.green{background:#2e8b57}.badge.red{background:#c0392b}.badge.grey{background:#8a93a3}
.bar{display:inline-block;width:70px;height:9px;background:#e8ebf0;margin-right:6px;vertical-align:middle}
.bar span{display:block;height:9px;background:#4a78b5}.note{color:#667;font-size:12px}
.charts svg{margin:6px 18px 6px 0;font-size:11px}.ct{font-weight:600}
iframe.embedded{width:100%;height:560px;border:1px solid #dde}img.figure{max-width:100%}
.render-error{background:#fde2e0;border:1px solid #c0392b;padding:8px}code{font-size:12px}
"""


def render(run: Run) -> str:
  body, nav = [], []
  for s in SECTIONS:
    artifacts = [a for a in run.artifacts if s.matches(a)] if s.matches else []
    if s.matches and not artifacts:
      continue
    try:
      fragment = s.render(run, artifacts)
    except Exception as e:  # pylint: disable=broad-except
      fragment = (f'<div class="{RENDER_ERROR_CLASS}">This section could not be '
                  f'rendered: {_e(type(e).__name__)}: {_e(e)}</div>')
    if fragment is None:
      continue
    nav.append(f'<a href="#{s.id}">{_e(s.title.split(":")[0])}</a>')
    body.append(f'<section id="{s.id}"><h2>{_e(s.title)}</h2>{fragment}</section>')
  s = run.summary
  generated = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
  return (
      '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
      f'<title>{_e(s.pipeline_name)} run {_e(s.run_id)}</title><style>{CSS}</style></head>'
      f'<body><header><h1>{_e(s.pipeline_name)}: run {_e(s.run_id)}</h1>'
      f'<p>Spans {_e(", ".join(map(str, run.spans)) or "-")} · '
      f'{"blessed" if s.blessed else "not blessed" if s.blessed is not None else "not evaluated"}'
      f' · {"pushed" if s.pushed_destination else "not pushed"} · report generated {generated} '
      f'from ML Metadata</p></header><nav>{"".join(nav)}</nav><main>{"".join(body)}</main>'
      '</body></html>')


def default_path(metadata_path: str, run_id: str) -> str:
  safe = re.sub(r'[^A-Za-z0-9_.-]+', '-', run_id).strip('-')
  return os.path.join(os.path.dirname(os.path.abspath(metadata_path)), 'reports',
                      f'run-{safe}.html')


def write_report(metadata_path: str, pipeline_name: str, run_id: Optional[str] = None,
                 out: Optional[str] = None) -> str:
  """Renders the run (default: the latest) to `out` and returns the path."""
  run = load_run(metadata_path, pipeline_name, run_id)
  page = render(run)
  path = os.path.abspath(out or default_path(metadata_path, run.summary.run_id))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(page)
  os.replace(tmp, path)
  return path

