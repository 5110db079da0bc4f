"""Run report sections about the run and its data: overview, statistics, anomalies, drift, gate."""

import json
from typing import List, Optional

from metadata import values
from provenance import data as data_lib
from provenance import fragments
from provenance import lineage as lineage_lib
from provenance import nodes
from provenance.report_run import Run, of_type, section
from metadata import type_names


@section('overview', 'Run')
def _overview(run: Run, _) -> str:
  s = run.summary
  trainer = run.trainer
  codes = sorted({run.lineage.execution_info(e).code_version or 'not recorded'
                  for e in run.lineage.store.executions(c.execution_id for c in s.components)
                  if values.EXECUTION_STATES.get(e.last_known_state) != 'CACHED'})
  pushed = s.pushed_destination
  pairs = [
      ('pipeline', fragments.esc(s.pipeline_name)), ('run', fragments.esc(s.run_id)),
      ('data spans', fragments.esc(', '.join(map(str, run.spans)) or '-')),
      ('code version', fragments.esc(', '.join(codes) or '(every component cached)')),
      ('hyperparameters', fragments.esc(json.dumps(trainer.hyperparameters, sort_keys=True))
       if trainer and trainer.hyperparameters else '-'),
      ('blessed', fragments.badge(s.blessed, 'blessed', 'NOT blessed', 'not evaluated')),
      ('pushed', fragments.esc(pushed) if pushed else fragments.badge(False, '', 'not pushed')),
      ('metadata store', fragments.esc(run.metadata_path)),
  ]
  rows = [{'component': c.node_id, 'state': c.state, 'seconds': c.seconds,
           'execution': c.execution_id} for c in s.components]
  return fragments.kv(pairs) + '<h3>Components</h3>' + fragments.table(
      rows, ['component', 'state', 'seconds', 'execution'],
      formats={'seconds': lambda v: fragments.num(v, 1), 'execution': str},
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
  pct = lambda v: fragments.esc(fragments.num(v, percent=True))  # pylint: disable=unnecessary-lambda-assignment
  return (f'<p>{fragments.esc(artifact.label)} (<code>{fragments.esc(artifact.uri)}</code>), '
          f'span {fragments.esc(_span_of(run, artifact))}.</p>' +
          fragments.table(counts, ['split', 'examples']) +
          f'<h3>Features ({fragments.esc(first)} split)</h3>' +
          fragments.table(rows, ['feature', 'role', 'type', 'missing', 'mean', 'std_dev', 'min',
                        'median', 'max', 'unique', 'top', 'top_share'],
                 formats={'missing': pct, 'top_share': pct,
                          'top': lambda v: fragments.esc(v if v is not None else '-')},
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
        parts.append(f'<p>{fragments.badge(True, "no anomalies", "")} {fragments.esc(source)}, '
                     f'{fragments.esc(split)} split.</p>')
        continue
      parts.append(f'<h3>{fragments.esc(source)}, {fragments.esc(split)} split: {len(rows)} '
                   f'anomal{"y" if len(rows) == 1 else "ies"}</h3>')
      parts.append(fragments.table(rows, ['feature', 'severity', 'anomaly', 'description'],
                          formats={k: fragments.esc for k in ('feature', 'severity', 'anomaly', 'description')},
                          row_class=lambda r: 'bad' if r['severity'] == 'ERROR' else 'warn'))
  return ''.join(parts)


def _pipeline_drift(run: Run) -> List[nodes.ArtifactInfo]:
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
           f'({fragments.esc(", ".join(sorted({a.producer.node_id for a in own})))}, '
           f'{fragments.esc("; ".join(splits))}) with its thresholds.')
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
    how = (f'Span {span} ({fragments.esc(current.label)}) against span '
           f'{data_lib.statistics_span(run.lineage, previous)} ({fragments.esc(previous.label)}), '
           f'{fragments.esc(split)} split, computed here with TFDV (the pipeline has no drift check).')
  for row in rows:
    row['watched'] = watched is None or row['feature'] in watched
  drifted = [r['feature'] for r in rows if r['drifted'] and r['watched']]
  verdict = (fragments.badge(False, '', f'{len(drifted)} feature(s) drifted: {", ".join(drifted)}')
             if drifted else fragments.badge(True, 'no drift above the thresholds', ''))
  return (f'<p>{how} L-infinity distance for categorical features, Jensen-Shannon '
          f'divergence for numeric ones. Rows in grey are neither model inputs, the label '
          f'nor slices (ids, dates): they are expected to change.</p><p>{verdict}</p>' +
          fragments.table(rows, ['feature', 'measure', 'value', 'threshold', 'drifted'],
                 formats={'value': lambda v: fragments.bar(v), 'drifted': lambda v: 'yes' if v else ''},
                 row_class=lambda r: ('muted' if not r['watched'] else
                                      'bad' if r['drifted'] else '')))


@section('data-gate', 'Data validation gate', of_type(type_names.DATA_VALIDATION_VERDICT))
def _data_gate(run: Run, artifacts) -> str:
  return ''.join(f'<p>{fragments.esc(a.label)} (<code>{fragments.esc(a.uri)}</code>)</p>' +
                 fragments.artifact_files(a, prefer_html=True) for a in artifacts)
