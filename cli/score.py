"""Scores a CSV, or a directory of CSVs of any size, with a pushed model.

  python -m cli.score --input applications.csv --out scored.csv
  python -m cli.score --input monthly/ --out scored.csv --version 1732262400
  python -m cli.score --input gs://b/in/ --out gs://b/scored.csv \\
      --serving-dir /models/credit_risk --runner=DataflowRunner \\
      --project=P --region=R --setup_file=./setup.py

The model is the stable one of the pipeline's serving directory (the version
the last rollout promoted, else the newest pushed), or `--version N`. Written:
OUT with the id column, the predicted class, every class's probability and
the model version; OUT's name with `.rejects.csv` for the rows that could not
be scored, each with file, line, column and reason. A file that breaks the
dataset description is refused (exit 1) before anything is written. Any
argument this command does not know goes to Apache Beam. On a distributed
runner every worker loads the model through the model server's store, which
reads a local directory: the serving directory must exist at the same path on
the workers (the worker image, or a shared mount); inputs and outputs may be
on any file system TensorFlow reads (gs://, s3://).
"""

import argparse
import sys
from typing import List, Optional

import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import description
from cli import common
from pipeline import configs
from scoring import job
from scoring import predict
from scoring import versions
from serving import model_store
from validation import csv_checks

def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--input', required=True, help='a CSV file, a directory of *.csv, '
                      'or a glob pattern')
  parser.add_argument('--out', required=True, help='the output CSV')
  parser.add_argument('--rejects', help='the rejects CSV (default: OUT.rejects.csv)')
  parser.add_argument('--version', type=int, help='score with this version, not the stable one')
  parser.add_argument('--serving-dir', help='<serving root>/<model>: where the Pusher pushes '
                      '(default: the pipeline\'s, from --work-dir / --pipeline-name)')
  parser.add_argument('--description', help='dataset description YAML; its name is the '
                      'pipeline\'s unless --pipeline-name says otherwise (default: %s)'
                      % configs.DEFAULT_DESCRIPTION)
  parser.add_argument('--batch-size', type=int, default=job.DEFAULT_BATCH_SIZE,
                      help='rows per call of the model (default: %(default)s)')
  return common.add_location_arguments(parser)


def _spec(args: argparse.Namespace) -> description.DatasetSpec:
  return description.load(args.description or configs.DEFAULT_DESCRIPTION)


def _serving_dir(args: argparse.Namespace, spec: description.DatasetSpec) -> str:
  if args.serving_dir:
    return args.serving_dir
  if args.description and not args.pipeline_name and not args.metadata:
    args.pipeline_name = spec.name  # local_runner names the pipeline after the dataset
  return common.resolve(args).serving_model_dir


def _default_beam_args() -> List[str]:
  """Beam's local runner in this process, whatever the input's size.

  Unlike the pipeline's TFX components, worker processes do not pay here: on
  100,000 rows (2 cores) in-memory took 31 s, two worker processes 58 s, each
  importing TensorFlow and loading the model while the model's own work is
  under a second (benchmarks/batch_scoring.py). TensorFlow already uses every
  core for the model; the Python reading is what one process serialises.
  """
  return ['--runner=FnApiRunner', '--direct_running_mode=in_memory',
          '--direct_num_workers=1']


def main(argv: Optional[List[str]] = None) -> int:
  args, beam_args = _parser().parse_known_args(argv)
  try:
    spec = _spec(args)
    version = versions.resolve(_serving_dir(args, spec), args.version)
    result = job.run(args.input, args.out, spec, version,
                     beam_args=beam_args or _default_beam_args(),
                     rejects=args.rejects, batch_size=max(1, args.batch_size))
  except (csv_checks.InputDataError, description.DatasetSpecError, common.LocationError,
          versions.VersionError, predict.ModelMismatchError,
          model_store.ModelLoadError) as e:
    print(f'cli.score: {e}', file=sys.stderr)
    return 1
  print(result.summary())
  return 0


if __name__ == '__main__':
  sys.exit(main())
