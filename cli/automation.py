"""Set or show the automation level of a served model (issue 21, serving/automation.py).

  python -m cli.automation --level partial [--server-url http://127.0.0.1:8501] \\
      [--model-name credit_risk] [--admin-token-file <state dir>/admin.token]
  python -m cli.automation            # shows the level and each version's band

Levels: shadow (the model's answer is only logged; a person decides), assist
(a person decides with the answer as a suggestion), partial (the model decides
the cases at or above the band pushed with the serving version, defers the
rest), full (the model decides everything: the default). The level is an
authenticated admin call on the running server, which saves it in its
routing state, so it holds across restarts. The admin token comes from
--admin-token-file (the file cli.serve printed) or $SERVING_ADMIN_TOKEN,
never from the command line. Exit code 0: done; 2: refused or unreachable.
"""

import argparse
import os
import sys
from typing import List, Optional

from cli import common
from rollout.client import AdminError, ServerClient
from rollout.config import RolloutError
from serving.admin import TOKEN_ENV
from serving.automation import LEVELS


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog='python -m cli.automation',
                              description=__doc__.split('\n')[0], allow_abbrev=False)
  common.add_location_arguments(p)
  p.add_argument('--level', choices=LEVELS, help='the level to set (default: only show it)')
  p.add_argument('--server-url', default='http://127.0.0.1:8501')
  p.add_argument('--model-name', help='default: the pipeline name')
  p.add_argument('--admin-token-file', help=f'file holding the admin token (default: '
                                            f'${TOKEN_ENV})')
  p.add_argument('--allow-non-loopback', action='store_true',
                 help='allow a --server-url that is not on loopback')
  return p


def main(argv: Optional[List[str]] = None) -> int:
  args = _parser().parse_args(argv)
  try:
    model = args.model_name or os.path.basename(common.resolve(args).serving_model_dir)
    token = os.environ.get(TOKEN_ENV) or None
    if args.admin_token_file:
      with open(args.admin_token_file, encoding='utf-8') as f:
        token = f.read().strip()
    client = ServerClient(args.server_url, model, admin_token=token,
                          allow_non_loopback=args.allow_non_loopback)
    try:
      routing = (client.set_automation_level(args.level) if args.level
                 else client.routing())
    finally:
      client.close()
  except (AdminError, RolloutError, common.LocationError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'model {model}: automation level {routing["routing"]["automation_level"]}')
  for version, policy in sorted(routing.get('automation_policies', {}).items()):
    band = ('no band (partial defers every case)' if policy is None else
            f'band {policy["min_confidence"]:.4f}, expected deferral '
            f'{policy["expected_deferral_rate"]:.1%} '
            f'[{policy["expected_deferral_rate_low"]:.1%}, '
            f'{policy["expected_deferral_rate_high"]:.1%}]')
    print(f'  version {version}: {band}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
