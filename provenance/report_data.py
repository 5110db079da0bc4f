"""Run report sections about the run and its data: overview, statistics, anomalies, drift, gate."""

import json
from typing import List, Optional

import reports
from metadata import values
from provenance import data as data_lib
from provenance import lineage as lineage_lib
from provenance import nodes
from provenance import views
from provenance.report_run import Run, of_type, section
from metadata import type_names


@section('overview', 'Run')
def _overview(run: Run, _) -> str:
  s = run.summary
  trainer = run.trainer
  codes = sorted({run.lineage.execution_info(e).code_version or 'not recorded'
                  for e in run.lineage.store.executions(c.execution_id for c in s.components)
                  if values.EXECUTION_STATES.get(e.last_known_state) != 'CACHED'})
  rows = [{'component': c.node_id, 'state': c.state, 'seconds': c.seconds,
           'execution': c.execution_id} for c in s.components]
  return reports.render(
      'run_overview.html.j2', pipeline=s.pipeline_name, run_id=s.run_id,
      spans=', '.join(map(str, run.spans)) or '-',
      codes=', '.join(codes) or '(every component cached)',
      hyperparameters=(json.dumps(trainer.hyperparameters, sort_keys=True)
                       if trainer and trainer.hyperparameters else '-'),
      blessed=s.blessed, pushed=s.pushed_destination, metadata_path=run.metadata_path,
      components=views.table(rows, ['component', 'state', 'seconds', 'execution'],
                             kinds={'seconds': 'one', 'execution': 'text'},
                             row_class=lambda r: 'bad' if r['state'] == 'FAILED' else ''))


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
  return reports.render(
      'run_statistics.html.j2', label=artifact.label, uri=artifact.uri,
      span=_span_of(run, artifact), split=first,
      counts=views.table(counts, ['split', 'examples']),
      features=views.table(
          rows, ['feature', 'role', 'type', 'missing', 'mean', 'std_dev', 'min',
                 'median', 'max', 'unique', 'top', 'top_share'],
          kinds={'missing': 'pct', 'top_share': 'pct', 'top': 'dash'},
          row_class=lambda r: 'warn' if (r.get('missing') or 0) > 0.05 else ''))


def _span_of(run: Run, statistics) -> str:
  span = data_lib.statistics_span(run.lineage, statistics)
  return '-' if span is None else str(span)


@section('anomalies', 'Anomalies', of_type('ExampleAnomalies', output_key='anomalies'))
def _anomalies(run: Run, artifacts) -> str:
  found = []
  for artifact in artifacts:
    source = f'{artifact.producer.node_id if artifact.producer else "?"} ({artifact.label})'
    for split, directory in data_lib.split_dirs(artifact.uri):
      rows = data_lib.anomaly_rows(data_lib.load_anomalies(artifact.uri, split, directory))
      found.append({'source': source, 'split': split, 'count': len(rows),
                    'table': views.table(
                        rows, ['feature', 'severity', 'anomaly', 'description'],
                        row_class=lambda r: 'bad' if r['severity'] == 'ERROR' else 'warn')})
  return reports.render('run_anomalies.html.j2', anomalies=found)


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
    how = {'own': True, 'checks': ', '.join(sorted({a.producer.node_id for a in own})),
           'splits': '; '.join(splits)}
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
    how = {'own': False, 'span': span, 'current': current.label, 'split': split,
           'previous_span': data_lib.statistics_span(run.lineage, previous),
           'previous': previous.label}
  for row in rows:
    row['watched'] = watched is None or row['feature'] in watched
  return reports.render(
      'run_drift.html.j2', **how,
      drifted=[r['feature'] for r in rows if r['drifted'] and r['watched']],
      table=views.table(rows, ['feature', 'measure', 'value', 'threshold', 'drifted'],
                        kinds={'value': 'bar', 'drifted': 'yes'},
                        row_class=lambda r: ('muted' if not r['watched'] else
                                             'bad' if r['drifted'] else '')))


@section('data-gate', 'Data validation gate', of_type(type_names.DATA_VALIDATION_VERDICT))
def _data_gate(run: Run, artifacts) -> str:
  return reports.render('run_files.html.j2',
                        artifacts=[views.artifact(a, prefer_html=True) for a in artifacts])
