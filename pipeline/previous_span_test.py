"""PreviousSpanStrategy: the latest accepted earlier span, and its examples."""

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx.types import standard_artifacts

from components.data_gate import component as data_gate
from pipeline import previous_span


@pytest.fixture
def store():
  config = metadata_store_pb2.ConnectionConfig()
  config.fake_database.SetInParent()
  return metadata_store.MetadataStore(config)


class History:
  """Statistics computed by StatisticsGen executions from Examples, in MLMD."""

  def __init__(self, store):
    self.store = store
    self.execution_type = store.put_execution_type(
        metadata_store_pb2.ExecutionType(name='StatisticsGen'))
    self.types = {}
    self.statistics, self.examples, self.verdicts = [], [], []

  def _put(self, cls, **props):
    artifact = cls()
    artifact.uri = f'/tmp/{cls.TYPE_NAME}/{len(self.types)}'
    if cls.TYPE_NAME not in self.types:
      self.types[cls.TYPE_NAME] = self.store.put_artifact_type(
          artifact.artifact_type)
    artifact.type_id = self.types[cls.TYPE_NAME]
    for key, value in props.items():
      setattr(artifact, key, value)
    [artifact.id] = self.store.put_artifacts([artifact.mlmd_artifact])
    return artifact

  def span(self, span, accepted=True):
    """Examples of `span` -> statistics; a verdict if the gate accepted them."""
    examples = self._put(standard_artifacts.Examples, span=span)
    statistics = self._put(standard_artifacts.ExampleStatistics, span=span)
    [execution_id] = self.store.put_executions([metadata_store_pb2.Execution(
        type_id=self.execution_type)])
    self.store.put_events([
        metadata_store_pb2.Event(artifact_id=examples.id, execution_id=execution_id,
                                 type=metadata_store_pb2.Event.INPUT),
        metadata_store_pb2.Event(artifact_id=statistics.id, execution_id=execution_id,
                                 type=metadata_store_pb2.Event.OUTPUT)])
    self.examples.append(examples)
    self.statistics.append(statistics)
    if accepted:
      verdict = data_gate.DataValidationVerdict()
      verdict.set_int_custom_property(previous_span.VERDICT_PASSED, 1)
      verdict.set_int_custom_property(previous_span.VERDICT_STATISTICS_ID,
                                      statistics.id)
      self.verdicts.append(verdict)
    return statistics, examples

  def resolve(self, current):
    return previous_span.PreviousSpanStrategy().resolve_artifacts(self.store, {
        'statistics': [current],
        'baseline_statistics': list(self.statistics),
        'baseline_examples': list(self.examples),
        'verdicts': list(self.verdicts),
    })


def test_picks_the_highest_accepted_earlier_span_and_its_examples(store):
  history = History(store)
  history.span(1)
  stats_2, examples_2 = history.span(2)
  history.span(3, accepted=False)  # Rejected: never a baseline.
  history.span(5)                  # Later than the current span.
  current, _ = history.span(4, accepted=False)
  result = history.resolve(current)
  assert [a.id for a in result['baseline_statistics']] == [stats_2.id]
  assert [a.id for a in result['baseline_examples']] == [examples_2.id]
  assert [a.id for a in result['statistics']] == [current.id]
  assert result['verdicts'] == []


def test_the_latest_run_of_a_span_wins(store):
  history = History(store)
  history.span(1)
  rerun, _ = history.span(1)
  current, _ = history.span(2, accepted=False)
  assert history.resolve(current)['baseline_statistics'][0].id == rerun.id


def test_no_earlier_good_span_resolves_to_nothing(store):
  history = History(store)
  history.span(2, accepted=False)
  current, _ = history.span(3, accepted=False)
  result = history.resolve(current)
  assert result['baseline_statistics'] == [] and result['baseline_examples'] == []
  first, _ = History(store).span(1, accepted=False)
  assert History(store).resolve(first)['baseline_statistics'] == []
