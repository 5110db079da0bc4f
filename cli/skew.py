"""python -m cli.skew: training/serving skew of serving data (validation/skew.py).

  python -m cli.skew --serving requests.csv [--work-dir work | --metadata FILE]
  python -m cli.skew --request-log serving/logs [--model M --version V]
  python -m cli.skew --serving requests.csv \\
      --statistics <ExampleStatistics uri> [--examples <Examples uri>]

The training side is found in ML Metadata (the data the latest pushed model
was trained on, else the latest span the data gate passed) unless
--statistics names it. The pipeline is the one the description names unless
--pipeline-name says otherwise. Exit code 0 if no skew was found, 1 if some
was, 2 on errors.
"""

import argparse
import logging
import os
import sys
from typing import List

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import tensorflow_data_validation as tfdv  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402

import description  # noqa: E402
from cli import common  # noqa: E402
from pipeline import configs  # noqa: E402
from validation import csv_checks  # noqa: E402
from validation import report as vr  # noqa: E402
from validation import skew  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog='python -m cli.skew', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--serving', help='a CSV of serving requests')
  source.add_argument('--request-log', help='the model server\'s request log directory')
  parser.add_argument('--model', help='request log: only this model')
  parser.add_argument('--version', help='request log: only this model version')
  parser.add_argument('--description', default=configs.DEFAULT_DESCRIPTION)
  common.add_location_arguments(parser)
  parser.add_argument('--statistics', help='training ExampleStatistics artifact uri '
                      '(instead of finding it in ML Metadata)')
  parser.add_argument('--examples', help='training Examples artifact uri (feature skew)')
  parser.add_argument('--schema', help='default: schema/<dataset>/schema.pbtxt')
  parser.add_argument('--report-dir', help='default: <work dir>/<pipeline>/skew_report')
  return parser.parse_args(argv)


def _training_side(args, location: common.Location):
  if args.statistics:
    statistics = skew.artifact_at(standard_artifacts.ExampleStatistics, args.statistics)
    examples = (skew.artifact_at(standard_artifacts.Examples, args.examples)
                if args.examples else None)
    return statistics, examples, f'--statistics {args.statistics}'
  return skew.training_artifacts(location.metadata_path)


def _serving_side(args, spec, problems: List[csv_checks.Problem]):
  if args.serving:
    return skew.examples_from_csv(args.serving, spec, problems), args.serving
  filters = {k: v for k, v in (('model', args.model), ('version', args.version)) if v}
  return (skew.examples_from_request_log(args.request_log, spec, problems, **filters),
          args.request_log)


def main(argv=None) -> int:
  args = parse_args(argv)
  # Beam's notes about type hints of TFDV's transforms are not for users.
  logging.getLogger().setLevel(logging.ERROR)
  try:
    spec = description.load(args.description)
    args.pipeline_name = args.pipeline_name or spec.name
    location = common.resolve(args)
    schema_path = args.schema or configs.curated_schema_path(spec.name)
    if not schema_path:
      raise LookupError(f'no curated schema for {spec.name}: the SERVING environment '
                        f'and skew thresholds live there (cli/schema_tool.py)')
    schema = tfdv.load_schema_text(schema_path)
    statistics, examples, how = _training_side(args, location)
    problems: List[csv_checks.Problem] = []
    serving, source_name = _serving_side(args, spec, problems)
    if not serving:
      raise ValueError(f'no serving examples in {source_name}')
    report = skew.check(serving, problems, statistics, examples, schema, spec, source_name)
  except (LookupError, OSError, ValueError) as e:
    print(f'skew: {e}', file=sys.stderr)
    return 2
  report.notes.insert(0, f'training data: {how} ({statistics.uri})')
  vr.write(report, args.report_dir or os.path.join(
      location.work_dir, location.pipeline_name, 'skew_report'))
  print(report.to_text())
  return 1 if report.findings else 0


if __name__ == '__main__':
  sys.exit(main())
