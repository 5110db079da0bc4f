"""The audit sign-off: a canary pauses at a step for a decision taken later by
`cli.signoff`, recorded in ML Metadata; real HTTP, toy SavedModels."""

import csv
import json
import os
import time

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

import description
import durable
from cli import signoff as signoff_cli
from metadata import connection
from metadata import values
from rollout import audit as audit_lib
from rollout import config as config_lib
from rollout import engine
from rollout import signoff as signoff_lib
from rollout import signoff_decision
from rollout import signoff_record
from rollout.guardrails import Thresholds
from serving import routing_store
from testing import rollout_fixtures as tu
from metadata import type_names

MODEL = tu.MODEL
# Slices of the toy rows: the two categorical inputs as tags.
SPEC = description.parse(dict(tu.TOY_DESCRIPTION, tags=['home_ownership', 'employment_type']),
                         source='toy')
TOLERANCE = 0.05


def figures(accuracy, recall=0.6):
  return audit_lib.Figures(400.0, 60.0, {audit_lib.ACCURACY: accuracy,
                                         audit_lib.RARE_RECALL: recall,
                                         audit_lib.FNR: 1 - recall,
                                         audit_lib.FPR: 0.1})


# The Evaluator's figures, synthesized: candidate as good as stable overall.
EVEN = {'overall': {'candidate': figures(0.82), 'stable': figures(0.81)},
        'home_ownership=RENT': {'candidate': figures(0.80), 'stable': figures(0.80)}}
# ... except on one slice, where its accuracy drops by 0.12 > the tolerance.
ONE_SLICE_WORSE = dict(EVEN, **{
    'home_ownership=RENT': {'candidate': figures(0.68), 'stable': figures(0.80)}})


@pytest.fixture(scope='module')
def bank():
  return tu.shared_bank()


def write_replay_csv(path, rows):
  names = list(rows[0].values)
  with open(path, 'w', newline='') as f:
    w = csv.DictWriter(f, names)
    w.writeheader()
    for r in rows:
      w.writerow(r.values)
  return path


def policy(signoff, **kw):
  return description.RolloutPolicy(signoff=signoff, slice_tolerance=TOLERANCE, **kw)


def roll_out(tmp_path, bank, rollout_policy, evaluation):
  models, rows = bank
  serving_root = tu.serving_root_with(str(tmp_path / 'serving'), models, {1: 'stable', 2: 'good'})
  replay = write_replay_csv(str(tmp_path / 'held_out.csv'), rows)
  plan = signoff_lib.SignoffPlan(policy=rollout_policy, out_dir=str(tmp_path / 'decision'),
                                 replay_source=replay, evaluation=evaluation,
                                 evaluation_source='synthesized')
  config = config_lib.RolloutConfig(steps=[25.0, 100.0], thresholds=Thresholds(min_samples=25),
                                    concurrency=2, max_seconds_per_step=60.0)
  result = engine.run_rollout(MODEL, 2, rows, SPEC, config, serving_root=serving_root,
                              replay_source=replay, signoff=plan)
  return serving_root, result


def pipeline_store(tmp_path, decision_dir):
  """An ML Metadata store holding the paused rollout's RolloutDecision, in a run context."""
  path = str(tmp_path / 'metadata.sqlite')
  config = mlmd.ConnectionConfig()
  config.sqlite.filename_uri = path
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(config)
  type_id = store.put_artifact_type(mlmd.ArtifactType(name=type_names.ROLLOUT_DECISION))
  artifact = mlmd.Artifact(type_id=type_id, uri=decision_dir, state=mlmd.Artifact.LIVE)
  artifact.custom_properties['decision'].string_value = config_lib.AWAITING_SIGNOFF
  artifact.custom_properties['candidate_version'].string_value = '2'
  [artifact_id] = store.put_artifacts([artifact])
  run_type = store.put_context_type(mlmd.ContextType(name='pipeline_run'))
  [run_id] = store.put_contexts([mlmd.Context(type_id=run_type, name='run-1')])
  store.put_attributions_and_associations(
      [mlmd.Attribution(artifact_id=artifact_id, context_id=run_id)], [])
  return path, artifact_id


def sign_off(serving_root, metadata, *args):
  return signoff_cli.main(list(args) + ['--serving-root', serving_root, '--model-name', MODEL,
                                        '--metadata', metadata, '--pipeline-name', 'p'])


