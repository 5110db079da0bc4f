"""Drafts a dataset description from a CSV (or a directory of span-<N>/ CSVs).

  python -m cli.draft_description data.csv --label outcome
  python -m cli.draft_description data/generated/credit_risk --label outcome \\
      --out my_data.yaml [--sample-rows 100000] [--name my_data]

Every guess (types, treatments, ids, personal data, classes, the rare class)
is a comment in the YAML; the draft validates and runs as it is:
  python local_runner.py --description my_data.yaml
Exit code 0 when written, 2 when the data cannot be drafted (the message
names the file and the column).
"""

import argparse
import os
import sys

from description import draft


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('data', help='a CSV file, or a directory of *.csv or span-<N>/*.csv')
  parser.add_argument('--label', required=True, help='the column to predict')
  parser.add_argument('--out', help='where to write the YAML (default: print it)')
  parser.add_argument('--sample-rows', type=int, default=draft.DEFAULT_SAMPLE_ROWS,
                      help='rows read to infer types and counts (default: %(default)s)')
  parser.add_argument('--name', help='the dataset and pipeline name (default: from '
                      'the file or directory name)')
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  command = ' '.join(['python -m cli.draft_description', args.data, '--label', args.label])
  try:
    drafted = draft.draft_path(args.data, args.label, args.sample_rows, args.name, command)
  except draft.DraftError as e:
    print(f'cannot draft a description: {e}', file=sys.stderr)
    return 2
  if not args.out:
    sys.stdout.write(drafted.text)
    return 0
  if os.path.exists(args.out):
    # Never overwrite what the user may have edited.
    print(f'{args.out} exists; not overwritten (remove it or pass another --out)',
          file=sys.stderr)
    return 2
  with open(args.out, 'w') as f:
    f.write(drafted.text)
  excluded = [c.name for c in drafted.columns if c.treatment == 'exclude']
  review = [line.split('REVIEW', 1)[1].lstrip(' :') for line in drafted.text.splitlines()
            if 'REVIEW' in line]
  print(f'wrote {args.out}: {len(drafted.spec.feature_names)} model inputs, '
        f'{len(excluded)} excluded ({", ".join(excluded)}), label {drafted.spec.label} '
        f'with classes {list(drafted.spec.classes)}', flush=True)
  if review:
    print('REVIEW before running (see the comments):\n  ' + '\n  '.join(review), flush=True)
  print(f'run it: python local_runner.py --description {args.out}', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
