"""Runs the official TFX Chicago-taxi native-Keras example as shipped.

Nothing is copied from it: its own `_create_pipeline`, its module file and its
data are used from the installed tfx package; only the places it writes to
(pipeline root, metadata, serving dir) move into --root, and the Beam
DirectRunner mode can be switched (its shipped arguments are
multi_processing with --direct_num_workers=0). It runs on BeamDagRunner, as
its `__main__` does, with absl logging at INFO, also as shipped.

  python benchmarks/run_reference.py --root /tmp/ref [--mode in_memory]

Used by side_by_side.py, which runs it in its own process and measures it.
"""

import argparse
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')  # ../shared/STACK.md

PIPELINE_NAME = 'chicago_taxi_native_keras'


def paths(root: str):
  return {
      'pipeline_root': os.path.join(root, 'pipeline_root'),
      'metadata_path': os.path.join(root, 'metadata', 'metadata.db'),
      'serving_model_dir': os.path.join(root, 'serving_model', PIPELINE_NAME),
  }


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', required=True, help='where the run writes')
  parser.add_argument('--mode', choices=['multi_processing', 'in_memory'],
                      default='multi_processing')
  args = parser.parse_args(argv)

  import absl.logging  # pylint: disable=g-import-not-at-top
  from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as reference  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner  # pylint: disable=g-import-not-at-top

  example_dir = os.path.dirname(os.path.abspath(reference.__file__))
  where = paths(os.path.abspath(args.root))
  os.makedirs(os.path.dirname(where['metadata_path']), exist_ok=True)
  beam_args = [f'--direct_running_mode={args.mode}'
               if a.startswith('--direct_running_mode=') else a
               for a in reference._beam_pipeline_args]  # pylint: disable=protected-access
  print(f'reference: {reference.__file__}; Beam {" ".join(beam_args)}', flush=True)

  absl.logging.set_verbosity(absl.logging.INFO)
  BeamDagRunner().run(
      reference._create_pipeline(  # pylint: disable=protected-access
          pipeline_name=PIPELINE_NAME,
          pipeline_root=where['pipeline_root'],
          data_root=os.path.join(example_dir, 'data', 'simple'),
          module_file=os.path.join(example_dir, 'taxi_utils_native_keras.py'),
          metadata_path=where['metadata_path'],
          serving_model_dir=where['serving_model_dir'],
          beam_pipeline_args=beam_args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