def routing(serving_root):
  return routing_store.read(routing_store.state_path(serving_root, MODEL))


def assert_paused(serving_root, result):
  assert result.decision == config_lib.AWAITING_SIGNOFF, result.reason
  assert 'home_ownership=RENT' in result.reason and result.step == 1
  assert result.audit['regressed'] == ['home_ownership=RENT']
  # The weight is held by a lease ending at the deadline, in the durable state.
  saved = routing(serving_root)
  assert saved.labels == {'stable': 1, 'canary': 2} and saved.canary_weight == 25.0
  assert abs(saved.canary_lease_until - (time.time() + 24 * 3600)) < 120
  pause = signoff_lib.read_pause(serving_root, MODEL)
  assert (pause.candidate, pause.stable, pause.remaining_steps) == (2, 1, [100.0])
  assert pause.audit_sha256 == durable.sha256_of(result.audit['html'])
  with open(result.audit['json']) as f:
    page = json.load(f)
  rent = [s for s in page['slices'] if s['slice'] == 'home_ownership=RENT'][0]
  assert rent['regressed'] and rent['regressions'][0]['metric'] == 'accuracy'
  assert rent['live']['candidate']['examples'] > 0  # the canary's own answers, too
  return pause


def test_a_regressed_slice_pauses_and_rejected_rolls_back_with_the_record(tmp_path, bank):
  serving_root, result = roll_out(tmp_path, bank, policy('on_regression'), ONE_SLICE_WORSE)
  pause = assert_paused(serving_root, result)
  metadata, paused_id = pipeline_store(tmp_path, pause.decision_dir)
  assert sign_off(serving_root, metadata, 'status') == 0

  code = sign_off(serving_root, metadata, 'reject', '--reviewer', 'Ada Product',
                  '--reason', 'renters lose 12 points of accuracy', '--candidate', '2')

  assert code == 1
  saved = routing(serving_root)
  assert saved.labels == {'stable': 1} and 2 in saved.rejected
  assert 'Ada Product' in saved.rejected[2]
  assert signoff_lib.read_pause(serving_root, MODEL) is None
  store = connection.open_store(metadata)
  [execution] = store.get_executions_by_type(signoff_record.EXECUTION_TYPE)
  props = values.properties_of(execution)
  assert (props['verdict'], props['reviewer'], props['outcome']) == (
      'rejected', 'Ada Product', 'rolled_back')
  assert props['reason'] == 'renters lose 12 points of accuracy'
  assert (props['report'], props['report_sha256']) == (pause.audit_html, pause.audit_sha256)
  [paused] = store.get_artifacts_by_id([paused_id])
  assert values.property_value(paused, 'signoff_reviewer') == 'Ada Product'
  line = signoff_record.summary(values.properties_of(paused))
  assert 'rejected by Ada Product' in line and pause.audit_sha256[:12] in line
  # With the rollout: the sign-off joins the run's context and used the paused decision.
  events = store.get_events_by_execution_ids([execution.id])
  assert {(e.artifact_id == paused_id, e.type) for e in events} == {
      (True, mlmd.Event.INPUT), (False, mlmd.Event.OUTPUT)}
  assert [c.name for c in store.get_contexts_by_execution(execution.id)] == ['run-1']


def test_an_approved_pause_continues_to_promotion(tmp_path, bank):
  serving_root, result = roll_out(tmp_path, bank, policy('on_regression'), ONE_SLICE_WORSE)
  pause = assert_paused(serving_root, result)
  metadata, _ = pipeline_store(tmp_path, pause.decision_dir)

  code = sign_off(serving_root, metadata, 'approve', '--reviewer', 'Ada Product',
                  '--reason', 'renters are 3% of loans; accepted with a follow-up')

  assert code == 0
  assert routing(serving_root).labels == {'stable': 2, 'previous': 1}
  with open(os.path.join(pause.decision_dir, 'signoff', 'signoff.json')) as f:
    record = json.load(f)
  assert record['verdict'] == 'approved' and record['outcome'] == 'promoted'
  assert [s['weight'] for s in record['rollout_after']['steps']] == [25.0, 100.0]
  [execution] = connection.open_store(metadata).get_executions_by_type('SignOff')
  assert values.property_value(execution, 'outcome') == 'promoted'


