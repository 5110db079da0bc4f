"""What lineage answers are made of: executions, artifacts, data files, verdicts.

Plain dataclasses with to_json(), built by provenance/lineage.py and shown by
cli/provenance.py and the run report.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Set


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
