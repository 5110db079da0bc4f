"""The Trainer's run_fn alone on a kept run's Transform outputs, timed by phase.

Calls models.model.run_fn (the code the pipeline's Trainer runs) with the
train/eval args and custom config of the run's own Trainer execution in ML
Metadata, and prints its wall time, its phases (sanity check, fit, export)
and Keras's line per epoch. Same inputs, same code -> the same losses, so
two checkouts can be compared epoch by epoch.

  python benchmarks/profile_trainer.py --run WORK/credit_risk

--run: a pipeline directory of a kept run (scaling.py --keep, side_by_side.py
--keep): the one holding metadata.sqlite and pipeline_root/.
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # pylint: disable=wrong-import-position


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--run', required=True, help='pipeline directory of a kept run')
  args = p.parse_args(argv)

  from tfx.components.trainer import fn_args_utils
  from tfx.types import artifact_utils, standard_artifacts
  from models import model

  run = common.kept_run(args.run)
  props = common.execution_properties(args.run, 'Trainer')
  examples = standard_artifacts.Examples()
  examples.uri = common.output_uri(run, 'Transform', 'transformed_examples')
  examples.split_names = artifact_utils.encode_split_names(['train', 'eval'])
  graph = standard_artifacts.TransformGraph()
  graph.uri = common.output_uri(run, 'Transform', 'transform_graph')
  schema = standard_artifacts.Schema()
  schema.uri = common.output_uri(run, 'SchemaGen', 'schema')
  out = tempfile.mkdtemp(prefix='profile_trainer_')
  fn_args = fn_args_utils.get_common_fn_args(
      {'examples': [examples], 'transform_graph': [graph], 'schema': [schema]},
      {k: props[k] for k in ('train_args', 'eval_args', 'custom_config')},
      working_dir=out)
  fn_args.serving_model_dir = os.path.join(out, 'serving')
  fn_args.model_run_dir = os.path.join(out, 'run')
  # What TFX's Trainer executor adds to the common FnArgs.
  fn_args.transform_output = fn_args.transform_graph_path
  os.makedirs(fn_args.model_run_dir)

  started = time.perf_counter()
  model.run_fn(fn_args)
  seconds = time.perf_counter() - started
  with open(os.path.join(fn_args.model_run_dir, 'phase_seconds.json')) as f:
    phases = json.load(f)
  print(f'run_fn {seconds:.1f} s; phases (s): {phases}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
