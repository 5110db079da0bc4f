"""python -m cli.provenance: lineage and experiment questions answered from MLMD.

  python -m cli.provenance model [latest|pushed|ID]      everything a model was built from
  python -m cli.provenance blast-radius --span N         everything built from a span
  python -m cli.provenance blast-radius --file PATH      ... from one input file
  python -m cli.provenance blast-radius --artifact ID    ... from any artifact
  python -m cli.provenance runs                          the experiment table
  python -m cli.provenance report [--run RUN] [--out F]  the HTML report of a run

The store is --metadata PATH, else <--work-dir>/<pipeline>/metadata.sqlite, the
pipeline found as every command finds it (cli/common.py: the only one there
unless --pipeline-name says). --json
prints machine-readable output. Exit status 3 when the question has no answer
(unknown id, empty store), with the reason on stderr.
"""

import argparse
import datetime
import json
import logging
import os
import sys
import warnings
from typing import List

from cli import common
from provenance import experiments
from provenance import lineage as lineage_lib
from rollout import signoff_record
from metadata import store as mlmd
from metadata import type_names


def parse_args(argv=None):
  shared = common.add_location_arguments(argparse.ArgumentParser(add_help=False))
  shared.add_argument('--json', action='store_true', help='print JSON')

  parser = argparse.ArgumentParser(
      prog='python -m cli.provenance', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest='command', required=True)
  model = sub.add_parser('model', parents=[shared],
                         help='everything upstream of a model, and its evaluation')
  model.add_argument('model', nargs='?', default='pushed',
                     help='artifact id, "latest" or "pushed" (default: %(default)s)')
  blast = sub.add_parser('blast-radius', parents=[shared],
                         help='everything downstream of a span, a file or an artifact')
  what = blast.add_mutually_exclusive_group(required=True)
  what.add_argument('--span', type=int, help='a data span number')
  what.add_argument('--file', help='an input file an ExampleGen read')
  what.add_argument('--artifact', type=int, help='an artifact id')
  sub.add_parser('runs', parents=[shared], help='one row per pipeline run')
  report = sub.add_parser('report', parents=[shared], help='write the HTML run report')
  report.add_argument('--run', help='pipeline run id (default: the latest)')
  report.add_argument('--out', help='output file (default: <work>/<name>/reports/)')
  return parser.parse_args(argv)


def _quiet_tensorflow() -> None:
  # `runs` (for unannotated runs) and `report` load TFMA/TFDV: keep their
  # start-up chatter off the terminal; real errors still raise.
  os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  warnings.filterwarnings('ignore', category=FutureWarning)
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  logging.getLogger('tensorflow').setLevel(logging.ERROR)
  try:
    from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
    absl_logging.set_verbosity(absl_logging.ERROR)
  except ImportError:
    pass


def main(argv=None) -> int:
  args = parse_args(argv)
  if args.command in ('runs', 'report'):
    _quiet_tensorflow()
  try:
    # Lineage spans the whole store: with --metadata there is no pipeline to choose.
    if not (args.metadata and args.command in ('model', 'blast-radius')):
      location = common.resolve(args)
      args.metadata, args.pipeline_name = location.metadata_path, location.pipeline_name
    if args.command == 'model':
      result = lineage_lib.Lineage.open(args.metadata).model_lineage(args.model)
      print(json.dumps(result.to_json(), indent=1, default=str) if args.json
            else format_model(result))
    elif args.command == 'blast-radius':
      lineage = lineage_lib.Lineage.open(args.metadata)
      if args.span is not None:
        result = lineage.blast_radius_of_span(args.span)
      elif args.file:
        result = lineage.blast_radius_of_file(args.file)
      else:
        result = lineage.blast_radius_of_artifact(args.artifact)
      print(json.dumps(result.to_json(), indent=1, default=str) if args.json
            else format_blast_radius(result))
    elif args.command == 'runs':
      rows = experiments.runs(args.metadata, args.pipeline_name)
      print(json.dumps([r.to_json() for r in rows], indent=1, default=str) if args.json
            else format_runs(rows))
    elif args.command == 'report':
      from provenance import report  # pylint: disable=g-import-not-at-top
      path = report.write_report(args.metadata, args.pipeline_name, args.run, args.out)
      print(json.dumps({'report': path}) if args.json else path)
  except (mlmd.ProvenanceError, common.LocationError) as e:
    print(f'provenance: {e}', file=sys.stderr)
    return 3
  return 0


