"""What a run report's sections get (Run) and how a section is declared.

  @section('my-thing', 'My thing', of_type('MyArtifactType'))
  def _my_thing(run, artifacts):
    # its own template (reports/templates/run_my_thing.html.j2) and the plain
    # data it shows; None skips the section
    return reports.render('run_my_thing.html.j2', table=views.table(rows, columns))

A section is rendered only when the run has artifacts it matches; one that
raises is shown as an error box (RENDER_ERROR_CLASS) instead of failing the run.
"""

import dataclasses
import functools
import re
from typing import Any, Callable, Dict, List, Optional

import description
from metadata import run_summary
from metadata import store as mlmd
from metadata import values
from provenance import evaluation as evaluation_lib
from provenance import lineage as lineage_lib
from provenance import nodes
from provenance import record

RENDER_ERROR_CLASS = 'render-error'


@dataclasses.dataclass
class Run:
  """What the sections get: the run's summary, its artifacts and the spec."""
  metadata_path: str
  summary: run_summary.RunSummary
  lineage: lineage_lib.Lineage
  artifacts: List[nodes.ArtifactInfo]
  spec: Optional[description.DatasetSpec]
  trainer: Optional[nodes.ExecutionInfo]

  def of_type(self, type_name: str, output_key: Optional[str] = None):
    return [a for a in self.artifacts if a.type == type_name and
            (output_key is None or a.output_key == output_key)]

  @property
  def spans(self) -> List[int]:
    return sorted({a.span for a in self.artifacts if a.span is not None})

  @functools.lru_cache(maxsize=None)
  def metric_rows(self, uri: str) -> List[evaluation_lib.MetricRow]:
    return evaluation_lib.load_rows(uri)

  @functools.lru_cache(maxsize=None)
  def confusion(self, uri: str):
    return evaluation_lib.load_confusion(uri)

  def positives(self, uri: str) -> Optional[Dict[Any, float]]:
    if self.rare_class_id is None:
      return None
    return evaluation_lib.class_counts(self.confusion(uri), self.rare_class_id)

  @property
  def rare_class_id(self) -> Optional[int]:
    return self.spec.rare_class_id if self.spec else None

  def __hash__(self):
    return id(self)


def load_run(metadata_path: str, pipeline_name: str, run_id: Optional[str] = None) -> Run:
  try:
    summary = run_summary.summarize(metadata_path, pipeline_name, run_id)
  except StopIteration:
    raise mlmd.ProvenanceError(f'no run {run_id!r} of {pipeline_name} in {metadata_path}')
  except LookupError as e:
    raise mlmd.ProvenanceError(str(e)) from e
  lin = lineage_lib.Lineage(mlmd.Store.open(metadata_path))
  executions = [c.execution_id for c in summary.components]
  lin.store.events_of_executions(executions)
  # The run's own artifacts: what its executions output (cached ones output
  # the artifacts they reuse), not what a Resolver merely handed on.
  ids = [e.artifact_id for x in executions for e in lin.store.outputs(x)]
  artifacts = lin.describe(ids)
  spec, trainer = None, None
  for execution in lin.store.executions(executions):
    info = lin.execution_info(execution)
    if record.is_trainer_type(info.type):
      trainer = info
    if spec is None:
      spec = spec_of(execution)
  return Run(metadata_path, summary, lin, artifacts, spec, trainer)


def spec_of(execution) -> Optional[description.DatasetSpec]:
  """The dataset description an execution was given, if any.

  Our components take it under description.EXEC_PROPERTY; Transform and the
  Trainer inside their custom_config.
  """
  for key in (description.EXEC_PROPERTY, 'custom_config'):
    config = values.json_property(execution, key)
    if isinstance(config, dict) and 'description' in config:
      try:
        return description.from_exec_property(config)
      except description.DatasetSpecError:
        continue
  return None


@dataclasses.dataclass
class Section:
  id: str
  title: str
  matches: Optional[Callable[[nodes.ArtifactInfo], bool]]
  render: Callable[[Run, List[nodes.ArtifactInfo]], Optional[str]]


SECTIONS: List[Section] = []


def of_type(*type_names: str, output_key: Optional[str] = None):
  def matches(artifact):
    return artifact.type in type_names and (output_key is None or artifact.output_key == output_key)
  return matches


def type_name_like(*patterns: str):
  """Matches artifact type names by regex: for components still being written."""
  compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
  return lambda artifact: any(p.search(artifact.type) for p in compiled)


def section(section_id: str, title: str, matches=None):
  """Registers a section; `matches=None` renders it for every run."""
  def register(render):
    SECTIONS.append(Section(section_id, title, matches, render))
    return render
  return register