def test_no_regression_is_promoted_without_a_pause_when_signoff_is_on_regression(
    tmp_path, bank):
  serving_root, result = roll_out(tmp_path, bank, policy('on_regression'), EVEN)
  assert result.decision == config_lib.PROMOTED, result.reason
  assert result.audit['regressed'] == [] and os.path.exists(result.audit['html'])
  assert signoff_lib.read_pause(serving_root, MODEL) is None
  assert routing(serving_root).labels['stable'] == 2


def test_an_expired_deadline_rolls_back(tmp_path, bank):
  serving_root, result = roll_out(tmp_path, bank, policy('always', deadline_hours=1),
                                  EVEN)
  assert result.decision == config_lib.AWAITING_SIGNOFF
  pause = signoff_lib.read_pause(serving_root, MODEL)
  with pytest.raises(signoff_lib.SignoffError, match='has not passed'):
    signoff_decision.decide(serving_root, MODEL, signoff_decision.EXPIRED, '', '')
  # An approval after the deadline is an expiry, not an approval.
  decision = signoff_decision.decide(serving_root, MODEL, 'approve', 'Late Larry', 'ok',
                                     now=pause.deadline + 1)
  assert (decision.verdict, decision.outcome) == ('expired', 'rolled_back')
  assert 'Late Larry' in decision.reason
  saved = routing(serving_root)
  assert saved.labels == {'stable': 1} and 2 in saved.rejected


def test_audit_marks_only_judgeable_regressions():
  small = audit_lib.Figures(10.0, 2.0, {audit_lib.ACCURACY: 0.2})
  found = audit_lib.build(
      MODEL, 2, 1, step=1, weight=5.0, created='now', tolerance=0.05,
      protected=['gender'], tags=['channel'],
      evaluation={'gender=f': {'candidate': figures(0.70), 'stable': figures(0.80)},
                  'channel=web': {'candidate': figures(0.79), 'stable': figures(0.80)},
                  'channel=tiny': {'candidate': small, 'stable': figures(0.80)}},
      live={})
  assert found.regressed == ['gender=f']
  assert [s.kind for s in found.slices] == ['protected', 'tag', 'tag']
  live = audit_lib.live_figures({'candidate': {'a': 1, 'b': 0}}, {'a': 1, 'b': 1},
                                {'a': {'channel': 'web'}, 'b': {'channel': 'web'}},
                                ['channel'], 1)
  assert live['channel=web']['candidate'].metrics[audit_lib.RARE_RECALL] == 0.5


def test_rollout_section_errors_name_file_and_field():
  raw = dict(tu.TOY_DESCRIPTION)
  parsed = description.parse(dict(raw, rollout={'signoff': 'always', 'pause_at_step': 2}),
                             source='d.yaml').rollout
  assert (parsed.signoff, parsed.pause_at_step, parsed.deadline_hours) == ('always', 2, 24.0)
  for section, field in (({'signoff': 'sometimes'}, 'rollout.signoff'),
                         ({'deadline_hours': 1000}, 'rollout.deadline_hours'),
                         ({'pause_at_step': 0}, 'rollout.pause_at_step'),
                         ({'tolerance': 0.1}, 'rollout.')):
    with pytest.raises(description.DatasetSpecError, match=f'd.yaml: .*{field}'):
      description.parse(dict(raw, rollout=section), source='d.yaml')


