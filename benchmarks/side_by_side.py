"""Side by side: the official TFX taxi example and our pipeline, same CSV.

Each round runs, each in its own fresh process and fresh work directory, the
reference (benchmarks/run_reference.py: the installed tfx package's
taxi_pipeline_native_keras as shipped, its module file, its data) and ours
(`local_runner.py --description data/descriptions/taxi.yaml`, which reads
the same data/simple/data.csv out of the installed package). The order
alternates between rounds (reference first in odd rounds, ours first in even
ones) so that drifting machine load does not favour one side.

Measured per run: whole-process wall time (spawn to exit, imports included),
peak RSS summed over the process tree (sampled), per-component times from
each run's ML Metadata (execution create -> end) and each component's peak
tree RSS inside its window. After both runs of a round, outside any timing,
benchmarks/score_auc.py checks the two eval splits are the same examples and
scores both pushed models' AUC on them with the same code and label rule.

Printed: a per-component table, reference vs ours and the ratio ours/reference
(medians over rounds), the AUCs, and pass/fail against the goals: ours' total
wall <= 0.5 x the reference's, AUC no worse, at least the reference's
components. Compare ratios from one invocation: absolute times move with the
machine's load (printed with the results).

  python benchmarks/side_by_side.py [--rounds 2] [--reference-mode in_memory] \\
      [--json out.json] [--work-dir DIR --keep]
"""

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402
from benchmarks import run_reference  # noqa: E402

OURS_NAME = 'chicago_taxi'
DEFAULT_DESCRIPTION = os.path.join('data', 'descriptions', 'taxi.yaml')
WALL_GOAL = 0.5  # ours / reference, whole process
SIDES = ('reference', 'ours')


def run_side(side: str, work: str, args, round_index: int) -> Dict:
  """One measured run in its own process; returns a JSON-able record."""
  root = os.path.join(work, f'round{round_index}', side)
  os.makedirs(root, exist_ok=True)
  log = os.path.join(root, 'run.log')
  if side == 'reference':
    command = [common.PYTHON, os.path.join(ROOT, 'benchmarks', 'run_reference.py'),
               '--root', root, '--mode', args.reference_mode]
    metadata = run_reference.paths(root)['metadata_path']
    pipeline_name = run_reference.PIPELINE_NAME
  else:
    command = [common.PYTHON, os.path.join(ROOT, 'local_runner.py'),
               '--description', args.description, '--work-dir', root,
               '--pipeline-name', OURS_NAME] + list(args.ours_arg or [])
    metadata = os.path.join(root, OURS_NAME, 'metadata.sqlite')
    pipeline_name = OURS_NAME
  print(f'  round {round_index}: {side} ... ', end='', flush=True)
  measured = common.run_measured(command, log, sample_seconds=args.sample_seconds,
                                 timeout=args.timeout)
  record = {
      'side': side, 'round': round_index, 'command': command,
      'returncode': measured.returncode, 'wall': measured.wall,
      'peak_rss': measured.peak_rss, 'peak_processes': measured.peak_processes,
      'load_before': measured.load_before, 'load_after': measured.load_after,
      'log': log, 'metadata': metadata, 'pipeline_name': pipeline_name,
      'components': [], 'error': None,
  }
  # Kept beside the run so --reanalyze can redo the MLMD part later.
  with open(os.path.join(root, 'measured.json'), 'w') as f:
    json.dump(dict(record, samples=measured.samples), f)
  add_timings(record, measured.samples)
  print(f'{measured.wall:.1f} s wall, peak {measured.peak_rss / common.MB:.0f} MB, '
        f'exit {measured.returncode}, load {measured.load_before} -> '
        f'{measured.load_after}', flush=True)
  if measured.returncode not in (0, 2):  # 2: ours ran but did not bless
    print(common.tail(log), file=sys.stderr)
  return record


def add_timings(record: Dict, samples) -> None:
  try:
    timings = common.component_timings(record['metadata'], record['pipeline_name'], samples)
    record['components'] = [common.as_jsonable(t) for t in timings]
    record['error'] = None
  except Exception as e:  # pylint: disable=broad-except
    record['error'] = f'no MLMD timings: {type(e).__name__}: {e}'


def reanalyze(work: str) -> List[Dict]:
  """The runs recorded under an earlier --work-dir, MLMD read again."""
  runs = []
  for path in sorted(glob.glob(os.path.join(work, 'round*', '*', 'measured.json'))):
    with open(path) as f:
      record = json.load(f)
    samples = [tuple(s) for s in record.pop('samples', [])]
    add_timings(record, samples)
    runs.append(record)
  return sorted(runs, key=lambda r: (r['round'], r['side']))