# --- text output -------------------------------------------------------------
def _when(ms: int) -> str:
  return datetime.datetime.fromtimestamp(ms / 1000).strftime('%Y-%m-%d %H:%M')


def _hp(hyperparameters) -> str:
  if not hyperparameters:
    return '(not recorded)'
  return ' '.join(f'{k}={json.dumps(v)}' for k, v in sorted(hyperparameters.items()))


def _short(uri: str) -> str:
  marker = '/pipeline_root/'
  return uri.split(marker, 1)[1] if marker in uri else uri


def _execution(e: lineage_lib.ExecutionInfo) -> str:
  runs = ', '.join(e.runs) or '-'
  imported = e.properties.get('schema_file')  # ImportSchemaGen: a curated file
  return (f'{e.node_id} (execution {e.id}, {e.state}) run {runs}; '
          f'code {e.code_version or "not recorded"}'
          + (f'; imported {imported}' if imported else ''))


def _artifact_line(a: lineage_lib.ArtifactInfo) -> str:
  extra = []
  if a.span is not None:
    extra.append(f'span {a.span}')
  if a.type == 'ModelBlessing':
    extra.append('BLESSED' if a.properties.get('blessed') else 'NOT blessed')
  if a.type == 'PushedModel':
    extra.append(f'pushed -> {a.properties.get("pushed_destination")}'
                 if a.properties.get('pushed') else 'not pushed')
  if a.type == type_names.ROLLOUT_DECISION:
    signoff = signoff_record.summary(a.properties)
    if signoff:
      extra.append(signoff)
  producer = f'{a.producer.node_id}#{a.producer.id}' if a.producer else 'external'
  return (f'  {a.type + " " + str(a.id):<26} {producer:<26} {_short(a.uri)}'
          + (f'  [{"; ".join(extra)}]' if extra else ''))


def format_model(m: lineage_lib.ModelLineage) -> str:
  trainer = m.trainer
  lines = [f'{m.model.type} {m.model.id}  {m.model.uri}']
  if trainer:
    lines += [f'  trained by       {_execution(trainer)}',
              f'  code commit      {trainer.code_commit or "not recorded"}',
              f'  hyperparameters  {_hp(trainer.hyperparameters)}']
  lines += [f'  data spans       {", ".join(map(str, m.spans)) or "-"}', '', 'Data']
  for d in m.data:
    match = {True: 'matches the files now', False: 'DIFFERS from the files now',
             None: 'cannot be recomputed'}[d.fingerprint_matches]
    lines += [f'  span {d.span}  {d.examples.label}  read by '
              f'{d.examples.producer.node_id}#{d.examples.producer.id} from {d.input_base} '
              f'({", ".join(d.patterns)})',
              f'    fingerprint {(d.fingerprint_recorded or "-").replace(chr(10), " | ")}'
              f'  ({match})']
    for f in d.files:
      size = f'{f.bytes:,} B' if f.bytes is not None else '-'
      lines.append(f'    file {f.path}  {size}  sha256 '
                   f'{(f.sha256_recorded or f.sha256_now or "-")[:16]}  ({f.status})')
  lines += ['', 'Built from (upstream artifacts)']
  lines += [_artifact_line(a) for a in m.upstream]
  if m.references:
    lines += ['', 'Compared against (reference inputs, not built from)']
    lines += [_artifact_line(a) for a in m.references]
  lines += ['', 'Executions']
  lines += [f'  {_execution(e)}' for e in m.executions]
  lines += ['', 'Evaluation']
  if not m.judgements:
    lines.append('  (never evaluated)')
  for j in m.judgements:
    verdict = {True: 'BLESSED', False: 'NOT blessed', None: 'no blessing'}[j.blessed]
    baseline = f'baseline Model {j.baseline_model_id}' if j.baseline_model_id else 'no baseline'
    metrics = ''
    if j.evaluation is not None:
      stored = {k[len(experiments.METRIC_PREFIX):]: v for k, v in j.evaluation.properties.items()
                if k.startswith(experiments.METRIC_PREFIX)}
      metrics = '  ' + ' '.join(f'{k}={_metric(k, stored[k])}'
                                for k in sorted(stored, key=experiments.metric_order))
    lines.append(f'  {j.execution.node_id}#{j.execution.id} run {", ".join(j.execution.runs)}: '
                 f'{verdict}, {baseline}; evaluation '
                 f'{j.evaluation.id if j.evaluation else "-"}{metrics}')
  lines += ['', 'Pushed']
  lines += [_artifact_line(a) for a in m.pushes] or ['  (never pushed)']
  others = [a for a in m.downstream if a.type not in (
      'ModelEvaluation', 'ModelBlessing', 'PushedModel')]
  if others:
    lines += ['', 'Built from this model (other)'] + [_artifact_line(a) for a in others]
  return '\n'.join(lines)


