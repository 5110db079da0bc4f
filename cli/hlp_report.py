"""python -m cli.hlp_report: the human-level performance tables of a pipeline run.

  python -m cli.hlp_report [--work-dir work | --metadata FILE] [--pipeline-name NAME]
  python -m cli.hlp_report --artifact-dir <HumanLevelPerformance uri> [--table what_to_work_on]
  python -m cli.hlp_report --format html > hlp.html

Without --artifact-dir, the latest HumanLevelPerformance artifact of the
pipeline in ML Metadata (found as every command finds it: cli/common.py).
Exit status 2 when there is no such artifact or table.
"""

import argparse
import json
import sys
from typing import Optional, Sequence

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import reports  # noqa: E402
from analysis import hlp_report  # noqa: E402
from analysis import hlp_view  # noqa: E402
from cli import common  # noqa: E402
from metadata import type_names  # noqa: E402
from metadata import connection  # noqa: E402
from metadata import walks  # noqa: E402

TYPE_NAME = type_names.HUMAN_LEVEL_PERFORMANCE
# Enough of a report for table_specs to list the table names in --help.
_EMPTY = {'meta': {'labelers': [], 'classes': []}, 'tables': {}}


def latest_artifact_uri(metadata_path: str, pipeline_name: Optional[str] = None) -> str:
  """The URI of the newest live HumanLevelPerformance artifact in the store."""
  found = walks.latest_artifact(connection.open_store(metadata_path), TYPE_NAME,
                                pipeline_name)
  if found is None:
    scope = f' of pipeline {pipeline_name!r}' if pipeline_name else ''
    raise LookupError(f'no {TYPE_NAME} artifact{scope} in {metadata_path}: has the '
                      f'pipeline run with the HumanLevelAnalysis component?')
  return found.uri


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m cli.hlp_report', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  common.add_location_arguments(parser)
  parser.add_argument('--artifact-dir', help=f'a {TYPE_NAME} artifact directory '
                      '(instead of the latest in ML Metadata)')
  parser.add_argument('--table', action='append',
                      help='print only this table (repeatable); one of: ' +
                      ', '.join(t.key for t in hlp_view.table_specs(_EMPTY)))
  parser.add_argument('--format', choices=['text', 'html', 'json'], default='text')
  return parser.parse_args(argv)


def _directory(args) -> str:
  if args.artifact_dir:
    return args.artifact_dir
  location = common.resolve(args)
  return latest_artifact_uri(location.metadata_path, location.pipeline_name)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  try:
    directory = _directory(args)
    report = hlp_report.read_report(directory)
  except (FileNotFoundError, LookupError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  known = {t.key for t in hlp_view.table_specs(report)}
  unknown = sorted(set(args.table or ()) - known)
  if unknown:
    print(f'error: unknown table(s) {unknown}; choose from {sorted(known)}', file=sys.stderr)
    return 2
  if args.format == 'json':
    selected = report if not args.table else {k: report['tables'][k] for k in args.table}
    print(json.dumps(selected, indent=1))
  elif args.format == 'html':
    print(reports.render('hlp_report.html.j2', **hlp_view.page(report)))
  else:
    print(f'artifact: {directory}\n')
    print(hlp_view.render_text(report, args.table))
  return 0


if __name__ == '__main__':
  sys.exit(main())