def _uri(record: Dict, node: str, key: str) -> Optional[str]:
  for c in record['components']:
    if c['node_id'] == node and c['outputs'].get(key):
      return c['outputs'][key][-1]
  return None


def score(work: str, round_index: int, reference: Dict, ours: Dict) -> Dict:
  """AUCs of both models on the same eval split (score_auc.py, untimed)."""
  needed = {
      'reference-examples': _uri(reference, 'CsvExampleGen', 'examples'),
      'reference-model': _uri(reference, 'Trainer', 'model'),
      'ours-examples': _uri(ours, 'CsvExampleGen', 'examples'),
      'ours-model': _uri(ours, 'Trainer', 'model'),
  }
  missing = [k for k, v in needed.items() if not v]
  if missing:
    return {'error': f'missing artifacts: {", ".join(missing)}'}
  out = os.path.join(work, f'round{round_index}', 'auc.json')
  command = [common.PYTHON, os.path.join(ROOT, 'benchmarks', 'score_auc.py'), '--json', out]
  for key, value in needed.items():
    command += [f'--{key}', value]
  for key, record in (('reference-evaluation', reference), ('ours-evaluation', ours)):
    uri = _uri(record, 'Evaluator', 'evaluation')
    if uri:
      command += [f'--{key}', uri]
  measured = common.run_measured(command, os.path.join(work, f'round{round_index}',
                                                       'auc.log'))
  if measured.returncode != 0 or not os.path.exists(out):
    return {'error': 'score_auc.py failed:\n' + common.tail(measured.log)}
  with open(out) as f:
    return json.load(f)


# ----------------------------------------------------------------------------
# Aggregation and the printed report (pure; tested in side_by_side_test.py)
# ----------------------------------------------------------------------------

def aggregate(runs: List[Dict]) -> Dict:
  """Medians over rounds per side: wall, peak RSS, each component's seconds/peak."""
  result = {}
  for side in SIDES:
    mine = [r for r in runs if r['side'] == side]
    components: Dict[str, Dict[str, List]] = {}
    for r in mine:
      for c in r['components']:
        slot = components.setdefault(c['node_id'], {'seconds': [], 'peak_rss': [],
                                                    'states': []})
        slot['seconds'].append(c['seconds'])
        slot['peak_rss'].append(c.get('peak_rss'))
        slot['states'].append(c['state'])
    sums = [sum(c['seconds'] for c in r['components']) for r in mine if r['components']]
    result[side] = {
        'rounds': len(mine),
        'wall': common.median([r['wall'] for r in mine]),
        'walls': [r['wall'] for r in mine],
        'peak_rss': common.median([r['peak_rss'] for r in mine]),
        'component_sum': common.median(sums),
        'components': {
            name: {'seconds': common.median(v['seconds']),
                   'peak_rss': common.median(v['peak_rss']),
                   'states': sorted(set(v['states']))}
            for name, v in components.items()},
        'ok': all(r['returncode'] in (0, 2) and not r.get('error') and all(
            c['state'] in ('COMPLETE', 'CACHED') for c in r['components'])
                  for r in mine) and bool(mine),
    }
  return result


def auc_summary(scores: List[Dict]) -> Dict:
  good = [s for s in scores if 'error' not in s]
  if not good:
    return {'error': '; '.join(s.get('error', '?') for s in scores) or 'not scored'}
  ours_eval = [s['ours'].get('evaluator', {}).get('auc[class 1]') for s in good]
  return {
      'reference_auc': common.median([s['reference']['auc'] for s in good]),
      'ours_auc': common.median([s['ours']['auc'] for s in good]),
      'reference_accuracy': common.median([s['reference']['accuracy'] for s in good]),
      'ours_accuracy': common.median([s['ours']['accuracy'] for s in good]),
      'ours_evaluator_auc': common.median(ours_eval),
      'reference_evaluator_accuracy': common.median(
          [s['reference'].get('evaluator', {}).get('binary_accuracy') for s in good]),
      'ours_evaluator_accuracy': common.median(
          [s['ours'].get('evaluator', {}).get('sparse_categorical_accuracy') for s in good]),
      'eval_examples': good[0]['eval_split']['reference_examples'],
      'ours_eval_examples': good[0]['eval_split']['ours_examples'],
      'scored_examples': good[0]['eval_split']['scored_examples'],
      'eval_positives': good[0]['eval_split']['positives'],
      'per_round': [(s['reference']['auc'], s['ours']['auc']) for s in good],
  }


