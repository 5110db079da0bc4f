"""Model monitoring: the live monitor, its alert rules, dashboard, thresholds and report.

  python -m cli.monitor run --log-dir serving/logs [--once] [--port 9108]
  python -m cli.monitor rules --out build/monitoring/rules.yml
  python -m cli.monitor dashboard --out build/monitoring/dashboard.json
  python -m cli.monitor propose --last 20 [--write thresholds.yaml]
  python -m cli.monitor report [--prometheus http://127.0.0.1:9090] [--out monitor.html]

`run` follows the model server's request log (--request-log-dir of
serving.server) beside the server, windows it per model version, measures
inputs, outputs and drift against the training data of each version (found
in ML Metadata under --work-dir / --metadata), writes every window to the
state directory (default <work dir>/<pipeline>/monitor) and exports
Prometheus metrics on --port; --once processes the log as it is and exits.

The description (--description) gives the model, its inputs and classes, and
the optional `monitoring:` section (windows, thresholds; see
description/monitoring.py); the curated schema gives domains and drift
thresholds. `rules` and `dashboard` generate what Prometheus and Grafana
load; `propose` suggests thresholds from the last quiet windows and writes
them (a `thresholds:` mapping for --thresholds) only with --write.

Exit codes: 0 ok, 1 `propose` found differences / `report` found breaches or alerts,
2 errors.
"""

import argparse
import logging
import os
import signal
import sys
from typing import Optional

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import yaml

import description
from cli import common
from description import monitoring as policy_lib
from pipeline import configs

DEFAULT_PORT = 9108


def _schema(args, spec):
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  path = args.schema or configs.curated_schema_path(spec.name)
  if not path:
    raise LookupError(f'no curated schema for {spec.name} (schema/{spec.name}/schema.pbtxt '
                      f'or --schema): domains and drift thresholds live there')
  with open(path) as f:
    # Not TFDV's loader: generating rules should not cost a TensorFlow import.
    return path, text_format.Parse(f.read(), schema_pb2.Schema())


def _policy(args, spec) -> policy_lib.MonitoringPolicy:
  policy = policy_lib.of(spec)
  if getattr(args, 'thresholds', None):
    with open(args.thresholds) as f:
      raw = yaml.safe_load(f) or {}
    policy = policy_lib.check_features(
        policy.with_thresholds(raw.get('thresholds', raw), args.thresholds),
        spec.feature_names, args.thresholds)
  window = {}
  if getattr(args, 'window_records', None):
    window['window_records'] = args.window_records
  if getattr(args, 'window_seconds', None):
    window['window_seconds'] = args.window_seconds
  if window:
    import dataclasses  # pylint: disable=g-import-not-at-top
    policy = dataclasses.replace(policy, **window)
  return policy


def _location(args) -> Optional[common.Location]:
  try:
    return common.resolve(args)
  except common.LocationError:
    return None


def _state_dir(args, spec) -> str:
  if args.state_dir:
    return args.state_dir
  location = _location(args)
  work_dir = location.work_dir if location else os.path.abspath(args.work_dir)
  name = location.pipeline_name if location else spec.name
  return os.path.join(work_dir, name, 'monitor')


def cmd_run(args) -> int:
  from monitoring import exporter as exporter_lib  # pylint: disable=g-import-not-at-top
  from monitoring import monitor as monitor_lib  # pylint: disable=g-import-not-at-top
  from serving import metrics as serving_metrics  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  schema_path, schema = _schema(args, spec)
  metadata_path = args.metadata
  if not metadata_path:
    try:
      metadata_path = common.resolve(args).metadata_path
    except common.LocationError as e:
      print(f'monitor: no training baselines, drift will not be measured: {e}', flush=True)
  settings = monitor_lib.Settings(
      log_dir=args.log_dir, state_dir=_state_dir(args, spec), model=args.model or spec.name,
      spec=spec, schema=schema, domains=serving_metrics.feature_ranges_from_schema(schema_path),
      policy=_policy(args, spec), metadata_path=metadata_path)
  exporter = exporter_lib.Exporter(settings.model, spec.feature_names, spec.classes)
  monitor = monitor_lib.Monitor(settings, exporter)
  monitor.restore_metrics()
  print(f'monitor: {settings.log_dir} -> {settings.state_dir} (windows of '
        f'{settings.policy.window_records} records or {settings.policy.window_seconds:g} s)',
        flush=True)
  if args.once:
    closed = monitor.poll(final=True)
    for r in closed:
      print(f'  {r["model"]}/{r["version"]} window {r["sequence"]}: {r["records"]} records, '
            f'drifted: {", ".join(r["drifted"]) or "none"}'
            + (f' ({r["baseline_note"]})' if r['baseline_note'] else ''))
    print(f'monitor: {len(closed)} window(s), {len(monitor.messages)} message(s)')
    return 0
  from prometheus_client import start_http_server  # pylint: disable=g-import-not-at-top
  server, _ = start_http_server(args.port, addr=args.host, registry=exporter.registry)
  print(f'monitor: metrics on http://{args.host}:{server.server_port}/metrics', flush=True)
  stop = []
  signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
  signal.signal(signal.SIGINT, lambda *_: stop.append(1))
  monitor_lib.run(monitor, args.interval, lambda: bool(stop))
  server.shutdown()
  print('monitor: stopped; open windows resume from the checkpoint', flush=True)
  return 0


