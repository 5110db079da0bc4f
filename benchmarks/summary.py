"""One printed summary of every benchmark: side by side, cached rerun, scaling, serving.

Each part runs as its own process (its script with --json) unless its results
are given as a JSON file from an earlier invocation; the serving benchmark
runs against the model ours pushed in the side-by-side run (the toy model if
there is none). Then one summary: the headline numbers and every goal with
PASS/FAIL.

  python benchmarks/summary.py                                 # everything, 10k/100k/1M
  python benchmarks/summary.py --sizes 10k,100k --rounds 2
  python benchmarks/summary.py --side-by-side-json a.json --cached-json b.json \\
      --scaling-json c.json --skip-serving                     # only combine

Full cost on the 2-core reference machine: side by side ~6 min per round,
cached rerun ~4 min, scaling at 1M rows the longest part by far.
"""

import argparse
import glob
import json
import os
import sys
import tempfile
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402

SERVING_GOALS = {}  # the serving benchmark prints ratios; it sets no goal of its own


def _run_part(name: str, command: List[str], work: str) -> Optional[Dict]:
  out = os.path.join(work, f'{name}.json')
  print(f'== {name}: {" ".join(command[1:])}', flush=True)
  measured = common.run_measured(command + ['--json', out], os.path.join(work, f'{name}.log'))
  print(common.tail(measured.log, 60), flush=True)
  if not os.path.exists(out):
    print(f'{name}: no results (exit {measured.returncode})', file=sys.stderr)
    return None
  with open(out) as f:
    return json.load(f)


def pushed_model(side_by_side: Optional[Dict]) -> Optional[str]:
  """Ours' serving root from the side-by-side run (kept work dir)."""
  if not side_by_side:
    return None
  work = side_by_side.get('meta', {}).get('work_dir')
  # Model directories only: the server keeps <model>.routing.json and admin.token beside them.
  found = sorted(p for p in glob.glob(os.path.join(
      work or '/nonexistent', 'round*', 'ours', '*', 'serving', '*')) if os.path.isdir(p))
  return found[-1] if found else None


def summarize(sbs: Optional[Dict], cached: Optional[Dict], scaling: Optional[Dict],
              serving: Optional[Dict], serving_model: Optional[str]) -> str:
  lines = ['=' * 78, 'BENCHMARK SUMMARY', '=' * 78]
  goals: List[str] = []
  if sbs:
    agg, auc = sbs['aggregate'], sbs['auc']
    ref, ours = agg['reference'], agg['ours']
    lines += [f'machine: {sbs["meta"]["machine_line"]}',
              f'load at start: {sbs["meta"]["uptime_before"]}', '',
              f'1. side by side ({ref["rounds"]} round(s), reference Beam '
              f'{sbs["meta"]["reference_mode"]}):',
              f'   wall: reference {common.fmt(ref["wall"])} s, ours {common.fmt(ours["wall"])} s, '
              f'ours/ref {common.fmt(common.ratio(ours["wall"], ref["wall"]), ".2f")}',
              f'   peak RSS: reference {common.fmt((ref["peak_rss"] or 0) / common.MB, ".0f")} MB, '
              f'ours {common.fmt((ours["peak_rss"] or 0) / common.MB, ".0f")} MB']
    for name in common.ordered(list(ref['components']) + list(ours['components'])):
      r = ref['components'].get(name, {}).get('seconds')
      o = ours['components'].get(name, {}).get('seconds')
      if max(r or 0, o or 0) >= 1.0:
        lines.append(f'     {name:<18} ref {common.fmt(r):>6} s  ours {common.fmt(o):>6} s  '
                     f'x{common.fmt(common.ratio(o, r), ".2f")}')
    if 'error' not in auc:
      lines.append(f'   AUC (the {auc["scored_examples"]} rows both held out): reference '
                   f'{common.fmt(auc["reference_auc"], ".4f")}, ours '
                   f'{common.fmt(auc["ours_auc"], ".4f")}')
    goals += [_goal_line(g) for g in sbs.get('goals', [])]
  if cached:
    runs = cached['runs']
    lines += ['', f'2. cached rerun ({cached["meta"]["description"]}): ' + ', '.join(
        f'run {r["run"]} {r["wall"]:.1f} s' for r in runs)]
    goals.append(common.Goal(
        f'unchanged rerun (run {cached.get("unchanged_run") or "?"}) / cold run',
        cached.get('ratio'), cached.get('goal', 0.10)).line())
  if scaling:
    lines += ['', '3. scaling (default generator, one span):']
    for r in scaling['results']:
      lines.append(f'   {r["rows"]:>9,} rows: {r["wall"]:8.1f} s wall, peak '
                   f'{r["peak_rss"] / common.MB:6.0f} MB, exit {r["returncode"]}')
    for g in scaling['growth']:
      lines.append(f'   {g["from"]:,} -> {g["to"]:,}: time x{common.fmt(g["wall"]["factor"], ".2f")}'
                   f' for x{g["wall"]["rows_factor"]:g} rows (vs linear '
                   f'{common.fmt(g["wall"]["vs_linear"], ".2f")})')
    goals += [_goal_line(g) for g in scaling.get('goals', [])]
  if serving:
    ratios = serving['ratios']
    lines += ['', f'4. serving ({serving_model or "toy model"}):',
              f'   direct p50 {serving["direct"]["p50_ms"]:.2f} ms, server p50 '
              f'{serving["server"]["p50_ms"]:.2f} ms, p99 {serving["server"]["p99_ms"]:.2f} ms; '
              f'throughput direct {serving["direct"]["rps"]:.0f}/s, server '
              f'{serving["server"]["rps"]:.0f}/s',
              f'   ratios server/direct: p50 x{ratios["p50_latency_ratio"]:.1f}, p99 '
              f'x{ratios["p99_latency_ratio"]:.1f}, throughput x{ratios["throughput_ratio"]:.2f}'
              f' ({serving["server"].get("errors", 0)} errors)']
  lines += ['', 'GOALS'] + [f'  {g}' for g in goals]
  lines.append(f'load at end: {common.uptime_line()}')
  return '\n'.join(lines)