def format_blast_radius(b: lineage_lib.BlastRadius) -> str:
  lines = [f'Blast radius of {b.description}: {len(b.built)} artifact(s) built from '
           f'{len(b.sources)} source(s), {len(b.pushes)} push(es), in {len(b.runs)} run(s)',
           '', 'Sources']
  lines += [_artifact_line(a) for a in b.sources]
  lines += ['', 'Built from it (rebuild or retract these)']
  lines += [_artifact_line(a) for a in b.built] or ['  (nothing)']
  lines += ['', 'Executions that used it']
  lines += [f'  {_execution(e)}' for e in b.executions] or ['  (none)']
  if b.pushes:
    lines += ['', 'Pushes of affected models (serving or served)']
    lines += [_artifact_line(a) for a in b.pushes]
  if b.judged_against:
    lines += ['', 'Judged against an affected artifact (used as baseline/reference; '
              're-check the decision, not rebuilt from it)']
    lines += [_artifact_line(a) for a in b.judged_against]
  return '\n'.join(lines)


def _metric(name: str, value) -> str:
  if value is None:
    return '-'
  return f'{int(value):,}' if name == 'examples' else f'{value:.3f}'


def format_runs(rows: List[experiments.RunRow]) -> str:
  varying = experiments.varying_hyperparameters(rows)
  metric_names = []
  for r in rows:
    metric_names += [k for k in r.metrics if k not in metric_names]
  header = ['run', 'started', 'spans', 'code'] + varying + metric_names + ['blessed', 'pushed']
  table = [header]
  for r in rows:
    hp = r.hyperparameters or {}
    table.append(
        [r.run_id, _when(r.started_ms), ','.join(map(str, r.spans)) or '-',
         r.code_version or '-'] +
        [json.dumps(hp.get(n)) if n in hp else '-' for n in varying] +
        [_metric(n, r.metrics.get(n)) for n in metric_names] +
        [{True: 'yes', False: 'NO', None: '-'}[r.blessed], r.pushed_version or '-'])
  widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
  lines = ['  '.join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
  lines.insert(1, '  '.join('-' * w for w in widths))
  constant = sorted({k for r in rows for k in (r.hyperparameters or {})} - set(varying))
  if constant and rows[-1].hyperparameters:
    hp = rows[-1].hyperparameters
    lines += ['', 'same in every run: ' + ' '.join(f'{k}={json.dumps(hp.get(k))}' for k in constant)]
  return '\n'.join(lines)


if __name__ == '__main__':
  sys.exit(main())
