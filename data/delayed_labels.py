"""Delayed labels for a generated span: what the loan system knows a month on.

The outcome of each application, keyed by its id, plus the columns a request
does not carry (the month, protected attributes, tags): exactly what
`python -m cli.labels` and `python -m cli.harvest` expect, so a simulation
can replay a span as traffic and hand in its labels later. Personal data is
never copied: the labels file of a real system would not need it either.

    python -m data.delayed_labels --span-csv data/generated/credit_risk/span-3/data.csv \
        --out labels/span-3.csv [--fraction 0.5 --seed 1] [--request-log DIR]

With --request-log, the cases the server deferred to a person (partial
automation, serving/automation.py) get their labels first: a person decided
them when they were served, so their label (that decision) is there before
any outcome is known. The fraction then counts them first, and the rest of
it is drawn from the other rows.
"""

import argparse
import csv
import sys
from typing import List, Optional, Sequence

import numpy as np

import description
from feedback import join
from pipeline import configs


def label_columns(spec: description.DatasetSpec) -> List[str]:
  """id, label, then every column that is neither a model input nor personal data."""
  skip = set(spec.feature_names) | set(spec.pii.names) | {spec.id_column, spec.label}
  return [spec.id_column, spec.label] + [c.name for c in spec.columns if c.name not in skip]


def write_labels(span_csv: str, out_csv: str, spec: description.DatasetSpec,
                 fraction: float = 1.0, seed: int = 0,
                 deferred: Sequence[str] = ()) -> int:
  """Writes the labels of a `fraction` of the rows (partial arrival); returns the count.

  Rows whose id is in `deferred` come first and always arrive (up to the
  fraction's count); the rest of the fraction is drawn from the other rows.
  """
  columns = label_columns(spec)
  rng = np.random.default_rng(seed)
  with open(span_csv, newline='') as src:
    rows = list(csv.DictReader(src))
  wanted = set(deferred)
  first = [r for r in rows if r.get(spec.id_column) in wanted]
  others = [r for r in rows if r.get(spec.id_column) not in wanted]
  if fraction >= 1.0:
    chosen = first + others
  else:
    budget = int(round(fraction * len(rows)))
    first = first[:budget]
    share = (budget - len(first)) / len(others) if others else 0.0
    chosen = first + [r for r in others if rng.random() < share]
  with open(out_csv, 'w', newline='') as dst:
    writer = csv.DictWriter(dst, fieldnames=columns, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(chosen)
  return len(chosen)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m data.delayed_labels',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--span-csv', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--description', default=configs.DEFAULT_DESCRIPTION)
  parser.add_argument('--fraction', type=float, default=1.0,
                      help='share of rows whose label has arrived (default 1)')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--request-log', help='the server\'s request log: the cases it '
                      'deferred to a person get their labels first')
  args = parser.parse_args(argv)
  spec = description.load(args.description)
  deferred = join.deferred_keys(args.request_log, spec.name) if args.request_log else []
  count = write_labels(args.span_csv, args.out, spec, args.fraction, args.seed, deferred)
  if args.request_log:
    print(f'{len(deferred)} deferred case(s) in {args.request_log} labelled first')
  print(f'{count} label(s) in {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
