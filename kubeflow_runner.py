"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) and optionally submits it.

  python kubeflow_runner.py --image REGISTRY/tfx-e2e-pipeline:TAG \\
      --pipeline-root gs://BUCKET/tfx --data-root gs://BUCKET/data/credit_risk
  python kubeflow_runner.py ... --submit --host https://KFP_HOST [--wait 7200]

The same create_pipeline() local_runner.py runs, compiled by TFX's
KubeflowV2DagRunner into a KFP v2 pipeline definition (YAML, pipeline spec
schema 2.1). These flags have environment variables (flags win):

  --image            PIPELINE_IMAGE      the image `make image` builds
  --pipeline-root    PIPELINE_ROOT       gs://... or s3://... (MinIO: s3:// plus --s3-endpoint)
  --data-root        DATA_ROOT           the CSVs, readable from the pods; also a run
                                         parameter (`--param data_root=...` per run)
  --serving-model-dir SERVING_MODEL_DIR  default: <pipeline root>/serving/<name>
  --beam-arg         BEAM_PIPELINE_ARGS  extra Beam arguments (env: one shell-quoted string)
  --host             KFP_HOST            the KFP API endpoint, for --submit

--backend kfp (default) targets the open-source Kubeflow Pipelines backend,
--backend vertex Vertex AI Pipelines; what differs from a local run, and why,
is in docs/kubeflow.md. The work is in kubeflow_support/ (compiler.py).
"""

import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')  # before TensorFlow loads

from kubeflow_support import settings  # pylint: disable=g-import-not-at-top


def main(argv=None) -> int:
  from kubeflow_support import compiler  # pylint: disable=g-import-not-at-top
  from kubeflow_support import ir  # pylint: disable=g-import-not-at-top
  from kubeflow_support import submission  # pylint: disable=g-import-not-at-top
  import description  # pylint: disable=g-import-not-at-top
  args = settings.parser(__doc__).parse_args(argv)
  try:
    settings.check_submission(args)
    compiled = compiler.compile_pipeline(args)
  except (settings.UsageError, description.DatasetSpecError) as e:
    print(f'kubeflow_runner.py: error: {e}', file=sys.stderr)
    return 2
  except ir.IncompatibleError as e:
    print(f'kubeflow_runner.py: the pipeline cannot run on the {args.backend} '
          f'backend: {e}', file=sys.stderr)
    return 1
  print(f'Compiled {compiled.name} for the {args.backend} backend: {compiled.path}\n'
        f'  image         {args.image}\n'
        f'  pipeline root {compiled.root}\n'
        f'  data root     {compiled.data_root} (run parameter '
        f'{settings.DATA_ROOT_PARAMETER})\n'
        f'  serving dir   {compiled.serving}\n'
        f'  beam args     {" ".join(compiled.beam)}', flush=True)
  for note in compiled.notes:
    print(f'  note: {note}', flush=True)
  if args.submit:
    return submission.submit(args, compiled.path, compiled.name, compiled.root)
  return 0


if __name__ == '__main__':
  sys.exit(main())