def _goal_line(g: Dict) -> str:
  return common.Goal(g['name'], g['measured'], g['limit'], g.get('higher_is_better', False),
                     g.get('unit', '')).line()


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--rounds', type=int, default=1)
  p.add_argument('--reference-mode', choices=['multi_processing', 'in_memory'],
                 default='multi_processing')
  p.add_argument('--sizes', default='10000,100000,1000000')
  p.add_argument('--side-by-side-json')
  p.add_argument('--cached-json')
  p.add_argument('--scaling-json')
  p.add_argument('--serving-json')
  p.add_argument('--skip', action='append', default=[],
                 choices=['side_by_side', 'cached', 'scaling', 'serving'])
  p.add_argument('--work-dir', help='default: a temporary directory (kept: it holds logs)')
  p.add_argument('--json', help='everything in one file')
  args = p.parse_args(argv)
  work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix='bench_summary_'))
  os.makedirs(work, exist_ok=True)
  py = common.PYTHON
  bench = os.path.join(ROOT, 'benchmarks')

  sbs = common.load_json(args.side_by_side_json)
  if sbs is None and 'side_by_side' not in args.skip:
    sbs = _run_part('side_by_side', [
        py, os.path.join(bench, 'side_by_side.py'), '--rounds', str(args.rounds),
        '--reference-mode', args.reference_mode, '--work-dir',
        os.path.join(work, 'side_by_side')], work)
  cached = common.load_json(args.cached_json)
  if cached is None and 'cached' not in args.skip:
    cached = _run_part('cached_rerun', [py, os.path.join(bench, 'cached_rerun.py')], work)
  scaling = common.load_json(args.scaling_json)
  if scaling is None and 'scaling' not in args.skip:
    scaling = _run_part('scaling', [py, os.path.join(bench, 'scaling.py'), '--sizes',
                                    args.sizes], work)
  serving = common.load_json(args.serving_json)
  model = pushed_model(sbs)
  if serving is None and 'serving' not in args.skip:
    command = [py, os.path.join(bench, 'serving_benchmark.py')]
    if model:
      command += ['--model-dir', model]
    serving = _run_part('serving', command, work)

  text = summarize(sbs, cached, scaling, serving, model)
  print('\n' + text)
  with open(os.path.join(work, 'summary.txt'), 'w') as f:
    f.write(text + '\n')
  common.write_json(args.json, {'side_by_side': sbs, 'cached_rerun': cached,
                                'scaling': scaling, 'serving': serving})
  print(f'logs and results: {work}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
