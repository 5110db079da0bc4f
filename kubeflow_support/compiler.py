"""Compiles create_pipeline() into a KFP v2 pipeline definition for one backend.

TFX's KubeflowV2DagRunner writes the definition (pipeline spec schema 2.1);
surgery.py changes the TFX pipeline before it, ir.py and definition.py the
definition after it. Every change is returned as a note for the user and
recorded in the definition's description.
"""

import dataclasses
import os
from typing import Any, Dict, List, Tuple

from kubeflow_support import definition
from kubeflow_support import ir
from kubeflow_support import settings
from kubeflow_support import surgery
from pipeline import configs


@dataclasses.dataclass
class Compiled:
  """Where the definition went and the settings it was compiled with."""
  path: str
  name: str
  root: str
  data_root: str
  serving: str
  beam: List[str]
  notes: List[str]


def build_pipeline(args) -> Tuple[Any, Dict[str, Any]]:
  """(TFX pipeline, settings) from the flags."""
  from tfx.orchestration import data_types  # pylint: disable=g-import-not-at-top
  import description  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top

  if not args.image:
    raise settings.UsageError(
        '--image is required (or set PIPELINE_IMAGE): the image every task runs, '
        'built by `make image IMAGE=...` and pushed')
  spec = description.load(args.description)
  name = settings.pipeline_name(args, spec)
  root = settings.require_remote(
      args.pipeline_root, '--pipeline-root', 'PIPELINE_ROOT',
      'where KFP and TFX write artifacts, shared by every pod')
  if args.backend == 'vertex' and not root.startswith('gs://'):
    raise settings.UsageError(f'--pipeline-root {root}: Vertex AI Pipelines needs gs://')
  chosen = {'name': name, 'root': root, 'data_root': settings.data_root(args, spec),
            'serving': settings.serving_dir(args, root, name),
            'beam': settings.beam_args(args)}
  pipeline = pipeline_lib.create_pipeline(
      pipeline_name=name,
      pipeline_root=root,
      # A run parameter: each run may read another root with the same definition.
      data_root=data_types.RuntimeParameter(
          name=settings.DATA_ROOT_PARAMETER, ptype=str, default=chosen['data_root']),
      spec=spec,
      serving_model_dir=chosen['serving'],
      span=args.span,
      # Read here at compile time (drift comparators); the compiled parameters
      # are rebased onto the image's copy of the repository afterwards.
      schema_path=configs.curated_schema_path(spec.name),
      # KFP records lineage in the cluster's own ML Metadata store.
      metadata_connection_config=None,
      beam_pipeline_args=chosen['beam'],
      enable_cache=not args.no_cache)
  return pipeline, chosen


def _tfx_compile(pipeline, image: str) -> Dict[str, Any]:
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner  # pylint: disable=g-import-not-at-top
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
          default_image=image,
          # Schema 2.1: parameters as parameterValues, the only form the
          # open-source KFP driver fills in (2.0 `parameters` reach TFX empty).
          use_pipeline_spec_2_1=True))
  return runner.run(pipeline, write_out=False)['pipelineSpec']


def compile_pipeline(args) -> Compiled:
  """Writes the definition for args.backend; returns where, with what, and the notes."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)
  pipeline, chosen = build_pipeline(args)
  notes, lookup_inputs, lookups = [], [], []
  if args.backend == 'kfp':
    # Vertex AI runs TFX's blessed-model resolver itself; its ML Metadata
    # is not the one the lookups' client speaks to.
    notes, lookup_inputs, lookups = surgery.replace_resolvers(pipeline)
  else:
    notes = surgery.fall_back_for_vertex(pipeline)
  drop_notes, empty_inputs = surgery.drop_uncompilable_resolvers(pipeline)
  notes += drop_notes + surgery.adapt_executors(pipeline)
  spec = _tfx_compile(pipeline, args.image)
  if args.backend == 'kfp':
    spec, kfp_notes = ir.adapt_for_kfp(
        spec, optional_inputs=surgery.optional_inputs(pipeline),
        empty_inputs=empty_inputs, lookup_inputs=lookup_inputs,
        cache_pre_cache_check_tasks=args.span is not None and not args.no_cache)
    ir.never_cache(spec, lookups)
    notes += kfp_notes
  elif empty_inputs:
    spec = ir.with_empty_inputs(spec, empty_inputs)
  definition.set_parameter_defaults(spec, pipeline)
  rebased = definition.rebase_repo_paths(spec)
  if rebased:
    notes.append(f'paths into this checkout now point at {settings.IMAGE_REPO_ROOT} '
                 f'in the image: {", ".join(rebased)}')
  spec['defaultPipelineRoot'] = chosen['root']
  platform: Dict[str, Any] = {}
  if chosen['root'].startswith('s3://') or args.s3_endpoint or args.s3_credentials_secret:
    definition.add_s3(spec, platform, args.s3_endpoint, args.s3_credentials_secret)
    notes.append('s3:// needs TensorFlow\'s S3 file system (tensorflow-io) and '
                 'Beam\'s (apache-beam[aws]) in the image; requirements.lock has '
                 'neither (docs/kubeflow.md, "S3 and MinIO")')
  definition.describe(spec, chosen['name'], args.backend, notes)
  path = args.output or os.path.join(settings.DEFAULT_OUTPUT_DIR, f'{chosen["name"]}.yaml')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  ir.dump(path, spec, platform,
          definition.header(spec, chosen['name'], args.backend, args.image))
  return Compiled(path=path, notes=notes, **chosen)