# --- rollouts by command: recorded in ML Metadata, and so are their sign-offs --
def store_with_a_push(tmp_path, serving_root):
  """A pipeline's store as the Pusher leaves it: Model -> Pusher -> PushedModel of version 2."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'pipeline.sqlite')
  config = mlmd.ConnectionConfig()
  config.sqlite.filename_uri = path
  store = metadata_store.MetadataStore(config)
  pipeline_type = store.put_context_type(mlmd.ContextType(name='pipeline'))
  [pipeline] = store.put_contexts([mlmd.Context(type_id=pipeline_type, name='p')])
  model = mlmd.Artifact(type_id=store.put_artifact_type(mlmd.ArtifactType(name='Model')),
                        uri=str(tmp_path / 'Trainer' / 'model'), state=mlmd.Artifact.LIVE)
  pushed = mlmd.Artifact(type_id=store.put_artifact_type(mlmd.ArtifactType(name='PushedModel')),
                         uri=str(tmp_path / 'Pusher'), state=mlmd.Artifact.LIVE)
  pushed.custom_properties['pushed'].int_value = 1
  pushed.custom_properties['pushed_destination'].string_value = os.path.join(
      serving_root, MODEL, '2')
  pushed.custom_properties['pushed_version'].string_value = '2'
  events = []
  for key, kind in (('model', mlmd.Event.INPUT), ('pushed_model', mlmd.Event.OUTPUT)):
    events.append(mlmd.Event(type=kind))
    events[-1].path.steps.add().key = key
  _, (model_id, pushed_id), _ = store.put_execution(
      mlmd.Execution(type_id=store.put_execution_type(mlmd.ExecutionType(name='Pusher')),
                     last_known_state=mlmd.Execution.COMPLETE),
      [(model, events[0]), (pushed, events[1])], store.get_contexts_by_id([pipeline]))
  return path, model_id, pushed_id


def cli_rollout(tmp_path, serving_root, metadata, rollout_section, out_name='cli_out'):
  from cli import rollout as rollout_cli  # pylint: disable=g-import-not-at-top
  spec = dict(tu.TOY_DESCRIPTION, tags=['home_ownership'], rollout=rollout_section)
  path = tmp_path / 'description.json'  # JSON is YAML
  path.write_text(json.dumps(spec))
  out = str(tmp_path / out_name)
  code = rollout_cli.main([
      '--serving-root', serving_root, '--model-name', MODEL, '--candidate', '2',
      '--replay', str(tmp_path / 'held_out.csv'), '--description', str(path),
      '--steps', '25,100', '--thresholds', '{"min_samples": 25}', '--concurrency', '2',
      '--max-seconds-per-step', '60', '--out', out, '--metadata', metadata])
  return code, out


def paused_by_command(tmp_path, bank, rollout_section):
  models, rows = bank
  serving_root = tu.serving_root_with(str(tmp_path / 'serving'), models, {1: 'stable', 2: 'good'})
  write_replay_csv(str(tmp_path / 'held_out.csv'), rows)
  metadata, model_id, pushed_id = store_with_a_push(tmp_path, serving_root)
  code, out = cli_rollout(tmp_path, serving_root, metadata, rollout_section)
  assert code == 3  # paused
  store = connection.open_store(metadata)
  [rollout] = store.get_executions_by_type(signoff_record.ROLLOUT_EXECUTION_TYPE)
  events = store.get_events_by_execution_ids([rollout.id])
  [paused] = store.get_artifacts_by_type(type_names.ROLLOUT_DECISION)
  assert {(e.artifact_id, values.event_key(e)) for e in events} == {
      (pushed_id, 'pushed_model'), (paused.id, 'rollout_decision')}
  assert paused.uri == out and values.property_value(paused, 'decision') == 'awaiting_signoff'
  assert values.property_value(paused, 'audit_report') == os.path.join(out, 'audit.html')
  return serving_root, metadata, model_id, paused


@pytest.mark.parametrize('verdict,code,outcome', [('approve', 0, 'promoted'),
                                                  ('reject', 1, 'rolled_back')])
def test_a_pause_by_cli_rollout_is_decided_and_recorded_with_the_model(
    tmp_path, bank, capsys, verdict, code, outcome):
  from cli import provenance as provenance_cli  # pylint: disable=g-import-not-at-top
  serving_root, metadata, model_id, paused = paused_by_command(
      tmp_path, bank, {'signoff': 'always'})

  assert sign_off(serving_root, metadata, verdict, '--reviewer', 'Ada Product',
                  '--reason', 'seen the slices') == code

  store = connection.open_store(metadata)
  [execution] = store.get_executions_by_type(signoff_record.EXECUTION_TYPE)
  assert values.property_value(execution, 'verdict') == signoff_decision.VERDICTS[verdict]
  assert values.property_value(execution, 'outcome') == outcome
  [paused] = store.get_artifacts_by_id([paused.id])
  assert values.property_value(paused, 'signoff_reviewer') == 'Ada Product'
  capsys.readouterr()
  assert provenance_cli.main(['model', str(model_id), '--metadata', metadata]) == 0
  shown = capsys.readouterr().out
  assert (f'awaiting_signoff; sign-off {signoff_decision.VERDICTS[verdict]} by Ada Product'
          in shown), shown
  assert f'{outcome}; sign-off' in shown  # the outcome artifact, after the decision


def test_an_expiry_settled_by_the_next_cli_rollout_is_recorded(tmp_path, bank, capsys):
  serving_root, metadata, _, paused = paused_by_command(
      tmp_path, bank, {'signoff': 'always', 'deadline_hours': 1})
  pause_file = signoff_lib.pause_path(serving_root, MODEL)
  with open(pause_file) as f:
    record = json.load(f)
  record['deadline'] = time.time() - 1  # the hour has passed
  routing_store.write_json(pause_file, record)

  code, _ = cli_rollout(tmp_path, serving_root, metadata, {'signoff': 'always'}, 'again')

  assert 'expired sign-off settled first' in capsys.readouterr().out
  # Rolled out again on purpose, the candidate pauses again for its own sign-off.
  assert code == 3 and signoff_lib.read_pause(serving_root, MODEL).decision_dir.endswith('again')
  store = connection.open_store(metadata)
  [execution] = store.get_executions_by_type(signoff_record.EXECUTION_TYPE)
  assert values.property_value(execution, 'verdict') == 'expired'
  assert values.property_value(execution, 'outcome') == 'rolled_back'
  [paused] = store.get_artifacts_by_id([paused.id])
  assert values.property_value(paused, 'signoff_verdict') == 'expired'


def test_an_expiry_settled_by_a_rollout_that_then_failed_is_still_recorded(tmp_path, bank):
  """CanaryRollout settles an expired pause before its own rollout; if that
  rollout then fails, TFX publishes no output naming the settled file, yet
  the run's end (record_settled) finds the decision beside the paused rollout."""
  serving_root, metadata, _, paused = paused_by_command(
      tmp_path, bank, {'signoff': 'always', 'deadline_hours': 1})
  pause_file = signoff_lib.pause_path(serving_root, MODEL)
  with open(pause_file) as f:
    record = json.load(f)
  record['deadline'] = time.time() - 1
  routing_store.write_json(pause_file, record)
  settled = signoff_decision.clear_the_way(serving_root, MODEL, 9)
  assert settled is not None and settled.verdict == 'expired'
  # ... and here the rollout fails: nothing else is written or recorded.

  [recorded] = signoff_record.record_settled(metadata)
  assert recorded['paused_artifact'] == paused.id
  store = connection.open_store(metadata)
  [execution] = store.get_executions_by_id([recorded['execution']])
  assert values.property_value(execution, 'verdict') == 'expired'
  assert signoff_record.record_settled(metadata) == []  # once only


