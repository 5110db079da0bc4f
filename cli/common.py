"""What every command shares: which work directory, store and pipeline it reads.

  --work-dir       local_runner.py's --work-dir (default ./work)
  --metadata       an ML Metadata SQLite file (default <work-dir>/<pipeline>/metadata.sqlite)
  --pipeline-name  the pipeline in that store

Without --pipeline-name the pipeline is found, not assumed: the only pipeline
under the work directory (or in the --metadata store), else the default
dataset's pipeline when it is one of several, else an error listing them. A
user who ran only their own dataset never has to type its name.
"""

import argparse
import dataclasses
import glob
import os
from typing import List, Optional

import description
from metadata import connection
from pipeline import configs

METADATA_FILE = 'metadata.sqlite'
PIPELINE_CONTEXT_TYPE = 'pipeline'


class LocationError(LookupError):
  """The work directory or store does not say which pipeline; the message lists them."""


@dataclasses.dataclass(frozen=True)
class Location:
  work_dir: str
  pipeline_name: str
  metadata_path: str

  @property
  def pipeline_root(self) -> str:
    return configs.pipeline_root(self.work_dir, self.pipeline_name)

  @property
  def serving_model_dir(self) -> str:
    return configs.serving_model_dir(self.work_dir, self.pipeline_name)


def add_location_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
  parser.add_argument('--work-dir', default=configs.DEFAULT_WORK_DIR,
                      help='local_runner.py --work-dir (default: %(default)s)')
  parser.add_argument('--metadata', help='ML Metadata SQLite file (overrides --work-dir)')
  parser.add_argument('--pipeline-name',
                      help='default: the only pipeline in the work directory or store')
  return parser


def pipelines_in_work_dir(work_dir: str) -> List[str]:
  return sorted(os.path.basename(os.path.dirname(p))
                for p in glob.glob(os.path.join(work_dir, '*', METADATA_FILE)))


def pipelines_in_store(metadata_path: str) -> List[str]:
  store = connection.open_store(metadata_path)
  return sorted(c.name for c in store.get_contexts_by_type(PIPELINE_CONTEXT_TYPE))


def _default_pipeline_name() -> Optional[str]:
  try:
    return description.load(configs.DEFAULT_DESCRIPTION).name
  except description.DatasetSpecError:
    return None


def _choose(found: List[str], where: str) -> str:
  if len(found) == 1:
    return found[0]
  default = _default_pipeline_name()
  if default in found:
    return default
  if not found:
    raise LocationError(f'no pipeline has run in {where}: run local_runner.py first, '
                        f'or pass --work-dir / --metadata')
  raise LocationError(f'{where} holds several pipelines ({", ".join(found)}): '
                      f'pass --pipeline-name')


def resolve(args: argparse.Namespace) -> Location:
  """The location the arguments name; LocationError when it cannot be told."""
  work_dir = os.path.abspath(args.work_dir)
  name = args.pipeline_name
  if args.metadata:
    if not os.path.exists(args.metadata):
      raise LocationError(f'no metadata store at {args.metadata}')
    name = name or _choose(pipelines_in_store(args.metadata), args.metadata)
    return Location(work_dir, name, args.metadata)
  name = name or _choose(pipelines_in_work_dir(work_dir), work_dir)
  return Location(work_dir, name, configs.metadata_path(work_dir, name))
