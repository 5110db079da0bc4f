"""Lineage over ML Metadata: what a model was built from, what was built from a span.

Edges are MLMD events. An execution's INPUT events are either

  built-from inputs   its outputs are made from them (examples, schema, the
                      transform graph, the model a Pusher pushes, ...), or
  reference inputs    used only to judge or compare against: the Evaluator's
                      `baseline_model`, and by name any input starting with
                      `baseline`, `previous` or `reference` (e.g. the previous
                      span's statistics for drift).

`upstream` follows built-from edges back from an artifact and lists the
reference inputs it meets without following them. `blast_radius` follows
built-from edges forward; what was only judged against an affected artifact
(a later run's blessing and push that used an affected model as baseline) is
reported apart, in `judged_against`: it was not rebuilt from the bad data,
but its decision should be re-checked.

Resolver nodes hand artifacts on with INTERNAL_OUTPUT events, which are not
edges here: the consumer's own INPUT event records the use.
"""

import dataclasses
import os
from typing import Dict, Iterable, List, Optional, Sequence, Set

import durable
from metadata import store as mlmd
from metadata import values
from provenance import record
from provenance import sources
from provenance.nodes import (ArtifactInfo, BlastRadius, DataFile, DataSource,
                              ExecutionInfo, Judgement, ModelLineage)

REFERENCE_INPUT_PREFIXES = ('baseline', 'previous', 'reference')

# Properties TFX puts on every artifact or execution; they say nothing here.
_NOISE = {'tfx_version', 'is_external', 'stats_dashboard_link', 'state',
          'name', 'producer_component', 'type_name', 'artifact_type',
          record.FINISHED_MS_PROPERTY, 'custom_config', 'eval_config'}


def is_reference(input_key: str) -> bool:
  return input_key.startswith(REFERENCE_INPUT_PREFIXES)


