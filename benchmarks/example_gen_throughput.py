"""ExampleGen with the row checks: rows per second on wide CSVs.

Runs CheckedCsvExampleGen's executor (checks, conversion, hash split, the
write of every split: what the pipeline's ExampleGen runs) in a fresh
process per CSV, with the Beam arguments local_runner gives that data size,
and prints rows per second of the executor's Do() (the goal) and the CPU
seconds of the whole process tree (imports included; steadier than wall
time on a shared machine).

CSVs: the default generator's (`python -m data.generator --rows N`, 24
columns), and a 40-column variant made from it: 16 more columns (8 float,
4 int, 4 string) copied from existing ones under new names, declared in a
copy of the description.

  python benchmarks/example_gen_throughput.py [--rows 200000] [--json out.json]
"""

import argparse
import copy
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

GOAL_ROWS_PER_SECOND = 20_000
DESCRIPTION = os.path.join(ROOT, 'data', 'descriptions', 'credit_risk.yaml')
# The 40-column variant's extra columns: new name -> the column it copies.
EXTRA = {**{f'extra_float_{i}': c for i, c in enumerate(
    ['annual_income', 'employment_years', 'loan_amount', 'interest_rate',
     'debt_to_income', 'annual_income', 'loan_amount', 'interest_rate'])},
         **{f'extra_int_{i}': c for i, c in enumerate(
             ['credit_score', 'num_open_accounts', 'num_late_payments_12m', 'age'])},
         **{f'extra_string_{i}': c for i, c in enumerate(
             ['employment_type', 'loan_purpose', 'branch', 'application_id'])}}


def widen(csv_path: str, description_path: str, out_dir: str):
  """The 40-column CSV and its description (YAML), written under out_dir."""
  import yaml  # pylint: disable=g-import-not-at-top
  with open(description_path) as f:
    raw = yaml.safe_load(f)
  wide = copy.deepcopy(raw)
  for name, source in EXTRA.items():
    wide['columns'][name] = dict(raw['columns'][source], treatment='exclude')
    wide['columns'][name].pop('buckets', None)
    wide['columns'][name].pop('drift', None)
  os.makedirs(os.path.join(out_dir, 'span-1'), exist_ok=True)
  wide_csv = os.path.join(out_dir, 'span-1', 'data.csv')
  with open(csv_path, newline='') as f, open(wide_csv, 'w', newline='') as out:
    reader, writer = csv.reader(f), csv.writer(out, lineterminator='\n')
    header = next(reader)
    index = [header.index(source) for source in EXTRA.values()]
    writer.writerow(header + list(EXTRA))
    for row in reader:
      writer.writerow(row + [row[i] for i in index])
  wide_description = os.path.join(out_dir, 'wide.yaml')
  with open(wide_description, 'w') as f:
    yaml.safe_dump(wide, f, sort_keys=False)
  return wide_csv, wide_description, len(header) + len(EXTRA)


def run_one(args) -> int:
  """In this process: the executor on one input; prints JSON."""
  import description  # pylint: disable=g-import-not-at-top
  from tfx.dsl.components.base import base_beam_executor  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  from components.checked_example_gen import executor  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  examples = standard_artifacts.Examples()
  examples.uri = tempfile.mkdtemp(prefix='example_gen_')
  props = {
      'input_base': args.input_base,
      'input_config': proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='single_split', pattern='span-1/*.csv')])),
      'output_config': proto_utils.proto_to_json(example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b)
              for n, b in spec.splits.items()]))),
      'custom_config': proto_utils.proto_to_json(executor.pack_spec(spec)),
      'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE,
      'output_file_format': example_gen_pb2.FORMAT_TFRECORDS_GZIP,
      'span': 1,
  }
  runner = executor.Executor(base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=configs.beam_pipeline_args(args.rows, setup_file=configs.SETUP_FILE),
      tmp_dir=os.path.join(examples.uri, 'tmp')))
  cpu0, t0 = time.process_time(), time.perf_counter()
  result = runner.Do({}, {'examples': [examples]}, props)
  seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
  print(json.dumps({'seconds': seconds, 'cpu_seconds': cpu, 'failed': result is not None,
                    'rows': examples.get_int_custom_property('data_rows'),
                    'split_method': examples.get_string_custom_property('split_method'),
                    'shards': {s: len(os.listdir(os.path.join(examples.uri, f'Split-{s}')))
                               for s in spec.splits}}))
  return 0


def measure(input_base: str, description_path: str, rows: int) -> dict:
  command = [sys.executable, os.path.abspath(__file__), '--run-one', '--input-base', input_base,
             '--description', description_path, '--rows', str(rows)]
  env = dict(os.environ, TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
  # CPU of the whole process tree (Beam's worker processes are waited for,
  # so they count): on a shared machine, wall time says more about the load.
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  tree_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  line = [l for l in done.stdout.splitlines() if l.startswith('{"seconds"')]
  if done.returncode != 0 or not line:
    raise RuntimeError(f'ExampleGen failed:\n{done.stderr[-3000:]}')
  return dict(json.loads(line[-1]), tree_cpu_seconds=tree_cpu)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--rows', type=int, default=200_000)
  p.add_argument('--work-dir')
  p.add_argument('--json')
  p.add_argument('--run-one', action='store_true', help=argparse.SUPPRESS)
  p.add_argument('--input-base', help=argparse.SUPPRESS)
  p.add_argument('--description', default=DESCRIPTION, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.run_one:
    return run_one(args)

  from benchmarks import common  # pylint: disable=g-import-not-at-top
  work = args.work_dir or tempfile.mkdtemp(prefix='example_gen_bench_')
  print(f'{common.describe_machine(common.machine())}\n{common.uptime_line()}', flush=True)
  data = os.path.join(work, 'default')
  subprocess.run([sys.executable, '-m', 'data.generator', '--out', data, '--rows',
                  str(args.rows), '--spans', '1', '--overwrite', '--quiet'],
                 cwd=ROOT, check=True, capture_output=True)
  wide_csv, wide_description, wide_columns = widen(
      os.path.join(data, 'span-1', 'data.csv'), DESCRIPTION, os.path.join(work, 'wide'))
  del wide_csv
  results, goals = [], []
  for label, base, description_path, columns in (
      ('generator', data, DESCRIPTION, 24),
      (f'{wide_columns} columns', os.path.join(work, 'wide'), wide_description, wide_columns)):
    found = measure(base, description_path, args.rows)
    found.update(label=label, columns=columns, load=common.load())
    results.append(found)
    rate = found['rows'] / found['seconds']
    print(f'  {label:<12} {found["rows"]:,} rows x {columns} columns: {found["seconds"]:.1f} s '
          f'({rate:,.0f} rows/s; CPU of the process tree, imports included, '
          f'{found["tree_cpu_seconds"]:.1f} s), shards {found["shards"]}, '
          f'load {found["load"]}', flush=True)
    goals.append(common.Goal(f'ExampleGen with row checks, {label} ({columns} columns), rows/s',
                             rate, GOAL_ROWS_PER_SECOND, higher_is_better=True))
  print(common.uptime_line())
  for goal in goals:
    print(goal.line())
  common.write_json(args.json, {'results': results, 'goals': [
      dict(common.as_jsonable(g), passed=g.passed) for g in goals]})
  return 0


if __name__ == '__main__':
  sys.exit(main())
