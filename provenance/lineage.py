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
import glob
import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

from description import spans as spans_lib
from metadata import store as mlmd
from metadata import values
from provenance import record

REFERENCE_INPUT_PREFIXES = ('baseline', 'previous', 'reference')

# Properties TFX puts on every artifact or execution; they say nothing here.
_NOISE = {'tfx_version', 'is_external', 'stats_dashboard_link', 'state',
          'name', 'producer_component', 'type_name', 'artifact_type',
          record.FINISHED_MS_PROPERTY, 'custom_config', 'eval_config'}


def is_reference(input_key: str) -> bool:
  return input_key.startswith(REFERENCE_INPUT_PREFIXES)


@dataclasses.dataclass
class ExecutionInfo:
  id: int
  node_id: str
  type: str
  state: str
  runs: List[str]
  code_version: Optional[str]
  code_commit: Optional[str]
  hyperparameters: Optional[Dict[str, Any]]
  properties: Dict[str, Any]

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class ArtifactInfo:
  id: int
  type: str
  uri: str
  state: str
  runs: List[str]
  producer: Optional[ExecutionInfo]
  properties: Dict[str, Any]
  # The producer's name for it, e.g. 'statistics' or 'pre_transform_stats'.
  output_key: str = ''

  @property
  def span(self) -> Optional[int]:
    span = self.properties.get('span')
    return span if self.type == 'Examples' and isinstance(span, int) else None

  @property
  def label(self) -> str:
    return f'{self.type} {self.id}'

  def to_json(self) -> Dict[str, Any]:
    found = dataclasses.asdict(self)
    found['producer'] = self.producer.id if self.producer else None
    found['producer_node'] = self.producer.node_id if self.producer else None
    return found


@dataclasses.dataclass
class DataFile:
  path: str
  bytes: Optional[int]
  sha256_recorded: Optional[str]
  sha256_now: Optional[str]

  @property
  def status(self) -> str:
    if self.sha256_now is None:
      return 'missing'
    if self.sha256_recorded is None:
      return 'not recorded'
    return 'unchanged' if self.sha256_now == self.sha256_recorded else 'CHANGED'


@dataclasses.dataclass
class DataSource:
  """Where one Examples artifact's data came from (its ExampleGen execution)."""
  examples: ArtifactInfo
  span: Optional[int]
  version: Optional[int]
  input_base: Optional[str]
  patterns: List[str]
  fingerprint_recorded: Optional[str]
  fingerprint_now: Optional[str]
  files: List[DataFile]

  @property
  def fingerprint_matches(self) -> Optional[bool]:
    if not self.fingerprint_recorded or self.fingerprint_now is None:
      return None
    return self.fingerprint_recorded == self.fingerprint_now

  def to_json(self) -> Dict[str, Any]:
    found = dataclasses.asdict(self)
    found['examples'] = self.examples.to_json()
    found['fingerprint_matches'] = self.fingerprint_matches
    for f, info in zip(found['files'], self.files):
      f['status'] = info.status
    return found


@dataclasses.dataclass
class Judgement:
  """One Evaluator execution that judged the model, and what came of it."""
  execution: ExecutionInfo
  evaluation: Optional[ArtifactInfo]
  blessing: Optional[ArtifactInfo]
  baseline_model_id: Optional[int]

  @property
  def blessed(self) -> Optional[bool]:
    if self.blessing is None:
      return None
    return bool(self.blessing.properties.get('blessed'))


@dataclasses.dataclass
class ModelLineage:
  model: ArtifactInfo
  data: List[DataSource]
  upstream: List[ArtifactInfo]
  executions: List[ExecutionInfo]
  references: List[ArtifactInfo]
  judgements: List[Judgement]
  downstream: List[ArtifactInfo]

  @property
  def trainer(self) -> Optional[ExecutionInfo]:
    return self.model.producer

  @property
  def spans(self) -> List[int]:
    return sorted({d.span for d in self.data if d.span is not None})

  @property
  def pushes(self) -> List[ArtifactInfo]:
    return [a for a in self.downstream
            if a.type == 'PushedModel' and a.properties.get('pushed')]

  def of_type(self, type_name: str) -> List[ArtifactInfo]:
    return [a for a in self.upstream if a.type == type_name]

  def to_json(self) -> Dict[str, Any]:
    return {
        'model': self.model.to_json(),
        'spans': self.spans,
        'data': [d.to_json() for d in self.data],
        'upstream': [a.to_json() for a in self.upstream],
        'executions': [e.to_json() for e in self.executions],
        'references': [a.to_json() for a in self.references],
        'evaluations': [{
            'execution': j.execution.to_json(),
            'evaluation': j.evaluation.to_json() if j.evaluation else None,
            'blessing': j.blessing.to_json() if j.blessing else None,
            'blessed': j.blessed, 'baseline_model_id': j.baseline_model_id,
        } for j in self.judgements],
        'downstream': [a.to_json() for a in self.downstream],
        'pushes': [a.to_json() for a in self.pushes],
    }


