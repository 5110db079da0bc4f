"""Roll a candidate model version out behind guardrails (see rollout.engine).

  python -m cli.rollout --candidate 1732262400 --replay held_out.csv \\
      [--serving-root DIR --model-name credit_risk] [--labels outcomes.csv] \\
      [--server-url http://127.0.0.1:8501] [--allow-non-loopback] [--out DIR]

Without --server-url a server is started in-process over the serving root.
With it, the admin token comes from $SERVING_ADMIN_TOKEN or --admin-token-file
(the file the server wrote at start), never from the command line, where
every local user could read it. With --out, the candidate is audited per
slice at the description's rollout.pause_at_step (audit.html in --out) and,
when its rollout.signoff asks, paused there for `python -m cli.signoff`.

The rollout is recorded in ML Metadata (rollout.signoff_record.record_rollout:
a CommandLineRollout execution that used the candidate's PushedModel and
produced a RolloutDecision), so a sign-off of its pause, like every other
decision, is recorded with it: in --metadata, else in the pipeline's store
when the serving location is the pipeline's (no --serving-root). Without a
store a rollout whose description asks for sign-offs is refused, unless
--no-metadata says on purpose that nothing is recorded.
Exit code 0: promoted or already stable; 1: rolled back; 2: the rollout could
not run; 3: paused, awaiting a sign-off.
"""

import argparse
import glob
import json
import logging
import os
import sys
from typing import List, Optional

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import description
from description import rollout_policy
from cli import common
from cli import serving_location
from rollout import replay
from rollout import report
from rollout import signoff as signoff_lib
from rollout import signoff_decision
from rollout import signoff_record
from rollout.config import (ALREADY_STABLE, AWAITING_SIGNOFF, CANARY_MODE, DEFAULT_CONCURRENCY,
                            DEFAULT_LEASE_SECONDS, DEFAULT_STEPS, PROMOTED, SHADOW_MODE, RolloutConfig,
                            RolloutError, thresholds_for)
from rollout.engine import run_rollout

TOKEN_ENV = 'SERVING_ADMIN_TOKEN'


def _parser() -> argparse.ArgumentParser:
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  p = argparse.ArgumentParser(prog='python -m cli.rollout', description=__doc__.split('\n')[0],
                              allow_abbrev=False)
  serving_location.add_arguments(p)
  p.add_argument('--candidate', type=int, required=True, help='the version to roll out')
  p.add_argument('--replay', required=True,
                 help='held-out rows: a CSV file, a directory of CSVs (a span), or an '
                      'ExampleGen split directory of gzipped TFRecords')
  p.add_argument('--labels', help='delayed labels: a CSV with the id and label columns, '
                 'joined to the replayed requests by id (default: the replay rows\' labels)')
  p.add_argument('--server-url', help='reach this server (default: start one in-process)')
  p.add_argument('--allow-non-loopback', action='store_true',
                 help='allow a --server-url that is not on loopback (a remote server)')
  p.add_argument('--admin-token-file', help=f'file holding the admin token (default: '
                 f'${TOKEN_ENV})')
  p.add_argument('--description', default=os.path.join(repo, 'data', 'descriptions',
                                                       'credit_risk.yaml'))
  p.add_argument('--steps', default=','.join(f'{s:g}' for s in DEFAULT_STEPS))
  p.add_argument('--mode', default='auto', choices=('auto', CANARY_MODE, SHADOW_MODE))
  p.add_argument('--thresholds', help='JSON object of guardrail thresholds')
  p.add_argument('--lease-seconds', type=float, default=DEFAULT_LEASE_SECONDS,
                 help='the canary weight falls back to 0 unless renewed within this')
  p.add_argument('--max-rows', type=int, default=5000)
  p.add_argument('--max-seconds-per-step', type=float, default=300.0)
  p.add_argument('--concurrency', type=int, default=DEFAULT_CONCURRENCY)
  p.add_argument('--request-log-dir')
  p.add_argument('--out', help='write rollout.json/.png/.html here')
  p.add_argument('--no-metadata', action='store_true',
                 help='record the rollout (and its sign-off) in no ML Metadata store')
  p.add_argument('--log-level', default='INFO')
  return p


def _admin_token(args: argparse.Namespace) -> Optional[str]:
  if args.admin_token_file:
    with open(args.admin_token_file, encoding='utf-8') as f:
      return f.read().strip()
  return os.environ.get(TOKEN_ENV) or None