def cmd_rules(args) -> int:
  from monitoring import rules as rules_lib  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  _, schema = _schema(args, spec)
  text = rules_lib.to_yaml(rules_lib.generate(
      spec, schema, _policy(args, spec), state_dir=_state_dir(args, spec),
      server_job=args.server_job, monitor_job=args.monitor_job))
  _emit(text, args.out)
  return 0


def cmd_dashboard(args) -> int:
  from monitoring import dashboard as dashboard_lib  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  _, schema = _schema(args, spec)
  _emit(dashboard_lib.to_json(dashboard_lib.generate(
      spec, schema, _policy(args, spec), server_job=args.server_job,
      monitor_job=args.monitor_job)), args.out)
  return 0


def cmd_propose(args) -> int:
  from monitoring import thresholds as thresholds_lib  # pylint: disable=g-import-not-at-top
  from monitoring import rules as rules_lib  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  _, schema = _schema(args, spec)
  current = rules_lib.thresholds(spec, schema, _policy(args, spec))
  proposal = thresholds_lib.propose(_state_dir(args, spec), spec.name, current,
                                    last=args.last, quantile=args.quantile, margin=args.margin)
  print(thresholds_lib.format_diff(proposal))
  if args.write:
    thresholds_lib.write(args.write, proposal)
    print(f'written: {args.write} (use it with --thresholds, or copy it under '
          f'monitoring.thresholds in the description)')
    return 0
  return 1 if proposal.changes else 0


def cmd_report(args) -> int:
  from monitoring import report as report_lib  # pylint: disable=g-import-not-at-top
  from monitoring import rules as rules_lib  # pylint: disable=g-import-not-at-top
  spec = description.load(args.description)
  _, schema = _schema(args, spec)
  state_dir = _state_dir(args, spec)
  out = args.out or os.path.join(state_dir, 'monitor_report.html')
  data = report_lib.build(state_dir, spec.name,
                          rules_lib.thresholds(spec, schema, _policy(args, spec)),
                          prometheus=args.prometheus)
  report_lib.write(out, data)
  print(f'monitor report: {out} ({len(data["windows"])} window(s), {len(data["alarms"])} '
        f'threshold breach(es), {len(data["alerts"])} Prometheus alert(s))')
  return 1 if data['alerts'] or data['alarms'] else 0


def _emit(text: str, out: Optional[str]) -> None:
  if not out:
    sys.stdout.write(text)
    return
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, 'w') as f:
    f.write(text)
  print(f'written: {out}')


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest='command', required=True)

  def command(name, func, help_text):
    p = sub.add_parser(name, help=help_text)
    common.add_location_arguments(p)
    p.add_argument('--description', default=configs.DEFAULT_DESCRIPTION)
    p.add_argument('--schema', help='default: schema/<dataset>/schema.pbtxt')
    p.add_argument('--state-dir', help='default: <work dir>/<pipeline>/monitor')
    p.add_argument('--thresholds', help='YAML of threshold overrides (from `propose`)')
    p.set_defaults(func=func)
    return p

  run = command('run', cmd_run, 'follow the request log')
  run.add_argument('--log-dir', required=True, help='the model server\'s request log')
  run.add_argument('--model', help='default: the dataset name')
  run.add_argument('--once', action='store_true', help='process the log once and exit')
  run.add_argument('--host', default='127.0.0.1')
  run.add_argument('--port', type=int, default=DEFAULT_PORT, help='0 = an ephemeral port')
  run.add_argument('--interval', type=float, default=5.0, help='seconds between polls')
  run.add_argument('--window-records', type=int)
  run.add_argument('--window-seconds', type=float)
  for name, func, text in (('rules', cmd_rules, 'Prometheus alert rules (YAML)'),
                           ('dashboard', cmd_dashboard, 'Grafana dashboard (JSON)')):
    p = command(name, func, text)
    p.add_argument('--out', help='default: standard output')
    p.add_argument('--server-job', default='model-server')
    p.add_argument('--monitor-job', default='model-monitor')
  propose = command('propose', cmd_propose, 'thresholds from the last quiet windows')
  propose.add_argument('--last', type=int, default=20, help='quiet windows to use')
  propose.add_argument('--quantile', type=float, default=0.99)
  propose.add_argument('--margin', type=float, default=1.25,
                       help='factor on the quantile, so a quiet window stays quiet')
  propose.add_argument('--write', help='write the proposed thresholds here (YAML)')
  report = command('report', cmd_report, 'HTML history of every window')
  report.add_argument('--out')
  report.add_argument('--prometheus', help='Prometheus URL: list the alerts it fired')
  return parser


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
  logging.getLogger('absl').setLevel(logging.ERROR)
  try:
    return args.func(args)
  except (LookupError, OSError, ValueError) as e:
    print(f'monitor: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
