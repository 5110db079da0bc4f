"""Delayed labels joined to the request log: live quality per served version.

    python -m cli.labels --description data/descriptions/credit_risk.yaml \
        --request-log work/credit_risk/request_log --labels labels/2026-03.csv \
        [--since 2026-03-01 --until 2026-04-01] [--textfile live.prom] \
        [--out live_quality/] [--work-dir work | --metadata store.sqlite]

Prints, per version, accuracy and the rare class's recall with 95% Wilson
intervals and the labelled count, every slice that has labels, and what was
skipped and why. Writes the figures as JSON (--out), as Prometheus metrics
(--textfile) and, when a metadata store is found, as a LiveQuality artifact
linked to the PushedModel of that version. Exit 0 with figures, 1 when
nothing could be joined (an empty period, or no label matched), 2 on unusable
input.
"""

import argparse
import json
import os
import sys
from typing import List, Optional, Sequence

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import description
from cli import common
from feedback import export
from feedback import join as join_lib
from feedback import labels as labels_lib
from feedback import period
from feedback import quality
from feedback import record
from feedback.skipped import Skipped
from metadata import store as mlmd_store
from provenance import evaluation


def _fmt(p: quality.Proportion) -> str:
  if p.value is None:
    return 'n/a (no labels)'
  return f'{p.value:.3f} [{p.low:.3f}, {p.high:.3f}] of {p.n}'


def report_lines(spec: description.DatasetSpec,
                 results: Sequence[quality.VersionQuality]) -> List[str]:
  lines = []
  for r in results:
    lines.append(f'version {r.version}: {r.overall.n} labelled, '
                 f'{r.awaiting_labels} awaiting labels')
    lines.append(f'  accuracy              {_fmt(r.overall.accuracy)}')
    for c in spec.classes:
      rare = ' (rare)' if c == spec.rare_class else ''
      lines.append(f'  recall {c + rare:<15}{_fmt(r.overall.recall[c])}  '
                   f'precision {_fmt(r.overall.precision[c])}')
    if r.deferred_any:  # partial automation: the model's cases and the people's
      lines.append(f'  deferred to a person {_fmt(r.deferral)} (of the logged cases)')
      for decision, name in (('decided', 'automated'), ('deferred', 'deferred')):
        q = r.by_decision.get(decision)
        lines.append(f'  {name:<10} accuracy   {_fmt(q.accuracy) if q else "n/a (none)"}')
    for (column, value), q in r.slices.items():
      rare = (f', {spec.rare_class} recall {_fmt(q.recall[spec.rare_class])}'
              if spec.rare_class else '')
      split = ''
      if r.deferred_any:
        split = f', deferral rate {_fmt(r.slice_deferral[(column, value)])}' + ''.join(
            f', {name} {_fmt(r.slices_by_decision[(column, value, d)].accuracy)}'
            for d, name in (('decided', 'automated'), ('deferred', 'deferred'))
            if (column, value, d) in r.slices_by_decision)
      lines.append(f'  {column}={value}: accuracy {_fmt(q.accuracy)}{rare}{split}')
  return lines


def figures_of(spec, r: quality.VersionQuality) -> dict:
  figures = {'labelled_examples': r.overall.n, 'awaiting_labels': r.awaiting_labels}
  if r.overall.accuracy.value is not None:
    figures['accuracy'] = r.overall.accuracy.value
  if spec.rare_class and r.overall.recall[spec.rare_class].value is not None:
    figures['rare_class_recall'] = r.overall.recall[spec.rare_class].value
  return figures


def _first_input(store: mlmd_store.Store, execution_id: int, type_name: str):
  ids = [e.artifact_id for e in store.inputs(execution_id)]
  return next((a for a in store.artifacts(ids) if store.type_of(a) == type_name), None)


def offline_figures(metadata_path: str, version: str, spec) -> dict:
  """The offline evaluation that blessed the push of `version`: PushedModel ->
  Pusher -> its ModelBlessing -> the Evaluator -> its ModelEvaluation."""
  store = mlmd_store.Store.open(metadata_path)
  pushed = record.pushed_models_of_version(store.store, version)
  pusher = store.producer(pushed[0].id) if pushed else None
  blessing = _first_input(store, pusher.id, 'ModelBlessing') if pusher else None
  evaluator = store.producer(blessing.id) if blessing else None
  if evaluator is None:
    return {}
  outputs = store.artifacts(e.artifact_id for e in store.outputs(evaluator.id))
  found = [a for a in outputs if store.type_of(a) == 'ModelEvaluation']
  if not found:
    return {}
  try:
    rows = evaluation.load_rows(found[0].uri)
  except FileNotFoundError:
    return {}  # The evaluation was moved or deleted: no offline figures.
  metrics = evaluation.key_metrics(rows, spec.rare_class_id, 'rare')
  return {k: v for k, v in (('accuracy', metrics.get('accuracy')),
                            ('rare_class_recall', metrics.get('rare_recall')),
                            ('examples', metrics.get('examples')))
          if v is not None}


