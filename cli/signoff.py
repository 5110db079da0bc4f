"""Decide on a rollout paused for its audit sign-off (see rollout.signoff).

  python -m cli.signoff status
  python -m cli.signoff approve --reviewer NAME --reason TEXT [--candidate V]
  python -m cli.signoff reject  --reviewer NAME --reason TEXT [--candidate V]
  python -m cli.signoff expire      # roll back a pause whose deadline passed (cron)

Where: the serving location (--serving-root/--model-name, or the pipeline's
via --work-dir/--metadata/--pipeline-name); the decision is recorded in that
pipeline's ML Metadata store (rollout.signoff_record) with the paused
rollout: a pipeline's CanaryRollout, or a `cli.rollout` recorded in the same
store; --no-metadata only for a rollout recorded nowhere (cli.rollout
--no-metadata). Every call first records the expiries a pipeline run settled
but could not record (rollout.signoff_record.record_settled). Approving continues the
remaining steps against the paused rollout's server (or an in-process one over
the serving root); with a remote server the admin token comes from
$SERVING_ADMIN_TOKEN or --admin-token-file. Exit code 0: promoted (or, for
status, a pause is pending); 1: rolled back (or nothing pending); 2: no
decision could be taken; 3: decided, but not recorded in ML Metadata (the
decision file says what was decided).
"""

import argparse
import logging
import os
import sys
from typing import List, Optional

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

from cli import common
from cli import serving_location
from metadata import connection
from rollout import signoff as signoff_lib
from rollout import signoff_decision
from rollout import signoff_record
from rollout.config import PROMOTED, RolloutError

TOKEN_ENV = 'SERVING_ADMIN_TOKEN'


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog='python -m cli.signoff', description=__doc__.split('\n')[0],
                              allow_abbrev=False)
  p.add_argument('action', choices=('status', signoff_decision.APPROVE,
                                    signoff_decision.REJECT, 'expire'))
  serving_location.add_arguments(p)
  p.add_argument('--reviewer', default='', help='who decides (required to approve/reject)')
  p.add_argument('--reason', default='', help='why (required to approve/reject)')
  p.add_argument('--candidate', type=int, help='refuse unless this version is the one paused')
  p.add_argument('--no-metadata', action='store_true',
                 help='do not record in ML Metadata (a pause made outside a pipeline)')
  p.add_argument('--admin-token-file', help=f'admin token of a remote server (default '
                 f'${TOKEN_ENV})')
  p.add_argument('--allow-non-loopback', action='store_true')
  p.add_argument('--log-level', default='WARNING')
  return p


def _admin_token(args) -> Optional[str]:
  if args.admin_token_file:
    with open(args.admin_token_file, encoding='utf-8') as f:
      return f.read().strip()
  return os.environ.get(TOKEN_ENV) or None


def _status(pause: signoff_lib.Pause) -> str:
  return '\n'.join([
      f'{pause.model} candidate {pause.candidate} (stable {pause.stable}) paused at step '
      f'{pause.step} ({pause.weight:g}%) since {pause.paused_at}',
      f'  sign-off required: {pause.required_by}; regressed slices: '
      f'{", ".join(pause.regressed) or "none"}',
      f'  audit report {pause.audit_html} sha256 {pause.audit_sha256}',
      f'  deadline {pause.deadline_iso}; steps left {pause.remaining_steps}'])


def _record_settled(args) -> None:
  """Expiries a pipeline's CanaryRollout settled but could not record (see
  rollout.signoff_record.record_settled): recorded now, whatever the action."""
  try:
    metadata = common.resolve(args).metadata_path
    for ids in signoff_record.record_settled(metadata):
      print(f'recorded an expired sign-off in {metadata}: SignOff execution '
            f'{ids["execution"]}')
  except (RolloutError, common.LocationError, LookupError, OSError) as e:
    print(f'warning: expired sign-offs not recorded: {e}', file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=args.log_level.upper())
  if not args.no_metadata:
    _record_settled(args)
  try:
    serving_root, model = serving_location.resolve(args)
    pause = signoff_decision.pending(serving_root, model, args.candidate)
  except (RolloutError, common.LocationError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1 if args.action == 'status' else 2
  if args.action == 'status':
    print(_status(pause))
    return 0
  metadata = None
  try:
    if not args.no_metadata:
      # Before anything changes: a decision that cannot be recorded is not taken.
      metadata = common.resolve(args).metadata_path
      signoff_record.find_paused(connection.open_store(metadata), pause.decision_dir)
    verdict = 'expired' if args.action == 'expire' else args.action
    decision = signoff_decision.decide(
        serving_root, model, verdict, args.reviewer, args.reason, candidate=args.candidate,
        admin_token=_admin_token(args), allow_non_loopback=args.allow_non_loopback)
  except (RolloutError, common.LocationError, LookupError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(decision.summary_line())
  print(f'decision file {decision.record_path}')
  if metadata:
    try:
      ids = signoff_record.record(metadata, decision)
      print(f'recorded in {metadata}: SignOff execution {ids["execution"]}')
    except (LookupError, OSError) as e:
      print(f'error: decided but not recorded in ML Metadata: {e}', file=sys.stderr)
      return 3
  return 0 if decision.outcome == PROMOTED else 1


if __name__ == '__main__':
  sys.exit(main())
