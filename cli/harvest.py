"""The next span from production: logged requests plus their arrived labels.

    python -m cli.harvest --description data/descriptions/credit_risk.yaml \
        --request-log work/credit_risk/request_log --labels labels/*.csv \
        [--since 2026-03-01 --until 2026-04-01] \
        [--mode all|recent-weighted|recent-only --recent-since 2026-03-15 --weight 3] \
        [--data-root DIR] [--span N] [--work-dir work | --metadata store.sqlite]

Writes <data root>/span-N/data.csv (N = the next span unless --span) with the
description's columns, personal data treated per its `pii` section, and
span-N/manifest.json saying where every row came from; with a metadata store
(found from --work-dir / --metadata), records a HarvestedSpan artifact whose
inputs are the pushes of the versions that served the rows. The next pipeline run
(local_runner.py) trains on it. Prints what was written and, with counts and
reasons, everything left out. Exit 0 on a written span, 1 when there was
nothing to harvest, 2 on unusable input.
"""

import argparse
import os
import sys
import time
from typing import Optional, Sequence

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import description
from feedback import harvest
from feedback import join as join_lib
from feedback import labels as labels_lib
from cli import common
from feedback import period
from feedback import record
from feedback.skipped import Skipped


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m cli.harvest',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--description', required=True)
  parser.add_argument('--request-log', required=True, help='the server\'s --request-log-dir')
  parser.add_argument('--labels', nargs='+', required=True, help='labels CSV file(s)')
  parser.add_argument('--model', help='model name in the log (default: the description\'s name)')
  parser.add_argument('--since')
  parser.add_argument('--until')
  parser.add_argument('--mode', choices=harvest.MODES, default='all')
  parser.add_argument('--recent-since', help='start of the recent part (modes recent-*)')
  parser.add_argument('--weight', type=int, default=3,
                      help='recent-weighted: recent rows count this many times (default 3)')
  parser.add_argument('--data-root', help='default: the description\'s input.default_root')
  parser.add_argument('--span', type=int, help='span number (default: the next one)')
  common.add_location_arguments(parser)
  args = parser.parse_args(argv)
  try:
    spec = description.load(args.description)
    data_root = spec.resolve_root(args.data_root, os.getcwd())
    since = period.parse_time(args.since, '--since')
    until = period.parse_time(args.until, '--until')
    recent = period.parse_time(args.recent_since, '--recent-since')
    label_set = labels_lib.read_labels(args.labels, spec)
    joined = join_lib.join(args.request_log, label_set, spec, args.model, since, until)
    chosen, left_out = harvest.select(joined, args.mode, recent, args.weight)
    skipped = Skipped()
    for part in (label_set.skipped, joined.skipped, left_out):
      skipped.merge(part)
    print(f'period {period.describe(since, until)}: {joined.records} logged record(s), '
          f'{len(joined.labelled)} labelled, {len(chosen)} row(s) for the next span '
          f'(mode {args.mode})')
    for line in skipped.lines():
      print(f'  left out: {line}')
    if not chosen:
      print('nothing to harvest: no labelled request in the period', file=sys.stderr)
      return 1
    done = harvest.write_span(data_root, spec, chosen, label_set, skipped, {
        'created': time.time(), 'mode': args.mode, 'since': since, 'until': until,
        'recent_since': recent, 'weight': args.weight, 'description': spec.source,
        'request_log': os.path.abspath(args.request_log),
        'labels': [os.path.abspath(p) for p in args.labels]}, span=args.span)
  except (description.DatasetSpecError, description.PIIKeyError, labels_lib.LabelsError,
          harvest.HarvestError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'span {done.span}: {done.rows} row(s) in {done.csv_path}\n'
        f'manifest: {done.manifest_path}')
  for column, count in sorted(done.missing.items()):
    print(f'  missing: {column} empty in {count}/{done.rows} row(s): neither the request '
          f'nor the labels file had it (the schema may require it; add it to the labels)')
  _record(args, done, {p.version for p in chosen})
  return 0


def _record(args, done: harvest.Harvest, versions) -> None:
  try:
    metadata_path = common.resolve(args).metadata_path
  except common.LocationError:
    metadata_path = None
  if not metadata_path or not os.path.exists(metadata_path):
    print('no metadata store found: the harvest is not recorded in ML Metadata')
    return
  done_record = record.record_harvest(
      metadata_path, versions, os.path.abspath(os.path.dirname(done.csv_path)),
      done.span, done.rows)
  print(f'ML Metadata: HarvestedSpan artifact {done_record.artifact_id}, from the '
        f'pushes of version(s) {", ".join(sorted(versions))}')


if __name__ == '__main__':
  sys.exit(main())
