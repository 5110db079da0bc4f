"""Two ExampleGen outputs hold the same records in every split.

Compares the Split-* directories of two Examples artifacts: the same split
names and, per split, the same serialized tf.Examples as multisets (how the
records are spread over shard files and ordered in them may differ: TFX's
own write spreads them over one shard per Beam worker at random). Prints
shard and record counts, and whether the order is the same too.

  python benchmarks/example_gen_equality.py BEFORE_URI AFTER_URI
"""

import argparse
import collections
import glob
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def split_records(uri: str):
  """{split directory: (shard file count, [serialized records in file order])}."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = {}
  for directory in sorted(glob.glob(os.path.join(uri, 'Split-*'))):
    files = sorted(glob.glob(os.path.join(directory, '*')))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
    out[os.path.basename(directory)] = (len(files), records)
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('before')
  p.add_argument('after')
  args = p.parse_args(argv)
  before, after = split_records(args.before), split_records(args.after)
  if sorted(before) != sorted(after):
    print(f'different splits: {sorted(before)} vs {sorted(after)}')
    return 1
  same = True
  for split, (shards, records) in before.items():
    other_shards, other = after[split]
    equal = collections.Counter(records) == collections.Counter(other)
    same &= equal
    print(f'{split}: shards {shards} / {other_shards}, records {len(records):,} / '
          f'{len(other):,}, same records {equal}, same order {records == other}')
  print('same records in every split' if same else 'DIFFERENT records')
  return 0 if same else 1


if __name__ == '__main__':
  sys.exit(main())