def test_a_first_deployment_in_shadow_is_audited_too_without_a_pause(tmp_path, bank):
  models, rows = bank
  serving_root = tu.serving_root_with(str(tmp_path / 'serving'), models, {7: 'good'})
  # A first deployment's evaluation has no baseline: the candidate's figures alone.
  offline = {'overall': {'candidate': figures(0.82)},
             'home_ownership=RENT': {'candidate': figures(0.61)}}
  plan = signoff_lib.SignoffPlan(policy=policy('always'), out_dir=str(tmp_path / 'decision'),
                                 replay_source='rows', evaluation=offline,
                                 evaluation_source='first evaluation')
  config = config_lib.RolloutConfig(thresholds=Thresholds(min_samples=25), concurrency=2,
                                    max_seconds_per_step=60.0)
  result = engine.run_rollout(MODEL, 7, rows, SPEC, config, serving_root=serving_root,
                              signoff=plan)

  assert (result.mode, result.decision) == ('shadow', config_lib.PROMOTED), result.reason
  assert signoff_lib.read_pause(serving_root, MODEL) is None
  assert any('first deployment' in n and 'no pause' in n for n in result.notes)
  with open(result.audit['json']) as f:
    page = json.load(f)
  assert page['stable'] is None and page['regressed'] == [] and page['weight'] == 0.0
  rent = [s for s in page['slices'] if s['slice'] == 'home_ownership=RENT'][0]
  assert rent['evaluation']['candidate']['metrics']['accuracy'] == 0.61
  assert set(rent['live']) == {'candidate'}  # the shadow's own answers, joined to labels
  assert rent['live']['candidate']['examples'] > 0
  with open(result.audit['html']) as f:
    assert 'a first deployment' in f.read()