def _store(args: argparse.Namespace) -> Optional[str]:
  """The ML Metadata store the rollout is recorded in (None: none)."""
  if args.no_metadata:
    return None
  if args.metadata:
    return args.metadata
  if args.serving_root:
    return None  # a serving directory of its own: no pipeline's store is implied
  try:
    found = common.resolve(args).metadata_path
  except common.LocationError:
    return None  # e.g. a remote server named by URL, no pipeline here
  return found if os.path.exists(found) else None


def _record_settled(store: Optional[str], settled) -> None:
  """Records an expiry the moment it is settled, before anything else can fail."""
  if store is None or not settled:
    return
  try:
    signoff_record.record(store, settled)
  except (LookupError, OSError) as e:
    print(f'warning: the settled sign-off is not recorded in ML Metadata ({store}): {e}; '
          f'python -m cli.signoff records it later', file=sys.stderr)


def _record(store: Optional[str], result, out: Optional[str], report_html: str,
            serving_root: str) -> None:
  """Records the rollout; a failure is said, not fatal: the rollout happened,
  and its files say what it decided."""
  if store is None:
    return
  try:
    ids = signoff_record.record_rollout(store, result, out or '', serving_root, report_html)
  except (LookupError, OSError) as e:
    print(f'warning: not recorded in ML Metadata ({store}): {e}', file=sys.stderr)
    return
  model = (f'PushedModel {ids["pushed_model"]}' if ids['pushed_model'] else
           'no PushedModel of this version in the store: unlinked to a model')
  print(f'recorded in {store}: RolloutDecision {ids["rollout_decision"]} ({model})')


def main(argv: Optional[List[str]] = None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=args.log_level.upper(),
                      format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  spec = description.load(args.description)
  try:
    if args.server_url and args.model_name:
      serving_root, model_name = args.serving_root, args.model_name
    else:
      serving_root, model_name = serving_location.resolve(args)
    if os.path.isdir(args.replay) and not glob.glob(os.path.join(args.replay, '*.csv')):
      rows = replay.load_replay_examples(args.replay, spec, args.max_rows)
      kind = signoff_lib.REPLAY_EXAMPLES
    else:
      rows = replay.load_replay_csv(args.replay, spec, args.max_rows)
      kind = signoff_lib.REPLAY_CSV
    store = _store(args)
    if (store is None and not args.no_metadata and
        spec.rollout.signoff != rollout_policy.SIGNOFF_NEVER):
      raise RolloutError(
          f'the description asks for sign-offs (rollout.signoff: {spec.rollout.signoff}), '
          f'which are recorded in ML Metadata with the rollout: pass --metadata (the '
          f'pipeline\'s store), or --no-metadata to record nothing')
    plan = (signoff_lib.SignoffPlan(policy=spec.rollout, out_dir=os.path.abspath(args.out),
                                    replay_source=os.path.abspath(args.replay),
                                    replay_kind=kind)
            if args.out and serving_root else None)  # the pause record lives there
    # Every argument is checked before an expired pause is settled: a typo must
    # not leave a rollback behind and nothing else.
    try:
      config = RolloutConfig(
          steps=[float(s) for s in args.steps.split(',')], mode=args.mode,
          thresholds=thresholds_for(spec, json.loads(args.thresholds or '{}')),
          max_requests_per_step=args.max_rows, lease_seconds=args.lease_seconds,
          max_seconds_per_step=args.max_seconds_per_step, concurrency=args.concurrency)
    except (ValueError, TypeError) as e:
      raise RolloutError(f'--steps/--thresholds: {e}') from e
    settled = serving_root and signoff_decision.clear_the_way(
        serving_root, model_name, args.candidate, admin_token=_admin_token(args),
        allow_non_loopback=args.allow_non_loopback)
    if settled:
      print(f'expired sign-off settled first: {settled.summary_line()}')
      _record_settled(store, settled)
    result = run_rollout(model_name, args.candidate, rows, spec, config,
                         server_url=args.server_url, serving_root=serving_root,
                         request_log_dir=args.request_log_dir,
                         admin_token=_admin_token(args),
                         allow_non_loopback=args.allow_non_loopback,
                         replay_source=args.replay,
                         labels=(replay.load_labels_csv(args.labels, spec)
                                 if args.labels else None), signoff=plan)
  except (RolloutError, common.LocationError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  paths = report.write_report(result, args.out) if args.out else {}
  print(result.summary_line())
  _record(store, result, args.out, paths.get('html', ''), serving_root)
  if result.decision == AWAITING_SIGNOFF:
    return 3
  return 0 if result.decision in (PROMOTED, ALREADY_STABLE) else 1


if __name__ == '__main__':
  sys.exit(main())
