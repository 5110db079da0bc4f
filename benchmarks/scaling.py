"""Scaling: our pipeline on the default generator's data at growing sizes.

For each size (rows in one span) the default generator writes the data
(`python -m data.generator --rows N --spans 1`, timed apart, not counted),
then `local_runner.py` runs cold on it in its own process with its own work
directory (the Beam mode is local_runner's automatic choice by data size
unless --ours-arg says otherwise). Measured: whole-process wall and peak
process-tree RSS, and per component its MLMD time and the peak tree RSS
inside its window.

Printed: one table per measure (components x sizes), and the growth between
consecutive sizes against linear: time(large)/time(small) divided by
rows(large)/rows(small); <= 1.0 is no faster than linear. The goal is judged
from 100,000 to 1,000,000 rows, and 1,000,000 rows must complete.

  python benchmarks/scaling.py [--sizes 10000,100000,1000000] [--json out.json]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
NAME = 'credit_risk'
GOAL_FROM, GOAL_TO = 100_000, 1_000_000


def parse_sizes(text: str) -> List[int]:
  sizes = []
  for part in text.split(','):
    part = part.strip().lower().replace('_', '')
    if not part:
      continue
    scale = 1
    if part.endswith('k'):
      part, scale = part[:-1], 1_000
    elif part.endswith('m'):
      part, scale = part[:-1], 1_000_000
    sizes.append(int(float(part) * scale))
  if not sizes or any(s <= 0 for s in sizes):
    raise ValueError(f'bad --sizes {text!r}')
  return sorted(set(sizes))


def growth_rows(results: List[Dict]) -> List[Dict]:
  """Growth between consecutive sizes: whole run and each component."""
  out = []
  ok = [r for r in results if r['returncode'] == 0]
  for small, large in zip(ok, ok[1:]):
    entry = {'from': small['rows'], 'to': large['rows'],
             'wall': common.growth(small['wall'], large['wall'], small['rows'],
                                   large['rows']),
             'peak_rss': common.growth(small['peak_rss'], large['peak_rss'],
                                       small['rows'], large['rows']),
             'components': {}}
    s_comp = {c['node_id']: c for c in small['components']}
    for c in large['components']:
      if c['node_id'] in s_comp:
        entry['components'][c['node_id']] = common.growth(
            s_comp[c['node_id']]['seconds'], c['seconds'], small['rows'], large['rows'])
    out.append(entry)
  return out


def goals(results: List[Dict], growths: List[Dict]) -> List[common.Goal]:
  found = [g for g in growths if g['from'] == GOAL_FROM and g['to'] == GOAL_TO]
  result = [common.Goal(
      f'wall growth {GOAL_FROM:,} -> {GOAL_TO:,} rows, vs linear',
      found[0]['wall']['vs_linear'] if found else None, 1.0)]
  big = [r for r in results if r['rows'] == GOAL_TO]
  result.append(common.Goal(f'{GOAL_TO:,} rows completes (exit code)',
                            float(big[0]['returncode']) if big else None, 0.0))
  return result


def report(results: List[Dict], growths: List[Dict], meta: Dict) -> str:
  sizes = [r['rows'] for r in results]
  names = common.ordered(c['node_id'] for r in results for c in r['components'])
  header = ['component'] + [f'{n:,} rows' for n in sizes]

  def cell(r, name, key, scale=1.0, spec='.1f'):
    c = next((c for c in r['components'] if c['node_id'] == name), None)
    return '-' if c is None or c.get(key) is None else format(c[key] / scale, spec)

  seconds = [[n] + [cell(r, n, 'seconds') for r in results] for n in names]
  seconds.append(['WHOLE PROCESS (wall)'] + [f'{r["wall"]:.1f}' for r in results])
  memory = [[n] + [cell(r, n, 'peak_rss', common.MB, '.0f') for r in results] for n in names]
  memory.append(['WHOLE PROCESS (peak)'] + [f'{r["peak_rss"] / common.MB:.0f}'
                                            for r in results])
  lines = [f'Scaling on {meta["machine_line"]}',
           f'data: python -m data.generator --rows N --spans 1 (seed 42); ours: '
           f'local_runner.py {" ".join(meta.get("ours_args") or [])}'.rstrip(),
           f'load before: {meta["uptime_before"]}',
           f'     after:  {meta["uptime_after"]}', '',
           'wall seconds (MLMD per component)',
           common.format_table(header, seconds), '',
           'peak process-tree RSS, MB (inside each component\'s window)',
           common.format_table(header, memory), '',
           'generation (not counted): ' + ', '.join(
               f'{r["rows"]:,}: {r["generation_seconds"]:.1f} s' for r in results),
           'exit codes: ' + ', '.join(f'{r["rows"]:,}: {r["returncode"]}' for r in results),
           'Beam: ' + ', '.join(f'{r["rows"]:,}: {r.get("beam", "?")}' for r in results)]
  for g in growths:
    lines += ['', f'growth {g["from"]:,} -> {g["to"]:,} rows (x{g["wall"]["rows_factor"]:g} '
              'rows); time factor / row factor (<= 1.0: no faster than linear)']
    rows = [[n, common.fmt(v['factor'], '.2f'), common.fmt(v['vs_linear'], '.2f')]
            for n, v in g['components'].items()]
    rows.append(['WHOLE PROCESS (wall)', common.fmt(g['wall']['factor'], '.2f'),
                 common.fmt(g['wall']['vs_linear'], '.2f')])
    rows.append(['peak RSS', common.fmt(g['peak_rss']['factor'], '.2f'),
                 common.fmt(g['peak_rss']['vs_linear'], '.2f')])
    lines.append(common.format_table(['component', 'time factor', 'vs linear'], rows))
  lines.append('')
  lines += [g.line() for g in goals(results, growths)]
  return '\n'.join(lines)


def _beam_line(log_path: str) -> str:
  try:
    with open(log_path, errors='replace') as f:
      for line in f:
        if line.startswith('Dataset ') and 'Beam' in line:
          return line.split('Beam', 1)[1].strip()
  except OSError:
    pass
  return '?'


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--sizes', default=','.join(map(str, DEFAULT_SIZES)),
                 help='rows per span, comma-separated; 10k, 1m accepted')
  p.add_argument('--ours-arg', action='append', help='extra local_runner.py argument')
  p.add_argument('--work-dir', help='default: a temporary directory')
  p.add_argument('--keep', action='store_true')
  p.add_argument('--sample-seconds', type=float, default=0.5)
  p.add_argument('--timeout', type=float, default=4 * 3600, help='per run, seconds')
  p.add_argument('--json')
  args = p.parse_args(argv)
  sizes = parse_sizes(args.sizes)

  work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix='scaling_'))
  os.makedirs(work, exist_ok=True)
  info = common.machine()
  meta = {'machine': info, 'machine_line': common.describe_machine(info),
          'uptime_before': common.uptime_line(), 'sizes': sizes, 'work_dir': work,
          'ours_args': args.ours_arg}
  print(f'{meta["machine_line"]}\n{meta["uptime_before"]}\nwork dir: {work}', flush=True)
  results = []
  try:
    for rows in sizes:
      data = os.path.join(work, f'data-{rows}')
      t0 = time.perf_counter()
      gen = common.run_measured(
          [common.PYTHON, '-m', 'data.generator', '--out', data, '--rows', str(rows),
           '--spans', '1', '--overwrite', '--quiet'], os.path.join(work, f'gen-{rows}.log'))
      generation = time.perf_counter() - t0
      if gen.returncode != 0:
        print(common.tail(gen.log), file=sys.stderr)
        return 1
      store = os.path.join(work, f'work-{rows}')
      log = os.path.join(work, f'run-{rows}.log')
      print(f'  {rows:,} rows: generated in {generation:.1f} s; running ... ', end='',
            flush=True)
      measured = common.run_measured(
          [common.PYTHON, os.path.join(ROOT, 'local_runner.py'), '--data-root', data,
           '--work-dir', store, '--pipeline-name', NAME, '--allow-unblessed']
          + list(args.ours_arg or []), log, sample_seconds=args.sample_seconds,
          timeout=args.timeout)
      try:
        timings = [common.as_jsonable(t) for t in common.component_timings(
            os.path.join(store, NAME, 'metadata.sqlite'), NAME, measured.samples)]
      except Exception as e:  # pylint: disable=broad-except
        print(f'no MLMD timings: {e}', file=sys.stderr)
        timings = []
      results.append({'rows': rows, 'wall': measured.wall, 'peak_rss': measured.peak_rss,
                      'returncode': measured.returncode, 'components': timings,
                      'generation_seconds': generation, 'beam': _beam_line(log),
                      'load_before': measured.load_before, 'load_after': measured.load_after})
      print(f'{measured.wall:.1f} s wall, peak {measured.peak_rss / common.MB:.0f} MB, '
            f'exit {measured.returncode}, load {measured.load_after}', flush=True)
      if measured.returncode != 0:
        print(common.tail(log), file=sys.stderr)
      shutil.rmtree(data, ignore_errors=True) if not args.keep else None
    meta['uptime_after'] = common.uptime_line()
    growths = growth_rows(results)
    print('\n' + report(results, growths, meta))
    common.write_json(args.json, {
        'meta': meta, 'results': results, 'growth': growths,
        'goals': [dict(common.as_jsonable(g), passed=g.passed)
                  for g in goals(results, growths)]})
    return 0 if all(r['returncode'] == 0 for r in results) else 1
  finally:
    if not args.keep and not args.work_dir:
      shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
  sys.exit(main())
