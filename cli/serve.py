"""Serve the pushed model versions over REST (see serving.server).

  python -m cli.serve [--serving-root DIR --model-name credit_risk] [--port 8501]

Without --serving-root / --model-name, the pipeline's Pusher directory is
served (cli.common's --work-dir / --pipeline-name). The admin token is taken
from --admin-token-file (read if it exists, else generated into it) or
$SERVING_ADMIN_TOKEN, else generated into <state dir>/admin.token (0600); the
path is printed. SIGTERM / SIGINT shut down gracefully: /readyz turns 503,
in-flight requests finish, the request log is flushed and closed.

The console gets one line per event that matters: the URL it listens on
(always the first line), where the admin token and the full log are, each
version loaded or refused, and each routing change (canary, promotion,
rollback, rejection). Everything else TensorFlow and the server log goes to
the log file (--log-file; default <work-dir>/<pipeline>/logs/serve-<time>.log,
or <state dir>/logs/ with --serving-root); --verbose streams it too.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import console  # noqa: E402
from cli import common  # noqa: E402
from cli import serving_location  # noqa: E402
from serving import metrics as monitoring  # noqa: E402
from serving.admin import TOKEN_ENV  # noqa: E402
from serving.config import Limits  # noqa: E402
from serving.model_store import Contract  # noqa: E402
from serving.router import RoutingError  # noqa: E402
from serving.server import ModelServer  # noqa: E402

_LOG = logging.getLogger(__name__)


def _parse_range(text: str) -> Tuple[str, Any]:
  name, sep, rng = text.partition('=')
  if not sep or ':' not in rng:
    raise argparse.ArgumentTypeError(f'expected NAME=LOW:HIGH, got {text!r}')
  lo, _, hi = rng.partition(':')
  return name, [float(lo) if lo else None, float(hi) if hi else None]


def _parser() -> argparse.ArgumentParser:
  d = Limits()
  p = argparse.ArgumentParser(prog='python -m cli.serve', description=__doc__.split('\n')[0],
                              allow_abbrev=False)
  serving_location.add_arguments(p)
  p.add_argument('--host', default='127.0.0.1')
  p.add_argument('--port', type=int, default=8501, help='0 = an ephemeral port')
  p.add_argument('--admin-host', help='serve the admin API on this address instead')
  p.add_argument('--admin-port', type=int, help='serve the admin API on this port instead')
  p.add_argument('--admin-token-file', help='read the admin token from here (or write a '
                 'generated one here)')
  p.add_argument('--state-dir', help='where <model>.routing.json and admin.token live '
                 '(default: the serving root)')
  p.add_argument('--request-log-dir')
  p.add_argument('--description', help='the served dataset\'s description: personal data '
                 'it marks (pii) is dropped or hashed before a request is logged (default: '
                 'the default description when the model has its name)')
  p.add_argument('--log-fsync-interval-ms', type=float,
                 help='group-commit fsync of the request log every N ms')
  p.add_argument('--log-max-file-bytes', type=int)
  p.add_argument('--feature-ranges', help='JSON {"feature": [lo, hi] | [values]} or a '
                 'TFDV schema .pbtxt')
  p.add_argument('--feature-range', action='append', type=_parse_range, default=[],
                 metavar='NAME=LOW:HIGH')
  p.add_argument('--sticky-field', help='instance field used as request key, e.g. '
                 'application_id')
  p.add_argument('--key-header', default='X-Request-Key')
  p.add_argument('--max-body-bytes', type=int, default=d.max_body_bytes)
  p.add_argument('--max-instances', type=int, default=d.max_instances)
  p.add_argument('--max-json-depth', type=int, default=d.max_json_depth)
  p.add_argument('--max-concurrent-requests', type=int, default=d.max_concurrent_requests)
  p.add_argument('--worker-threads', type=int, default=d.worker_threads)
  p.add_argument('--batch-max-rows', type=int, default=d.batch_max_rows,
                 help='rows of concurrent predicts merged into one model call '
                 '(1: one call per request)')
  p.add_argument('--request-deadline-seconds', type=float, default=d.request_deadline_seconds)
  p.add_argument('--idle-connection-seconds', type=float, default=d.idle_connection_seconds)
  p.add_argument('--drain-seconds', type=float, default=d.drain_seconds)
  p.add_argument('--ready-grace-seconds', type=float, default=d.ready_grace_seconds)
  p.add_argument('--allow-non-finite', action='store_true',
                 help='read NaN/Infinity literals as missing values instead of refusing them')
  p.add_argument('--version-policy', choices=('manual', 'latest'), default='manual')
  p.add_argument('--poll-seconds', type=float, default=None)
  p.add_argument('--settle-seconds', type=float, default=2.0)
  p.add_argument('--smoke-instances', help='JSON file: a list of rows every version must '
                 'answer before serving')
  p.add_argument('--no-contract-check', action='store_true')
  p.add_argument('--log-level', default='INFO', help='of the log file')
  p.add_argument('--log-file', help='the full log (default: see above)')
  p.add_argument('--verbose', action='store_true',
                 help='stream the full log to the console too')
  return p


def _limits(args: argparse.Namespace) -> Limits:
  return Limits(max_body_bytes=args.max_body_bytes, max_instances=args.max_instances,
                max_json_depth=args.max_json_depth,
                max_concurrent_requests=args.max_concurrent_requests,
                worker_threads=args.worker_threads, batch_max_rows=args.batch_max_rows,
                request_deadline_seconds=args.request_deadline_seconds,
                idle_connection_seconds=args.idle_connection_seconds,
                allow_non_finite=args.allow_non_finite, drain_seconds=args.drain_seconds,
                ready_grace_seconds=args.ready_grace_seconds)


def build_server(args: argparse.Namespace) -> ModelServer:
  serving_root, model_name = serving_location.resolve(args)
  ranges: Dict[str, Any] = {}
  if args.feature_ranges:
    ranges.update(monitoring.load_feature_ranges(args.feature_ranges))
  ranges.update(dict(args.feature_range))
  smoke = None
  if args.smoke_instances:
    with open(args.smoke_instances, encoding='utf-8') as f:
      smoke = json.load(f)
  return ModelServer(
      serving_root, model_name, host=args.host, port=args.port, limits=_limits(args),
      request_log_dir=args.request_log_dir, log_fsync_interval_ms=args.log_fsync_interval_ms,
      log_max_file_bytes=args.log_max_file_bytes, feature_ranges=ranges,
      sticky_field=args.sticky_field, key_header=args.key_header,
      contract=None if args.no_contract_check else Contract(), smoke_instances=smoke,
      version_policy=args.version_policy, settle_seconds=args.settle_seconds,
      poll_seconds=args.poll_seconds, admin_token=os.environ.get(TOKEN_ENV) or None,
      admin_token_file=args.admin_token_file, admin_host=args.admin_host,
      admin_port=args.admin_port, state_dir=args.state_dir,
      pii_redactor=_pii_redactor(args, model_name))


def _pii_redactor(args: argparse.Namespace, model_name: str):
  """The description's PII treatment for the request log (None: no description)."""
  import description  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  path = args.description
  if path is None:
    default = description.load(configs.DEFAULT_DESCRIPTION)
    if default.name != model_name:
      if args.request_log_dir:
        # Model inputs are never personal data (the description keeps PII out of
        # them), but a personal request key (--sticky-field) would be logged raw.
        print(f'warning: no --description for model {model_name!r}: its `pii` section '
              f'cannot be applied to the request log (a personal --sticky-field or '
              f'key header would be written as sent)', file=sys.stderr, flush=True)
      return None
    return description.redactor(default)
  return description.redactor(description.load(path))


