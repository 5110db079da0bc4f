"""python -m cli.loop: months of production, simulated end to end (make loop).

  python -m cli.loop [--work-dir work/loop] [--rows 20000] [--epochs 20] [--small]

Seven months of the default generator's world against a real model server
process (cli.serve on loopback, admin token), delayed labels arriving one
month later: a clean first model, a clean month, data drift, a broken
training configuration, concept drift, its recovery, and a slice the error
analysis asks for (loop/plan.py says what should happen each month). One
progress block per month; at the end a table (month, what happened, what the
system did, what it should have done, agree, ML Metadata lineage ids), also
written as loop.json and loop.html. Exit 0 when every call agrees, 1 when
any does not, 2 when the simulation could not run.
"""

import argparse
import os
import shutil
import sys
from typing import Optional, Sequence

import console

if __name__ == '__main__':
  console.hide_harmless_stderr()

from loop import simulation  # noqa: E402
from loop import table  # noqa: E402
from pipeline import configs  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m cli.loop', description=__doc__.split('\n')[0])
  parser.add_argument('--work-dir', default=os.path.join(configs.DEFAULT_WORK_DIR, 'loop'),
                      help='everything the simulation writes (default: %(default)s)')
  parser.add_argument('--rows', type=int, default=5000,
                      help='labelled applications per month; as many are served (default 5000)')
  parser.add_argument('--epochs', type=int, default=20)
  parser.add_argument('--small', action='store_true',
                      help='a small run: 6-epoch models, fewer slices, floors such models pass')
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--overwrite', action='store_true', help='start over in --work-dir')
  parser.add_argument('--resume', action='store_true',
                      help='continue an interrupted simulation in --work-dir after the '
                           'last month it finished')
  args = parser.parse_args(argv)
  if os.path.exists(args.work_dir) and os.listdir(args.work_dir) and not args.resume:
    if not args.overwrite:
      print(f'error: {args.work_dir} is not empty; pass --overwrite to start over or '
            f'--resume to continue', file=sys.stderr)
      return 2
    shutil.rmtree(args.work_dir)
  settings = simulation.Settings(work_dir=args.work_dir, rows_per_month=args.rows,
                                 epochs=6 if args.small else args.epochs, small=args.small,
                                 seed=args.seed)
  sim = simulation.Simulation(settings, say=lambda text: print(text, flush=True))
  try:
    results = sim.run()
  except (RuntimeError, OSError, ValueError) as e:
    print(f'error: the simulation stopped: {e}', file=sys.stderr)
    return 2
  print('\n' + table.format_table(results))
  paths = table.write(results, sim.root, f'{len(results)} months, {args.rows} rows a month, '
                      f'work dir {sim.root}')
  print(f'\ntable: {paths["json"]}\npage:  {paths["html"]}')
  return 0 if all(r.agrees for r in results) else 1


if __name__ == '__main__':
  sys.exit(main())
