"""TFX's StatisticsGen executor alone on a kept run's examples: exact top values
against TFDV's sketches, each in a fresh process, and what differs.

  python benchmarks/profile_statistics.py --run WORK/credit_risk [--beam-mode multi_processing]

Prints each mode's executor wall time and, split by split, every string
statistic (distinct count, top values, rank histogram) the two disagree on.
--run: a pipeline directory of a kept run (scaling.py --keep), the one
holding metadata.sqlite.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import common  # pylint: disable=wrong-import-position

MODES = ('exact', 'sketch')


def _run_one(run_dir: str, mode: str, out_dir: str, beam_mode: str) -> float:
  """One StatisticsGen execution in this process; returns its wall seconds."""
  import tensorflow_data_validation as tfdv
  from tfx.components.statistics_gen import executor
  from tfx.dsl.components.base import base_beam_executor
  from tfx.types import artifact_utils, standard_artifacts
  run = common.kept_run(run_dir)
  examples = standard_artifacts.Examples()
  examples.uri = common.output_uri(run, 'CsvExampleGen', 'examples')
  examples.split_names = artifact_utils.encode_split_names(['train', 'eval', 'test'])
  schema = standard_artifacts.Schema()
  schema.uri = common.output_uri(run, 'SchemaGen', 'schema')
  statistics = standard_artifacts.ExampleStatistics()
  statistics.uri = out_dir
  properties = {'exclude_splits': '[]', 'stats_options_json': tfdv.StatsOptions(
      use_sketch_based_topk_uniques=(mode == 'sketch')).to_json()}
  workers = '1' if beam_mode == 'in_memory' else '0'
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=['--runner=FnApiRunner', f'--direct_running_mode={beam_mode}',
                          f'--direct_num_workers={workers}', f'--setup_file={ROOT}/setup.py'],
      tmp_dir=tempfile.mkdtemp(prefix='profile_statistics_'))
  started = time.perf_counter()
  executor.Executor(context).Do({'examples': [examples], 'schema': [schema]},
                                {'statistics': [statistics]}, properties)
  return time.perf_counter() - started


def _string_differences(exact_dir: str, sketch_dir: str):
  import tensorflow_data_validation as tfdv
  for path in sorted(glob.glob(os.path.join(exact_dir, 'Split-*', 'FeatureStats.pb'))):
    split = os.path.basename(os.path.dirname(path))
    features = lambda d: {'.'.join(f.path.step): f for f in tfdv.load_stats_binary(
        os.path.join(d, split, 'FeatureStats.pb')).datasets[0].features}
    exact, sketch = features(exact_dir), features(sketch_dir)
    for name in sorted(exact.keys() - sketch.keys()):
      yield f'{split} {name}: no statistics with sketches'
    for name in sorted(exact.keys() & sketch.keys()):
      a, b = exact[name].string_stats, sketch[name].string_stats
      if a == b:
        continue
      yield (f'{split} {name}: distinct {a.unique:,} vs {b.unique:,}, top values '
             f'{"equal" if list(a.top_values) == list(b.top_values) else "differ"}, rank '
             f'histogram {"equal" if a.rank_histogram == b.rank_histogram else "differs"}')


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--run', required=True, help='pipeline directory of a kept run')
  p.add_argument('--beam-mode', default='multi_processing',
                 choices=['in_memory', 'multi_processing'])
  p.add_argument('--one', choices=MODES, help=argparse.SUPPRESS)  # the child process
  p.add_argument('--out', help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.one:
    print(f'seconds {_run_one(args.run, args.one, args.out, args.beam_mode):.1f}')
    return 0

  work = tempfile.mkdtemp(prefix='profile_statistics_')
  seconds = {}
  for mode in MODES:
    out = os.path.join(work, mode)
    os.makedirs(out)
    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--run', args.run, '--one', mode,
         '--out', out, '--beam-mode', args.beam_mode],
        capture_output=True, text=True, check=False)
    lines = [l for l in child.stdout.splitlines() if l.startswith('seconds ')]
    if child.returncode or not lines:
      print(f'{mode}: failed (exit {child.returncode})\n{child.stderr[-3000:]}', file=sys.stderr)
      return 1
    seconds[mode] = float(lines[-1].split()[1])
  print(f'StatisticsGen executor, {args.beam_mode}: exact {seconds["exact"]:.1f} s, '
        f'sketch {seconds["sketch"]:.1f} s (x{seconds["sketch"] / seconds["exact"]:.2f})')
  differences = list(_string_differences(os.path.join(work, 'exact'), os.path.join(work, 'sketch')))
  print('string statistics that differ:' if differences else 'string statistics: all equal')
  for line in differences:
    print('  ' + line)
  return 0


if __name__ == '__main__':
  sys.exit(main())
