"""ServingBaselineStrategy: the latest blessed model that no rollout refused."""

from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy
from tfx.types import standard_artifacts

from components.canary_rollout import executor as canary_executor
from components.unique_pusher import executor as unique_pusher
from metadata import record as mlmd_record
from metadata import type_names
from metadata import values
from metadata import walks
from metadata.artifacts import RolloutDecision
from pipeline import serving_baseline
from rollout import config as rollout_config
from rollout import signoff_decision
from rollout import signoff_record
from metadata import connection


@pytest.fixture
def history(tmp_path):
  # SQLite rather than the fake database: the sign-off writer opens the store by path.
  return History(str(tmp_path / 'metadata.sqlite'))


class History:
  """Models trained, evaluated, pushed and rolled out, as a local run records them."""

  def __init__(self, path):
    self.path = path
    self.store = connection.create_sqlite_store(path)
    # As TFX's launcher records it; the sign-off joins the paused rollout's contexts.
    context_type = self.store.put_context_type(metadata_store_pb2.ContextType(name='pipeline'))
    [context_id] = self.store.put_contexts([metadata_store_pb2.Context(
        type_id=context_type, name='p')])
    self.context = metadata_store_pb2.Context(id=context_id, type_id=context_type, name='p')
    self.models, self.blessings = [], []
    self.runs = self.pushes = 0

  def _execution(self, type_name, inputs, outputs):
    """inputs and outputs: event key -> TFX artifact; outputs get their ids."""
    execution_type = self.store.put_execution_type(
        metadata_store_pb2.ExecutionType(name=type_name))
    pairs = []
    for kind, artifacts in ((metadata_store_pb2.Event.INPUT, inputs),
                            (metadata_store_pb2.Event.OUTPUT, outputs)):
      for key, artifact in artifacts.items():
        if kind == metadata_store_pb2.Event.OUTPUT:
          artifact.type_id = self.store.put_artifact_type(artifact.artifact_type)
        event = metadata_store_pb2.Event(type=kind)
        event.path.steps.add().key = key
        pairs.append((artifact.mlmd_artifact, event))
    _, ids, _ = self.store.put_execution(
        metadata_store_pb2.Execution(type_id=execution_type), pairs, [self.context])
    for artifact, artifact_id in zip(outputs.values(), ids[len(inputs):]):
      artifact.id = artifact_id

  def model(self, blessed=True):
    """A run's Trainer and Evaluator: the model and its blessing."""
    self.runs += 1
    model = standard_artifacts.Model()
    model.uri = f'/runs/{self.runs}/model'
    self._execution('Trainer', {}, {'model': model})
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = f'/runs/{self.runs}/blessing'
    blessing.set_int_custom_property(evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                     int(blessed))
    blessing.set_int_custom_property(
        evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    self._execution('Evaluator', {'model': model}, {'blessing': blessing})
    self.models.append(model)
    self.blessings.append(blessing)
    return model, blessing

  def push(self, model, blessing, pushed=True, fingerprint=None):
    self.pushes += 1
    pushed_model = standard_artifacts.PushedModel()
    pushed_model.uri = f'/pushes/{self.pushes}'
    pushed_model.set_int_custom_property('pushed', int(pushed))
    if fingerprint:
      pushed_model.set_string_custom_property(unique_pusher.FINGERPRINT_PROPERTY, fingerprint)
    self._execution('Pusher', {'model': model, 'model_blessing': blessing},
                    {'pushed_model': pushed_model})
    return pushed_model

  def rollout(self, pushed_model, decision):
    """CanaryRollout's record of `decision`, with the properties its executor writes."""
    output = RolloutDecision()
    output.uri = f'{pushed_model.uri}/rollout-{decision}'
    result = rollout_config.RolloutResult(decision=decision, reason='test', model='m',
                                          candidate=1)
    mlmd_record.set_properties(output.mlmd_artifact,
                               signoff_record.decision_properties(result, 'rollout.html'))
    self._execution('CanaryRollout', {canary_executor.PUSHED_MODEL_KEY: pushed_model},
                    {canary_executor.ROLLOUT_DECISION_KEY: output})
    return output

  def released(self, decision, blessed=True):
    """A model blessed, pushed and rolled out to `decision`."""
    model, blessing = self.model(blessed)
    self.rollout(self.push(model, blessing), decision)
    return model

  def sign_off(self, paused, verdict, outcome):
    """The sign-off on a paused rollout, by the writer cli.signoff uses."""
    decision = signoff_decision.Decision(
        verdict=verdict, reviewer='Ada', reason='audit read', decided_at='2026-01-01',
        candidate=1, stable=0, step=1, report='audit.html', report_sha256='0' * 64,
        outcome=outcome, outcome_reason='test', decision_dir=paused.uri,
        record_path=f'{paused.uri}/signoff/signoff.json')
    signoff_record.record(self.path, decision)

  def resolve(self):
    return serving_baseline.ServingBaselineStrategy().resolve_artifacts(self.store, {
        'model': list(self.models), 'model_blessing': list(self.blessings)})

  def baseline_uri(self):
    result = self.resolve()
    assert len(result['model']) == len(result['model_blessing']) <= 1
    if result['model']:
      [blessing] = result['model_blessing']
      assert blessing.get_int_custom_property('current_model_id') == result['model'][0].id
    return result['model'][0].uri if result['model'] else None


def test_a_promoted_blessed_model_is_the_baseline(history):
  promoted = history.released(rollout_config.PROMOTED)
  history.model(blessed=False)  # this run's candidate, refused by the Evaluator
  assert history.baseline_uri() == promoted.uri


def test_a_later_rolled_back_model_is_skipped_for_the_earlier_promoted_one(history):
  promoted = history.released(rollout_config.PROMOTED)
  broken = history.released(rollout_config.ROLLED_BACK)
  assert history.baseline_uri() == promoted.uri
  # TFX's strategy, which this one replaces, picks the broken model.
  tfx_answer = latest_blessed_model_strategy.LatestBlessedModelStrategy().resolve_artifacts(
      history.store, {'model': list(history.models), 'model_blessing': list(history.blessings)})
  assert [m.uri for m in tfx_answer['model']] == [broken.uri]


def test_a_blessed_model_without_any_rollout_is_eligible(history):
  history.released(rollout_config.PROMOTED)
  unrolled, blessing = history.model()
  history.push(unrolled, blessing)  # no rollout server: the push is the deployment
  assert history.baseline_uri() == unrolled.uri
  never_pushed, _ = history.model()
  assert history.baseline_uri() == never_pushed.uri


def test_nothing_eligible_resolves_to_nothing(history):
  assert history.resolve() == {'model': [], 'model_blessing': []}
  history.released(rollout_config.ROLLED_BACK)
  history.model(blessed=False)
  assert history.resolve() == {'model': [], 'model_blessing': []}


def test_a_duplicate_push_keeps_what_the_earlier_rollout_decided(history):
  first = history.released(rollout_config.PROMOTED)
  served, served_blessing = history.model()
  history.rollout(history.push(served, served_blessing), rollout_config.PROMOTED)
  # The cached model blessed again: UniquePusher does not push it, CanaryRollout says not_pushed.
  history.rollout(history.push(served, served_blessing, pushed=False),
                  rollout_config.NOT_PUSHED)
  assert history.baseline_uri() == served.uri
  refused, refused_blessing = history.model()
  history.rollout(history.push(refused, refused_blessing), rollout_config.ROLLED_BACK)
  history.rollout(history.push(refused, refused_blessing, pushed=False),
                  rollout_config.NOT_PUSHED)
  assert history.baseline_uri() == served.uri
  assert walks.rollout_standing(history.store, first.id) == rollout_config.PROMOTED
  assert walks.rollout_standing(history.store, refused.id) == rollout_config.ROLLED_BACK


@pytest.mark.parametrize('first_decision', [rollout_config.PROMOTED,
                                            rollout_config.ROLLED_BACK])
def test_an_identical_retrained_model_stands_where_its_twin_was_left(history,
                                                                     first_decision):
  stable = history.released(rollout_config.PROMOTED)
  twin, twin_blessing = history.model()
  history.rollout(history.push(twin, twin_blessing, fingerprint='f1'), first_decision)
  # Trained again to the same files: UniquePusher finds the fingerprint, pushes nothing.
  retrained, blessing = history.model()
  history.rollout(history.push(retrained, blessing, pushed=False, fingerprint='f1'),
                  rollout_config.NOT_PUSHED)
  other, other_blessing = history.model(blessed=False)
  history.push(other, other_blessing, pushed=False, fingerprint='f2')
  expected = retrained if first_decision == rollout_config.PROMOTED else stable
  assert history.baseline_uri() == expected.uri


def test_a_model_awaiting_sign_off_is_not_the_baseline_until_approved(history):
  stable = history.released(rollout_config.PROMOTED)
  model, blessing = history.model()
  paused = history.rollout(history.push(model, blessing), rollout_config.AWAITING_SIGNOFF)
  assert history.baseline_uri() == stable.uri
  history.sign_off(paused, signoff_decision.VERDICTS[signoff_decision.APPROVE],
                   rollout_config.PROMOTED)
  assert history.baseline_uri() == model.uri


@pytest.mark.parametrize('verdict', [signoff_decision.VERDICTS[signoff_decision.REJECT],
                                     signoff_decision.EXPIRED])
def test_a_rollout_rejected_or_expired_at_sign_off_is_skipped(history, verdict):
  stable = history.released(rollout_config.PROMOTED)
  model, blessing = history.model()
  paused = history.rollout(history.push(model, blessing), rollout_config.AWAITING_SIGNOFF)
  history.sign_off(paused, verdict, rollout_config.ROLLED_BACK)
  # Reached by lineage: the SignOff execution read the paused decision, wrote the outcome.
  assert [values.property_value(d, 'decision') for d in walks.rollout_decisions_of(
      history.store, model.id)] == [rollout_config.AWAITING_SIGNOFF, rollout_config.ROLLED_BACK]
  assert walks.rollout_standing(history.store, model.id) == rollout_config.ROLLED_BACK
  assert history.baseline_uri() == stable.uri


def test_the_latest_decision_about_a_model_wins(history):
  first = history.released(rollout_config.PROMOTED)
  model, blessing = history.model()
  history.rollout(history.push(model, blessing), rollout_config.ROLLED_BACK)
  # Rolled out again on purpose later (a second push of the same model), and promoted.
  history.rollout(history.push(model, blessing), rollout_config.PROMOTED)
  assert history.baseline_uri() == model.uri
  history.rollout(history.push(model, blessing), rollout_config.ROLLED_BACK)
  assert history.baseline_uri() == first.uri


def test_the_names_read_back_are_the_writers_names():
  for name in ('PROMOTED', 'ROLLED_BACK', 'NOT_PUSHED', 'ALREADY_STABLE', 'AWAITING_SIGNOFF'):
    assert getattr(type_names, name) == getattr(rollout_config, name)
  assert type_names.SIGNOFF_OUTCOME in signoff_record.SIGNOFF_PROPERTIES
  assert type_names.ROLLOUT_DECISION == signoff_record.ARTIFACT_TYPE
  assert walks.ROLLOUT_DECISION_KEY == canary_executor.ROLLOUT_DECISION_KEY == (
      signoff_record.EVENT_KEY)
  assert walks.PUSHED_MODEL_KEY == canary_executor.PUSHED_MODEL_KEY == (
      signoff_record.PUSHED_MODEL_KEY)
  assert type_names.MODEL_FINGERPRINT == unique_pusher.FINGERPRINT_PROPERTY
  assert serving_baseline.BLESSED == evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY
  assert serving_baseline.CURRENT_MODEL_ID == (
      evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY)