@dataclasses.dataclass
class BlastRadius:
  description: str
  sources: List[ArtifactInfo]
  built: List[ArtifactInfo]
  executions: List[ExecutionInfo]
  judged_against: List[ArtifactInfo]
  judging_executions: List[ExecutionInfo]

  @property
  def affected_ids(self) -> Set[int]:
    return {a.id for a in self.sources} | {a.id for a in self.built}

  @property
  def pushes(self) -> List[ArtifactInfo]:
    return [a for a in self.built if a.type == 'PushedModel' and a.properties.get('pushed')]

  @property
  def runs(self) -> List[str]:
    return sorted({r for e in self.executions for r in e.runs})

  def to_json(self) -> Dict[str, Any]:
    return {
        'query': self.description,
        'sources': [a.to_json() for a in self.sources],
        'built': [a.to_json() for a in self.built],
        'executions': [e.to_json() for e in self.executions],
        'pushes': [a.to_json() for a in self.pushes],
        'runs': self.runs,
        'judged_against': [a.to_json() for a in self.judged_against],
        'judging_executions': [e.to_json() for e in self.judging_executions],
    }


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
      source = self._source_files(producer, values.properties_of(artifact).get('span'))
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
  def _source_files(self, example_gen: mlmd.Execution, span) -> List[str]:
    props = values.properties_of(example_gen)
    base = props.get('input_base')
    if not base:
      return []
    files = []
    for pattern in _split_patterns(props):
      if '{SPAN}' in pattern:
        files += spans_lib.spans(base, pattern).get(span, []) if span is not None else []
      elif '{' not in pattern:
        files += sorted(glob.glob(os.path.join(base, pattern)))
    return files

  def data_source(self, examples: ArtifactInfo) -> DataSource:
    execution = self.store.executions([examples.producer.id])[0]
    props = values.properties_of(execution)
    span = examples.properties.get('span', props.get('span'))
    recorded = values.json_property(execution, record.INPUT_FILES) or {}
    base = props.get('input_base')
    files = self._source_files(execution, span)
    listed = {}
    for path in files:
      rel = os.path.relpath(path, base) if base else path
      listed[rel] = DataFile(rel, os.path.getsize(path), recorded.get(rel),
                             record.sha256_of(path))
    for rel, digest in recorded.items():
      listed.setdefault(rel, DataFile(rel, None, digest, None))
    patterns = _split_patterns(props)
    return DataSource(
        examples=examples, span=span, version=examples.properties.get('version'),
        input_base=base, patterns=patterns,
        fingerprint_recorded=props.get('input_fingerprint'),
        fingerprint_now=(fingerprint(base, patterns, span, _split_names(props))
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


def _input_splits(props: Dict[str, Any]) -> List[Dict[str, str]]:
  """ExampleGen's input splits (name, pattern) from its input_config property."""
  config = props.get('input_config')
  if isinstance(config, str):
    try:
      config = json.loads(config)
    except ValueError:
      return []
  return list((config or {}).get('splits', []))


def _split_patterns(props: Dict[str, Any]) -> List[str]:
  return [s.get('pattern', '') for s in _input_splits(props)]


def _split_names(props: Dict[str, Any]) -> List[str]:
  return [s.get('name', '') for s in _input_splits(props)]


def fingerprint(input_base: str, patterns: Sequence[str], span: Optional[int],
                split_names: Sequence[str]) -> str:
  """ExampleGen's input fingerprint of the files there now (size and mtime).

  Same format as tfx.utils.io_utils.generate_fingerprint, one line per split,
  so it compares equal to the recorded one while the files are untouched.
  """
  lines = []
  for name, pattern in zip(split_names, patterns):
    if '{SPAN}' in pattern:
      files = spans_lib.spans(input_base, pattern).get(span, [])
    else:
      files = sorted(glob.glob(os.path.join(input_base, pattern)))
    total, xor, added = 0, 0, 0
    for path in files:
      stat = os.stat(path)
      total += stat.st_size
      mtime = int(stat.st_mtime_ns / 10**9)
      xor ^= mtime
      added += mtime
    lines.append(f'split:{name},num_files:{len(files)},total_bytes:{total},'
                 f'xor_checksum:{xor},sum_checksum:{added}')
  return '\n'.join(lines)