def _metadata_path(args) -> Optional[str]:
  try:
    path = common.resolve(args).metadata_path
  except (common.LocationError, mlmd_store.ProvenanceError):
    return None
  return path if os.path.exists(path) else None


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m cli.labels', description=__doc__.split('\n')[0])
  parser.add_argument('--description', required=True)
  parser.add_argument('--request-log', required=True, help='the server\'s --request-log-dir')
  parser.add_argument('--labels', nargs='+', required=True, help='labels CSV file(s)')
  parser.add_argument('--model', help='model name in the log (default: the description\'s name)')
  parser.add_argument('--since')
  parser.add_argument('--until')
  parser.add_argument('--textfile', help='Prometheus textfile to write')
  parser.add_argument('--out', help='directory for live_quality-<version>.json')
  common.add_location_arguments(parser)
  args = parser.parse_args(argv)
  try:
    spec = description.load(args.description)
    since = period.parse_time(args.since, '--since')
    until = period.parse_time(args.until, '--until')
    label_set = labels_lib.read_labels(args.labels, spec)
  except (description.DatasetSpecError, labels_lib.LabelsError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  model = args.model or spec.name
  joined = join_lib.join(args.request_log, label_set, spec, model, since, until)
  skipped = Skipped()
  skipped.merge(label_set.skipped)
  skipped.merge(joined.skipped)
  print(f'{model}, period {period.describe(since, until)}: {joined.records} logged '
        f'record(s), {label_set.rows} label row(s) in {len(args.labels)} file(s), '
        f'{len(joined.labelled)} labelled prediction(s)')
  for line in skipped.lines():
    print(f'  skipped: {line}')
  if not joined.records:
    print(f'nothing logged for {model} in {period.describe(since, until)} under '
          f'{args.request_log}', file=sys.stderr)
    return 1
  results = quality.by_version(joined.predictions, spec.classes, spec.slice_columns)
  print('\n'.join(report_lines(spec, results)))
  metadata_path = _metadata_path(args)
  offline = ({r.version: offline_figures(metadata_path, r.version, spec) for r in results}
             if metadata_path else {})
  for version, figures in offline.items():
    if figures:
      print(f'version {version} offline: ' + ', '.join(
          f'{k} {v:.3f}' for k, v in sorted(figures.items()) if k != 'examples')
            + (f' on {figures["examples"]:.0f} eval examples' if 'examples' in figures else ''))
  if args.textfile:
    export.write_textfile(args.textfile, export.registry_for(spec, model, results,
                                                             offline=offline))
    print(f'Prometheus metrics: {args.textfile}')
  _write_and_record(args, metadata_path, spec, model, results, skipped, since, until)
  return 0 if joined.labelled else 1


def _write_and_record(args, metadata_path, spec, model, results, skipped, since,
                      until) -> None:
  out_dir = args.out
  if not out_dir:
    return
  os.makedirs(out_dir, exist_ok=True)
  for r in results:
    path = os.path.abspath(os.path.join(out_dir, f'live_quality-{r.version}.json'))
    with open(path, 'w') as f:
      json.dump({'model': model, 'version': r.version, 'since': since, 'until': until,
                 'overall': r.overall.to_dict(), 'awaiting_labels': r.awaiting_labels,
                 'slices': [{'column': c, 'value': v, **q.to_dict()}
                            for (c, v), q in r.slices.items()],
                 'by_decision': {d: q.to_dict() for d, q in r.by_decision.items()},
                 'deferral': r.deferral.to_dict() if r.deferral else None,
                 'slices_by_decision': [
                     {'column': c, 'value': v, 'decision': d, **q.to_dict()}
                     for (c, v, d), q in r.slices_by_decision.items()],
                 'skipped': skipped.to_dict()}, f, indent=1)
    if metadata_path:
      done = record.record(metadata_path, model, r.version, path, figures_of(spec, r))
      link = (f'linked to PushedModel {done.pushed_model_id}' if done.pushed_model_id
              else 'no PushedModel of this version in the store: not linked')
      print(f'version {r.version}: {path}; ML Metadata artifact {done.artifact_id}, {link}')
    else:
      print(f'version {r.version}: {path} (no metadata store found: not recorded)')


if __name__ == '__main__':
  sys.exit(main())