def _log_file(args: argparse.Namespace) -> str:
  if args.log_file:
    return args.log_file
  serving_root, _ = serving_location.resolve(args)
  # The pipeline's serving root is <work-dir>/<pipeline>/serving: its logs
  # sit beside the runner's, in <work-dir>/<pipeline>/logs.
  directory = (args.state_dir or serving_root if args.serving_root
               else os.path.dirname(os.path.abspath(serving_root)))
  return console.log_path(directory, 'serve')


class _VersionEvents(logging.Handler):
  """The server's own records at INFO and above (versions loaded, refused,
  failures) on the console, one line each. Lines of the start-up scan are
  held until show_held(): the listening URL must stay the first line."""

  def __init__(self, con: console.Console):
    super().__init__(level=logging.INFO)
    self.con = con
    self._held: Optional[List[str]] = []
    self._lock = threading.Lock()

  def emit(self, record: logging.LogRecord) -> None:
    if not record.name.startswith('serving') or self.con.verbose:
      return  # verbose streams every record already
    text = record.getMessage()
    if record.levelno >= logging.WARNING:
      self.con.warn(f'{record.levelname}: {text} (details: {self.con.log_path})')
      return
    with self._lock:
      if self._held is not None:
        self._held.append(text)
        return
    self.con.say(text)

  def show_held(self) -> None:
    with self._lock:
      held, self._held = self._held or [], None
    for text in held:
      self.con.say(text)