def goals(agg: Dict, aucs: Dict) -> List[common.Goal]:
  ref, ours = agg['reference'], agg['ours']
  missing = sorted(set(ref['components']) - set(ours['components']))
  result = [
      common.Goal('total wall, ours / reference', common.ratio(ours['wall'], ref['wall']),
                  WALL_GOAL),
  ]
  if 'error' not in aucs and aucs.get('ours_auc') is not None:
    result.append(common.Goal(
        'eval AUC, ours - reference (same eval split, same scorer)',
        aucs['ours_auc'] - aucs['reference_auc'], 0.0, higher_is_better=True))
  else:
    result.append(common.Goal('eval AUC, ours - reference', None, 0.0, True))
  result.append(common.Goal(
      f'reference components missing from ours ({", ".join(missing) or "none"})',
      float(len(missing)), 0.0))
  return result


def _mb(value) -> str:
  return common.fmt(None if value is None else value / common.MB, '.0f')


def report(agg: Dict, aucs: Dict, meta: Dict) -> str:
  ref, ours = agg['reference'], agg['ours']
  names = common.ordered(list(ref['components']) + list(ours['components']))
  rows = []
  for name in names:
    r, o = ref['components'].get(name, {}), ours['components'].get(name, {})
    rows.append([name, common.fmt(r.get('seconds')), common.fmt(o.get('seconds')),
                 common.fmt(common.ratio(o.get('seconds'), r.get('seconds')), '.2f'),
                 _mb(r.get('peak_rss')), _mb(o.get('peak_rss')),
                 '/'.join(o.get('states', [])) or '-'])
  rows.append(['sum of components', common.fmt(ref['component_sum']),
               common.fmt(ours['component_sum']),
               common.fmt(common.ratio(ours['component_sum'], ref['component_sum']), '.2f'),
               '', '', ''])
  other = {s: (agg[s]['wall'] - agg[s]['component_sum']
               if agg[s]['wall'] is not None and agg[s]['component_sum'] is not None
               else None) for s in SIDES}
  rows.append(['other (imports, orchestration)', common.fmt(other['reference']),
               common.fmt(other['ours']),
               common.fmt(common.ratio(other['ours'], other['reference']), '.2f'), '', '', ''])
  rows.append(['WHOLE PROCESS (wall)', common.fmt(ref['wall']), common.fmt(ours['wall']),
               common.fmt(common.ratio(ours['wall'], ref['wall']), '.2f'),
               _mb(ref['peak_rss']), _mb(ours['peak_rss']), ''])
  rounds = ref['rounds']
  lines = [
      f'Side by side on {meta.get("machine_line", "?")}',
      f'reference: tfx taxi_pipeline_native_keras as shipped, Beam '
      f'{meta.get("reference_mode")}; ours: local_runner.py --description '
      f'{meta.get("description")} {" ".join(meta.get("ours_args") or [])}'.rstrip(),
      f'rounds: {rounds} (medians shown); load before: {meta.get("uptime_before")}',
      f'                                  after:  {meta.get("uptime_after")}',
      '',
      common.format_table(
          ['component', 'ref s', 'ours s', 'ours/ref', 'ref peak MB', 'ours peak MB',
           'ours state'], rows),
      '  (seconds: MLMD execution create -> end; peak MB: largest process-tree RSS '
      'sample inside the window)',
  ]
  if rounds > 1:
    lines.append(f'  walls per round: reference {[round(w, 1) for w in ref["walls"]]}, '
                 f'ours {[round(w, 1) for w in ours["walls"]]}')
  lines.append('')
  if 'error' in aucs:
    lines.append(f'AUC: not measured ({aucs["error"]})')
  else:
    lines += [
        f'Scored: the {aucs["scored_examples"]} rows ({aucs["eval_positives"]} positive) '
        f'in both eval splits (reference {aucs["eval_examples"]}, ours '
        f'{aucs["ours_eval_examples"]}), matched by value; neither model trained on them.',
        f'AUC on it (same scorer, exact ranks; label tips > 0.2 x fare): '
        f'reference {common.fmt(aucs["reference_auc"], ".4f")}, '
        f'ours {common.fmt(aucs["ours_auc"], ".4f")}; accuracy@0.5: reference '
        f'{common.fmt(aucs["reference_accuracy"], ".4f")}, ours '
        f'{common.fmt(aucs["ours_accuracy"], ".4f")}',
        f'As each Evaluator wrote it: ours AUC (class yes, 1,000 thresholds) '
        f'{common.fmt(aucs["ours_evaluator_auc"], ".4f")}, accuracy '
        f'{common.fmt(aucs["ours_evaluator_accuracy"], ".4f")}; reference: no AUC '
        f'configured, binary_accuracy {common.fmt(aucs["reference_evaluator_accuracy"], ".4f")}',
    ]
  lines.append('')
  lines += [g.line() for g in goals(agg, aucs)]
  if not (ref['ok'] and ours['ok']):
    lines.append('[WARN] a run failed or a component did not complete: '
                 f'reference ok={ref["ok"]}, ours ok={ours["ok"]}')
  return '\n'.join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--rounds', type=int, default=1)
  p.add_argument('--reference-mode', choices=['multi_processing', 'in_memory'],
                 default='multi_processing',
                 help='the reference\'s DirectRunner mode (shipped: multi_processing)')
  p.add_argument('--description', default=DEFAULT_DESCRIPTION,
                 help='our dataset description (default: %(default)s)')
  p.add_argument('--ours-arg', action='append',
                 help='extra argument for local_runner.py (repeatable), e.g. '
                 '--ours-arg=--beam-mode=multi_processing')
  p.add_argument('--only', choices=['both', 'ours', 'reference'], default='both',
                 help='profiling: run one side only (no ratios)')
  p.add_argument('--work-dir', help='default: a temporary directory')
  p.add_argument('--keep', action='store_true', help='keep the work directory')
  p.add_argument('--sample-seconds', type=float, default=0.2)
  p.add_argument('--timeout', type=float, default=3600, help='per run, seconds')
  p.add_argument('--json', help='write all measurements here')
  p.add_argument('--reanalyze', metavar='WORK_DIR',
                 help='run nothing: re-read the runs kept in an earlier --work-dir')
  args = p.parse_args(argv)
  if args.reanalyze:
    args.work_dir = args.reanalyze

  work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix='side_by_side_'))
  os.makedirs(work, exist_ok=True)
  info = common.machine()
  meta = {'machine': info, 'machine_line': common.describe_machine(info),
          'reference_mode': args.reference_mode, 'description': args.description,
          'ours_args': args.ours_arg, 'uptime_before': common.uptime_line(),
          'work_dir': work}
  print(f'{meta["machine_line"]}\n{meta["uptime_before"]}\nwork dir: {work}', flush=True)
  sides = SIDES if args.only == 'both' else (args.only,)
  runs, scores = [], []
  if args.reanalyze:
    runs = reanalyze(work)
    sides = tuple(s for s in SIDES if any(r['side'] == s for r in runs))
    args.only = 'both' if len(sides) == 2 else sides[0]
    loads = '; '.join(f'{r["side"]} r{r["round"]} {r["load_before"]} -> {r["load_after"]}'
                      for r in runs)
    meta['uptime_before'] = meta['uptime_after'] = f'(re-read runs) load averages: {loads}'
    for i in sorted({r['round'] for r in runs}):
      done = {r['side']: r for r in runs if r['round'] == i}
      if len(done) == 2:
        scores.append(score(work, i, done['reference'], done['ours']))
  try:
    for i in range(1, 0 if args.reanalyze else args.rounds + 1):
      order = sides if i % 2 else tuple(reversed(sides))
      done = {side: run_side(side, work, args, i) for side in order}
      runs += done.values()
      if len(done) == 2:
        scores.append(score(work, i, done['reference'], done['ours']))
        if 'error' in scores[-1]:
          print(f'  AUC: {scores[-1]["error"]}', file=sys.stderr)
    if not args.reanalyze:
      meta['uptime_after'] = common.uptime_line()
    agg = aggregate(runs)
    aucs = auc_summary(scores)
    if args.only == 'both':
      print('\n' + report(agg, aucs, meta))
    else:
      side = agg[args.only]
      rows = [[n, common.fmt(side['components'][n]['seconds']),
               _mb(side['components'][n]['peak_rss'])]
              for n in common.ordered(side['components'])]
      rows.append(['WHOLE PROCESS (wall)', common.fmt(side['wall']), _mb(side['peak_rss'])])
      print(f'\n{args.only} only, {meta["uptime_after"]}\n' +
            common.format_table(['component', 'seconds', 'peak MB'], rows))
    payload = {'meta': meta, 'runs': runs, 'aggregate': agg, 'auc': aucs,
               'scores': scores}
    if args.only == 'both':
      payload['goals'] = [dict(common.as_jsonable(g), passed=g.passed)
                          for g in goals(agg, aucs)]
    common.write_json(args.json, payload)
    ok = all(agg[s]['ok'] for s in sides)
    return 0 if ok else 1
  finally:
    if not args.keep and not args.work_dir:
      shutil.rmtree(work, ignore_errors=True)
    elif args.keep or args.work_dir:
      print(f'work dir kept: {work}')


if __name__ == '__main__':
  sys.exit(main())
