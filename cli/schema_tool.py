"""Bootstrap or refresh the curated schema from a pipeline run, for review.

  python -m cli.schema_tool                  # the latest run under ./work
  python -m cli.schema_tool --write          # also replace the checked-in schema

Which run: --work-dir / --metadata / --pipeline-name, as every command
(cli/common.py: the only pipeline there unless named).

Bootstrap (no schema/<dataset>/schema.pbtxt yet): the candidate is the schema
SchemaGen inferred in the run. Refresh (a curated schema exists, so the run
imported it): the candidate is the curated schema updated by TFDV to accept
the run's training statistics (tfdv.update_schema: new columns, new domain
values, relaxed presence or ranges) -- hand-set constraints that the data
meets are kept.

Prints what changes, column by column, and a unified diff of the checked-in
schema against the candidate; writes the candidate next to the run's
metadata (candidate_schema.pbtxt) and, with --write, over the checked-in
file, keeping its leading comment block (comments inside the body are lost:
re-add them from the diff). Exit code 0 when nothing changes, 1 when the
candidate differs, 2 on errors -- so CI can say "the schema needs review".
"""

import argparse
import console

if __name__ == '__main__':
  # Before TensorFlow's import writes its GPU probing to the console.
  console.hide_harmless_stderr()

import difflib
import os
import sys
from typing import List, Optional, Tuple

import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import standard_artifacts

from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import schema_pb2

import description
from cli import common
from metadata import connection
from metadata import run_summary
from pipeline import configs

INFERRING_SCHEMA_GEN = 'tfx.components.schema_gen.component.SchemaGen'
STATISTICS_SPLIT = 'train'


def _text(schema: schema_pb2.Schema) -> str:
  return text_format.MessageToString(schema)


def header_comments(path: str) -> str:
  """The leading block of '#' lines (and blank lines) of a pbtxt file."""
  lines = []
  with open(path) as f:
    for line in f:
      if line.startswith('#') or not line.strip():
        lines.append(line)
      else:
        break
  return ''.join(lines)


def _domain_values(schema: schema_pb2.Schema, feature: schema_pb2.Feature):
  if feature.HasField('string_domain'):
    return list(feature.string_domain.value)
  if feature.domain:
    for d in schema.string_domain:
      if d.name == feature.domain:
        return list(d.value)
  return None


def changes(old: schema_pb2.Schema, new: schema_pb2.Schema) -> List[str]:
  """Column-level differences, for people: '+' added, '-' gone, '~' changed."""
  old_f = {f.name: f for f in old.feature}
  new_f = {f.name: f for f in new.feature}
  out = []
  for name in sorted(set(new_f) - set(old_f)):
    out.append(f'+ {name}: new column ({schema_pb2.FeatureType.Name(new_f[name].type)})')
  for name in sorted(set(old_f) - set(new_f)):
    out.append(f'- {name}: no longer in the schema')
  for name in sorted(set(old_f) & set(new_f)):
    a, b = old_f[name], new_f[name]
    if a.type != b.type:
      out.append(f'~ {name}: type {schema_pb2.FeatureType.Name(a.type)} -> '
                 f'{schema_pb2.FeatureType.Name(b.type)}')
    va, vb = _domain_values(old, a), _domain_values(new, b)
    if va is not None and vb is not None and va != vb:
      added = [v for v in vb if v not in va]
      removed = [v for v in va if v not in vb]
      parts = ([f'gains {added}'] if added else []) + (
          [f'loses {removed}'] if removed else [])
      out.append(f'~ {name}: domain {", ".join(parts) or "reordered"}')
    for field in ('presence', 'int_domain', 'float_domain', 'value_count', 'shape',
                  'distribution_constraints', 'drift_comparator', 'skew_comparator'):
      if getattr(a, field) != getattr(b, field):
        before = text_format.MessageToString(getattr(a, field), as_one_line=True)
        after = text_format.MessageToString(getattr(b, field), as_one_line=True)
        out.append(f'~ {name}: {field} {{{before}}} -> {{{after}}}')
    if list(a.not_in_environment) != list(b.not_in_environment):
      out.append(f'~ {name}: not_in_environment {list(a.not_in_environment)} -> '
                 f'{list(b.not_in_environment)}')
  return out