def describe_routing(old, new) -> str:
  """One line for a routing change: what now serves, and what was refused."""
  parts = [f'labels {dict(new.labels)}']
  if new.canary_weight:
    parts.append(f'canary {new.canary_weight:g}%')
  if new.shadow_version is not None:
    parts.append(f'shadow version {new.shadow_version}')
  if new.promoted is not None and new.promoted != old.promoted:
    parts.append(f'promoted version {new.promoted} to stable')
  for version, why in new.rejected.items():
    if version not in old.rejected:
      parts.append(f'REJECTED version {version}: {why}')
  return f'routing ({new.reason}): ' + ', '.join(parts)


def _watch_routing(server: ModelServer, name: str, con: console.Console,
                   stop: threading.Event, seconds: float = 0.5) -> None:
  """Polls the routing state: the server reports changes to metrics only."""
  old = server.routing_state(name)
  while not stop.wait(seconds):
    new = server.routing_state(name)
    if new.generation != old.generation:
      con.say(describe_routing(old, new))
      old = new


def main(argv: Optional[List[str]] = None) -> int:
  args = _parser().parse_args(argv)
  try:
    log_file = _log_file(args)
  except common.LocationError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  with console.capture(log_file, verbose=args.verbose,
                       level=getattr(logging, args.log_level.upper())) as con:
    events = _VersionEvents(con)
    logging.getLogger().addHandler(events)
    try:
      return _serve(args, con, events)
    finally:
      logging.getLogger().removeHandler(events)


def _serve(args: argparse.Namespace, con: console.Console, events: _VersionEvents) -> int:
  try:
    server = build_server(args)
  except (common.LocationError, RoutingError, ValueError, OSError) as e:
    con.warn(f'error: {e}')
    return 2
  name = server.model_names()[0]
  state = server.routing_state(name)
  token_note = (f'admin token in {server.admin_token_path}' if server.admin_token_path
                else f'admin token from ${TOKEN_ENV}')
  # The first line: scripts and tests read the URL from it.
  con.say(f'serving model {name} on {server.url} (labels {dict(state.labels)}, canary '
          f'weight {state.effective_weight()}%; admin API on {server.admin_url}, '
          f'{token_note})')
  con.say(f'full log: {con.log_path}')
  events.show_held()
  stop_watching = threading.Event()
  threading.Thread(target=_watch_routing, args=(server, name, con, stop_watching),
                   name='routing-watch', daemon=True).start()

  def _stop(signum, frame):
    del frame
    _LOG.info('signal %d: draining and shutting down', signum)
    con.say(f'signal {signum}: draining and shutting down')
    server.stop_serving()

  signal.signal(signal.SIGTERM, _stop)
  signal.signal(signal.SIGINT, _stop)
  try:
    server.serve_forever()
  finally:
    stop_watching.set()
    server.shutdown()
  con.say('stopped')
  return 0


if __name__ == '__main__':
  sys.exit(main())
