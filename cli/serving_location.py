"""Where the served model lives, for the serving commands (serve, rollout).

--serving-root / --model-name win; otherwise they come from the pipeline's
location (`cli.common`): the Pusher's directory `<work-dir>/<pipeline>/serving/
<pipeline>/<version>/`, served under the pipeline's name.
"""

import argparse
import os
from typing import Tuple

from cli import common


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
  common.add_location_arguments(parser)
  parser.add_argument('--serving-root',
                      help='directory holding <model-name>/<version>/saved_model.pb '
                           '(default: the pipeline\'s Pusher directory)')
  parser.add_argument('--model-name', help='default: the pipeline name')
  return parser


def resolve(args: argparse.Namespace) -> Tuple[str, str]:
  """(serving_root, model_name); raises common.LocationError if neither is known."""
  if args.serving_root and args.model_name:
    return args.serving_root, args.model_name
  model_dir = common.resolve(args).serving_model_dir
  return (args.serving_root or os.path.dirname(model_dir),
          args.model_name or os.path.basename(model_dir))
