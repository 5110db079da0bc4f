"""Issue 19's goals at scale: every goal, its figure and PASS/FAIL, with the command.

Goals (benchmarks, not timed tests; 2 cores, 24 GB):
  1. 1,000,000 rows of the default generator, cold, every component and
     metric: whole-process wall <= 300 s, peak process-tree RSS <= 4 GB.
  2. Growth from 100,000 to 1,000,000 rows no worse than linear.
  3. ExampleGen with the row checks >= 20,000 rows/s on the generator's CSV
     and on a 40-column variant.
  4. Taxi side by side: ours' wall <= 0.35 x the reference's, AUC no worse.
  5. Same evaluation as before (metrics and plots equal within floating-point
     tolerance, same blessing), on the same model and data.

Each part runs its own benchmark script unless its --*-json (an earlier
run's --json) is given; a part without figures prints n/a.

  python benchmarks/scale_goals.py                        # everything (about an hour)
  python benchmarks/scale_goals.py --skip scaling --skip side_by_side
  python benchmarks/scale_goals.py --scaling-json s.json --example-gen-json e.json \\
      --side-by-side-json sbs.json --evaluations BEFORE_URI AFTER_URI
"""

import argparse
import json
import os
import sys
import tempfile
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402

BIG, SMALL = 1_000_000, 100_000
WALL_LIMIT_SECONDS = 300.0
PEAK_LIMIT_GB = 4.0
SIDE_BY_SIDE_LIMIT = 0.35
COMMANDS = {
    'scaling': 'python benchmarks/scaling.py --sizes 100k,1m --json scaling.json',
    'example_gen': 'python benchmarks/example_gen_throughput.py --rows 200000 --json eg.json',
    'side_by_side': 'python benchmarks/side_by_side.py --json sbs.json',
    'evaluations': ('python benchmarks/profile_evaluator.py --variants full ... (main, then '
                    'this branch); python benchmarks/evaluation_equality.py BEFORE AFTER'),
}


def scaling_goals(scaling: Optional[Dict]) -> List[common.Goal]:
  results = {r['rows']: r for r in (scaling or {}).get('results', [])
             if r['returncode'] == 0}
  big = results.get(BIG)
  growth = next((g for g in (scaling or {}).get('growth', [])
                 if g['from'] == SMALL and g['to'] == BIG), None)
  return [
      common.Goal(f'{BIG:,} rows cold, whole-process wall', big and big['wall'],
                  WALL_LIMIT_SECONDS, unit=' s'),
      common.Goal(f'{BIG:,} rows cold, peak process-tree RSS',
                  big and big['peak_rss'] / common.MB / 1024, PEAK_LIMIT_GB, unit=' GB'),
      common.Goal(f'wall growth {SMALL:,} -> {BIG:,} rows, vs linear',
                  growth and growth['wall']['vs_linear'], 1.0),
  ]


def example_gen_goals(example_gen: Optional[Dict]) -> List[common.Goal]:
  if not example_gen:
    return [common.Goal('ExampleGen with row checks, rows/s', None, 20_000, True)]
  return [common.Goal(g['name'], g['measured'], g['limit'], g.get('higher_is_better', False))
          for g in example_gen['goals']]


def side_by_side_goals(sbs: Optional[Dict]) -> List[common.Goal]:
  found = {g['name']: g for g in (sbs or {}).get('goals', [])}
  wall = found.get('total wall, ours / reference')
  auc = next((g for name, g in found.items() if name.startswith('eval AUC')), None)
  return [
      common.Goal('taxi side by side, total wall ours / reference',
                  wall and wall['measured'], SIDE_BY_SIDE_LIMIT),
      common.Goal('taxi side by side, eval AUC ours - reference',
                  auc and auc['measured'], 0.0, higher_is_better=True),
  ]


def evaluation_goal(evaluations: Optional[List[str]]) -> common.Goal:
  name = 'evaluation before/after: values that differ'
  if not evaluations:
    return common.Goal(name, None, 0.0)
  from benchmarks import evaluation_equality  # pylint: disable=g-import-not-at-top
  problems, compared = evaluation_equality.compare(*evaluations)
  for line in problems[:20]:
    print('  ' + line)
  return common.Goal(f'{name} (of {compared:,})', float(len(problems)), 0.0)


def _run(name: str, command: List[str], work: str) -> Optional[Dict]:
  out = os.path.join(work, f'{name}.json')
  measured = common.run_measured(command + ['--json', out], os.path.join(work, f'{name}.log'))
  if measured.returncode != 0 or not os.path.exists(out):
    print(f'{name}: no results (exit {measured.returncode}); log {work}/{name}.log',
          file=sys.stderr)
    return None
  with open(out) as f:
    return json.load(f)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--scaling-json')
  p.add_argument('--example-gen-json')
  p.add_argument('--side-by-side-json')
  p.add_argument('--evaluations', nargs=2, metavar=('BEFORE_URI', 'AFTER_URI'))
  p.add_argument('--skip', action='append', default=[],
                 choices=['scaling', 'example_gen', 'side_by_side'])
  p.add_argument('--work-dir')
  args = p.parse_args(argv)
  work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix='scale_goals_'))
  os.makedirs(work, exist_ok=True)
  py, bench = common.PYTHON, os.path.join(ROOT, 'benchmarks')
  print(f'{common.describe_machine(common.machine())}\nload before: {common.uptime_line()}',
        flush=True)

  parts = {'scaling': (args.scaling_json, [py, os.path.join(bench, 'scaling.py'),
                                           '--sizes', f'{SMALL},{BIG}']),
           'example_gen': (args.example_gen_json,
                           [py, os.path.join(bench, 'example_gen_throughput.py')]),
           'side_by_side': (args.side_by_side_json,
                            [py, os.path.join(bench, 'side_by_side.py')])}
  found = {}
  for name, (path, command) in parts.items():
    found[name] = common.load_json(path)
    if found[name] is None and name not in args.skip:
      found[name] = _run(name, command, work)

  sections = [('scaling', scaling_goals(found['scaling'])),
              ('example_gen', example_gen_goals(found['example_gen'])),
              ('side_by_side', side_by_side_goals(found['side_by_side'])),
              ('evaluations', [evaluation_goal(args.evaluations)])]
  print(f'\nload after: {common.uptime_line()}\n')
  for name, goals in sections:
    print(f'{name}: {COMMANDS[name]}')
    for goal in goals:
      print('  ' + goal.line())
  return 0


if __name__ == '__main__':
  sys.exit(main())