def candidate(curated: Optional[schema_pb2.Schema], inferred: Optional[schema_pb2.Schema],
              statistics) -> Tuple[schema_pb2.Schema, str]:
  """(candidate schema, how it was made)."""
  if curated is not None:
    return (tfdv.update_schema(curated, statistics),
            'the curated schema updated to accept the run\'s training statistics')
  if inferred is not None:
    return inferred, 'the schema SchemaGen inferred in the run'
  return (tfdv.infer_schema(statistics, infer_feature_shape=True),
          'a schema inferred from the run\'s training statistics')


def unified_diff(old_text: str, new_text: str, old_name: str, new_name: str) -> str:
  return ''.join(difflib.unified_diff(
      old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
      fromfile=old_name, tofile=new_name, n=2))


def _outputs(store, execution_id: int, type_name: str):
  ids = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
         if e.type == metadata_store_pb2.Event.OUTPUT]
  type_id = store.get_artifact_type(type_name).id
  return [a for a in store.get_artifacts_by_id(ids) if a.type_id == type_id]


def run_artifacts(metadata_path: str, pipeline_name: str):
  """(inferred schema or None, training statistics proto, run id) of the latest run."""
  if not os.path.exists(metadata_path):
    raise LookupError(f'no ML Metadata at {metadata_path}: run the pipeline first')
  summary = run_summary.summarize(metadata_path, pipeline_name)
  store = connection.open_store(metadata_path)
  statistics_gen = summary.component('StatisticsGen')
  found = (_outputs(store, statistics_gen.execution_id, 'ExampleStatistics')
           if statistics_gen else [])
  if not found:
    raise LookupError(f'run {summary.run_id} has no statistics: did StatisticsGen run?')
  statistics = standard_artifacts.ExampleStatistics()
  statistics.set_mlmd_artifact(found[0])
  stats = stats_artifact_utils.load_statistics(statistics, STATISTICS_SPLIT).proto()
  inferred = None
  schema_gen = summary.component('SchemaGen')
  if schema_gen is not None:
    [execution] = store.get_executions_by_id([schema_gen.execution_id])
    [kind] = store.get_execution_types_by_id([execution.type_id])
    schemas = _outputs(store, schema_gen.execution_id, 'Schema')
    if kind.name == INFERRING_SCHEMA_GEN and schemas:
      inferred = tfdv.load_schema_text(os.path.join(schemas[0].uri, 'schema.pbtxt'))
  return inferred, stats, summary.run_id


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  common.add_location_arguments(parser)
  # The dataset's name says which checked-in schema to compare against.
  parser.add_argument('--description', default=configs.DEFAULT_DESCRIPTION)
  parser.add_argument('--schema', help='the checked-in schema (default: '
                      'schema/<dataset>/schema.pbtxt)')
  parser.add_argument('--write', action='store_true',
                      help='replace the checked-in schema with the candidate')
  return parser


def _write_schema(schema_path: str, new: schema_pb2.Schema, keep_header: bool) -> None:
  os.makedirs(os.path.dirname(schema_path), exist_ok=True)
  header = header_comments(schema_path) if keep_header else ''
  with open(schema_path, 'w') as f:
    f.write(header + _text(new))


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    spec = description.load(args.description)
    location = common.resolve(args)
    schema_path = args.schema or os.path.join(configs.SCHEMA_DIR, spec.name, 'schema.pbtxt')
    inferred, stats, run_id = run_artifacts(location.metadata_path, location.pipeline_name)
  except (LookupError, OSError, ValueError) as e:
    print(f'schema_tool: {e}', file=sys.stderr)
    return 2
  curated = tfdv.load_schema_text(schema_path) if os.path.exists(schema_path) else None
  new, how = candidate(curated, inferred, stats)
  out_path = os.path.join(os.path.dirname(location.metadata_path), 'candidate_schema.pbtxt')
  with open(out_path, 'w') as f:
    f.write(_text(new))
  print(f'Candidate schema for {spec.name} from run {run_id}: {how}.')
  old = curated if curated is not None else schema_pb2.Schema()
  listed = changes(old, new)
  if not listed and _text(old) == _text(new):
    print(f'No difference from {schema_path}.')
    return 0
  for line in listed:
    print('  ' + line)
  print(unified_diff(_text(old), _text(new),
                     f'{schema_path} (checked in, comments omitted)', out_path))
  if args.write:
    _write_schema(schema_path, new, keep_header=curated is not None)
    print(f'Wrote {schema_path} (its leading comments kept; re-add any comments '
          f'from inside the body). Review and commit it.')
  else:
    print(f'Wrote the candidate to {out_path}. Review the difference, then copy '
          f'what you accept into {schema_path} (or re-run with --write).')
  return 1


if __name__ == '__main__':
  sys.exit(main())