class Lineage:
  """Lineage questions over one store."""

  def __init__(self, store: mlmd.Store):
    self.store = store
    self._execution_info: Dict[int, ExecutionInfo] = {}
    self._artifact_info: Dict[int, ArtifactInfo] = {}

  @classmethod
  def open(cls, metadata_path: str) -> 'Lineage':
    store = mlmd.Store.open(metadata_path)
    if store.is_empty():
      raise mlmd.ProvenanceError(
          f'the metadata store {metadata_path} holds no executions yet: run the '
          f'pipeline first')
    return cls(store)

  # --- descriptions --------------------------------------------------------
  def execution_info(self, execution: mlmd.Execution) -> ExecutionInfo:
    if execution.id not in self._execution_info:
      props = values.properties_of(execution)
      hyperparameters = values.json_property(execution, record.HYPERPARAMETERS)
      if hyperparameters is None and record.is_trainer_type(self.store.type_of(execution)):
        # Runs not annotated by record.annotate_run: what the Trainer was given.
        hyperparameters = record.training_block(execution)
      self._execution_info[execution.id] = ExecutionInfo(
          id=execution.id, node_id=self.store.node_id(execution),
          type=self.store.type_of(execution),
          state=values.EXECUTION_STATES.get(execution.last_known_state, '?'),
          runs=self.store.runs_of_execution(execution.id),
          code_version=props.get(record.CODE_VERSION),
          code_commit=props.get(record.CODE_COMMIT),
          hyperparameters=hyperparameters if isinstance(hyperparameters, dict) else None,
          properties={k: v for k, v in props.items() if k not in _NOISE and
                      k not in (record.HYPERPARAMETERS, record.INPUT_FILES)})
    return self._execution_info[execution.id]

  def artifact_info(self, artifact: mlmd.Artifact) -> ArtifactInfo:
    if artifact.id not in self._artifact_info:
      producer = self.store.producer(artifact.id)
      keys = [values.event_key(e) for e in (self.store.outputs(producer.id) if producer else [])
              if e.artifact_id == artifact.id]
      self._artifact_info[artifact.id] = ArtifactInfo(
          id=artifact.id, type=self.store.type_of(artifact), uri=artifact.uri,
          state=values.ARTIFACT_STATES.get(artifact.state, '?'),
          runs=self.store.runs_of_artifact(artifact.id),
          producer=self.execution_info(producer) if producer else None,
          properties={k: v for k, v in values.properties_of(artifact).items()
                      if k not in _NOISE},
          output_key=keys[0] if keys else '')
    return self._artifact_info[artifact.id]

  def describe(self, artifact_ids: Iterable[int]) -> List[ArtifactInfo]:
    ids = sorted(set(artifact_ids))
    self.store.events_of_artifacts(ids)  # one batch for the producers
    return [self.artifact_info(a) for a in self.store.artifacts(ids)]

  # --- finding the start -----------------------------------------------------
  def resolve_model(self, selector: str) -> mlmd.Artifact:
    """'latest' (newest Model), 'pushed' (the model of the newest push) or an id."""
    selector = str(selector).strip()
    if selector == 'latest':
      models = self.store.artifacts_of_type('Model')
      if not models:
        raise mlmd.ProvenanceError('no Model artifact in the store: no run trained a model yet')
      return max(models, key=lambda a: (a.create_time_since_epoch, a.id))
    if selector == 'pushed':
      pushes = [a for a in self.store.artifacts_of_type('PushedModel')
                if values.properties_of(a).get('pushed')]
      if not pushes:
        raise mlmd.ProvenanceError(
            'no model was pushed yet (no PushedModel with pushed=1): every '
            'candidate so far was not blessed, or the Pusher never ran')
      push = max(pushes, key=lambda a: (a.create_time_since_epoch, a.id))
      model = self._input_of_producer(push.id, 'model')
      if model is None:
        raise mlmd.ProvenanceError(f'push {push.id} records no input model')
      return model
    if not selector.isdigit():
      raise mlmd.ProvenanceError(
          f'model selector {selector!r}: expected an artifact id, "latest" or "pushed"')
    return self.store.artifact(int(selector))

  def _input_of_producer(self, artifact_id: int, key: str) -> Optional[mlmd.Artifact]:
    producer = self.store.producer(artifact_id)
    if producer is None:
      return None
    ids = [e.artifact_id for e in self.store.inputs(producer.id)
           if values.event_key(e) == key]
    return self.store.artifacts(ids)[0] if ids else None

  def span_examples(self, span: int) -> List[mlmd.Artifact]:
    """The Examples an ExampleGen read from `span` (every version and re-read)."""
    found = []
    for artifact in self.store.artifacts_of_type('Examples'):
      if values.properties_of(artifact).get('span') != span:
        continue
      producer = self.store.producer(artifact.id)
      # Root data only: a Transform's output Examples are built, not read.
      if producer is None or not self.store.inputs(producer.id):
        found.append(artifact)
    if not found:
      spans = sorted({values.properties_of(a).get('span')
                      for a in self.store.artifacts_of_type('Examples')} - {None})
      raise mlmd.ProvenanceError(
          f'no pipeline read span {span}; spans read so far: {spans or "none"}')
    return found

  def file_examples(self, path: str) -> List[mlmd.Artifact]:
    """The Examples whose ExampleGen read the file at `path`."""
    target = os.path.realpath(path)
    found = []
    for artifact in self.store.artifacts_of_type('Examples'):
      producer = self.store.producer(artifact.id)
      if producer is None or self.store.inputs(producer.id):
        continue
      source = sources.source_files(values.properties_of(producer),
                                    values.properties_of(artifact).get('span'))
      if target in {os.path.realpath(f) for f in source}:
        found.append(artifact)
    if not found:
      raise mlmd.ProvenanceError(f'no ExampleGen run recorded reading {path}')
    return found

  # --- upstream ------------------------------------------------------------
  def model_lineage(self, selector: str) -> ModelLineage:
    model = self.resolve_model(selector)
    upstream_ids, execution_ids, reference_ids = self._upstream([model.id])
    upstream = self.describe(upstream_ids)
    order = {name: i for i, name in enumerate(
        ('Examples', 'ExampleStatistics', 'Schema', 'ExampleAnomalies',
         'TransformGraph', 'HyperParameters'))}
    upstream.sort(key=lambda a: (order.get(a.type, len(order)), a.type, a.id))
    executions = [self.execution_info(e) for e in self.store.executions(sorted(execution_ids))]
    data = [self.data_source(a) for a in upstream
            if a.type == 'Examples' and a.producer is not None and
            not self.store.inputs(a.producer.id)]
    downstream = self._downstream([model.id])
    return ModelLineage(
        model=self.artifact_info(model), data=data, upstream=upstream,
        executions=executions, references=self.describe(reference_ids),
        judgements=self._judgements(model.id),
        downstream=self.describe(downstream.built_ids))

  def _upstream(self, start: Sequence[int]):
    seen, executions, references = set(), set(), set()
    frontier = list(start)
    while frontier:
      self.store.events_of_artifacts(frontier)
      producers = [self.store.producer(a) for a in frontier]
      frontier = []
      for producer in producers:
        if producer is None or producer.id in executions:
          continue
        executions.add(producer.id)
        for event in self.store.inputs(producer.id):
          if is_reference(values.event_key(event)):
            references.add(event.artifact_id)
          elif event.artifact_id not in seen and event.artifact_id not in start:
            seen.add(event.artifact_id)
            frontier.append(event.artifact_id)
    return seen, executions, references - seen

  def _judgements(self, model_id: int) -> List[Judgement]:
    found = []
    for event in self.store.events_of_artifacts([model_id]):
      if event.type not in values.INPUT_EVENTS or values.event_key(event) != 'model':
        continue
      execution = self.store.executions([event.execution_id])[0]
      outputs = {values.event_key(e): e.artifact_id for e in self.store.outputs(execution.id)}
      if 'evaluation' not in outputs and 'blessing' not in outputs:
        continue  # a Pusher or another consumer, not a judgement
      baseline = [e.artifact_id for e in self.store.inputs(execution.id)
                  if values.event_key(e) == 'baseline_model']
      found.append(Judgement(
          execution=self.execution_info(execution),
          evaluation=(self.describe([outputs['evaluation']])[0]
                      if 'evaluation' in outputs else None),
          blessing=(self.describe([outputs['blessing']])[0]
                    if 'blessing' in outputs else None),
          baseline_model_id=baseline[0] if baseline else None))
    return sorted(found, key=lambda j: j.execution.id)

  # --- data sources --------------------------------------------------------
  def data_source(self, examples: ArtifactInfo) -> DataSource:
    execution = self.store.executions([examples.producer.id])[0]
    props = values.properties_of(execution)
    span = examples.properties.get('span', props.get('span'))
    recorded = values.json_property(execution, record.INPUT_FILES) or {}
    base = props.get('input_base')
    files = sources.source_files(props, span)
    listed = {}
    for path in files:
      rel = os.path.relpath(path, base) if base else path
      listed[rel] = DataFile(rel, os.path.getsize(path), recorded.get(rel),
                             durable.sha256_of(path))
    for rel, digest in recorded.items():
      listed.setdefault(rel, DataFile(rel, None, digest, None))
    patterns = sources.split_patterns(props)
    return DataSource(
        examples=examples, span=span, version=examples.properties.get('version'),
        input_base=base, patterns=patterns,
        fingerprint_recorded=props.get('input_fingerprint'),
        fingerprint_now=(sources.fingerprint(base, patterns, span, sources.split_names(props))
                         if base and all('{' not in p.replace('{SPAN}', '')
                                         for p in patterns) else None),
        files=[listed[k] for k in sorted(listed)])

  # --- downstream ----------------------------------------------------------
  def _downstream(self, start: Sequence[int], exclude: Set[int] = frozenset()):
    built, executions, judging = set(), set(), set()
    frontier = list(start)
    while frontier:
      events = self.store.events_of_artifacts(frontier)
      consumers = set()
      for event in events:
        if event.type not in values.INPUT_EVENTS:
          continue
        if is_reference(values.event_key(event)):
          judging.add(event.execution_id)
        else:
          consumers.add(event.execution_id)
      consumers -= executions
      executions |= consumers
      frontier = []
      self.store.events_of_executions(consumers)
      for execution_id in sorted(consumers):
        for event in self.store.outputs(execution_id):
          artifact = event.artifact_id
          if artifact not in built and artifact not in start and artifact not in exclude:
            built.add(artifact)
            frontier.append(artifact)
    return _Walk(built, executions, judging - executions)

  def blast_radius(self, sources: Sequence[mlmd.Artifact], description: str) -> BlastRadius:
    source_ids = [a.id for a in sources]
    walk = self._downstream(source_ids)
    affected = set(source_ids) | walk.built_ids
    # Outputs of executions that used an affected artifact only as a
    # reference, and whatever was built from those outputs in turn.
    judged_outputs = {e.artifact_id for x in sorted(walk.judging)
                      for e in self.store.outputs(x)} - affected
    judged = self._downstream(sorted(judged_outputs), exclude=affected)
    judged_ids = (judged_outputs | judged.built_ids) - affected
    judging = sorted(walk.judging | (judged.executions - walk.executions))
    return BlastRadius(
        description=description,
        sources=self.describe(source_ids),
        built=self.describe(walk.built_ids),
        executions=[self.execution_info(e) for e in
                    self.store.executions(sorted(walk.executions))],
        judged_against=self.describe(judged_ids),
        judging_executions=[self.execution_info(e) for e in self.store.executions(judging)])

  def blast_radius_of_span(self, span: int) -> BlastRadius:
    return self.blast_radius(self.span_examples(span), f'span {span}')

  def blast_radius_of_artifact(self, artifact_id: int) -> BlastRadius:
    artifact = self.store.artifact(artifact_id)
    return self.blast_radius([artifact], f'{self.store.type_of(artifact)} {artifact_id}')

  def blast_radius_of_file(self, path: str) -> BlastRadius:
    return self.blast_radius(self.file_examples(path), f'file {path}')


@dataclasses.dataclass
class _Walk:
  built_ids: Set[int]
  executions: Set[int]
  judging: Set[int]
