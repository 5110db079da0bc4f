"""The two baseline questions get the same answers locally and on Kubeflow.

One sequence of spans (accepted, rejected, re-run, backfilled; blessed or
not; rolled out to promotion, rolled back, paused for a sign-off that
rejected it, or not rolled out at all) is written twice: into a store in the layout TFX's own launcher writes
(local runs), where TFX's resolver strategies answer, and into a store in the
layout the KFP launcher writes, recorded by the same code the local KFP
backend records with, where the lookup tasks' queries answer. Before every
span both answer the two questions; the answers must name the same files.
"""

import json

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.baseline_lookup import history
from kubeflow_support import kfp_metadata
from metadata import artifacts
from metadata import type_names
from pipeline import previous_span
from pipeline import serving_baseline
from rollout import config as rollout_config

PIPELINE = 'credit-risk'
SPLITS = json.dumps(['train', 'eval'])


class LocalLayout:
  """What TFX's launcher writes in a local run: typed properties, `pipeline` context."""

  def __init__(self, path):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    self.store = metadata_store.MetadataStore(config)
    context_type = self.store.put_context_type(metadata_store_pb2.ContextType(name='pipeline'))
    [context_id] = self.store.put_contexts([metadata_store_pb2.Context(
        type_id=context_type, name=PIPELINE)])
    self.context = metadata_store_pb2.Context(id=context_id, type_id=context_type,
                                              name=PIPELINE)
    self.history = {cls: [] for cls in (
        standard_artifacts.Examples, standard_artifacts.ExampleStatistics,
        artifacts.DataValidationVerdict, standard_artifacts.Model,
        standard_artifacts.ModelBlessing, standard_artifacts.PushedModel,
        artifacts.RolloutDecision)}

  def execution(self, component, inputs, outputs):
    """Records one execution; `outputs` are (key, class, uri, {property: value})."""
    execution_type = self.store.put_execution_type(
        metadata_store_pb2.ExecutionType(name=component))
    pairs = []
    for key, artifact in inputs.items():
      event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)
      event.path.steps.add().key = key
      pairs.append((artifact.mlmd_artifact, event))
    made = []
    for key, cls, uri, props in outputs:
      artifact = cls()
      artifact.type_id = self.store.put_artifact_type(artifact.artifact_type)
      artifact.uri = uri
      for name, value in props.items():
        if name in (cls.PROPERTIES or {}):
          setattr(artifact, name, value)
        elif isinstance(value, str):
          artifact.set_string_custom_property(name, value)
        else:
          artifact.set_int_custom_property(name, value)
      event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
      event.path.steps.add().key = key
      pairs.append((artifact.mlmd_artifact, event))
      made.append(artifact)
    _, ids, _ = self.store.put_execution(
        metadata_store_pb2.Execution(type_id=execution_type), pairs, [self.context])
    for artifact, artifact_id in zip(made, ids[len(inputs):]):
      artifact.id = artifact_id
      self.history[type(artifact)].append(artifact)
    return made

  def previous_span(self, statistics):
    """PreviousSpanStrategy, given what the resolver node's channels hold."""
    return previous_span.PreviousSpanStrategy().resolve_artifacts(self.store, {
        'statistics': [statistics],
        'baseline_statistics': list(self.history[standard_artifacts.ExampleStatistics]),
        'baseline_examples': list(self.history[standard_artifacts.Examples]),
        'verdicts': list(self.history[artifacts.DataValidationVerdict])})

  def blessed_model(self):
    """ServingBaselineStrategy, given what the resolver node's channels hold."""
    return serving_baseline.ServingBaselineStrategy().resolve_artifacts(
        self.store, {'model': list(self.history[standard_artifacts.Model]),
                     'model_blessing': list(self.history[standard_artifacts.ModelBlessing])})


class KfpLayout:
  """What the KFP launcher writes: schema titles, custom properties as doubles."""

  TITLES = {standard_artifacts.Examples: 'tfx.Examples',
            standard_artifacts.ExampleStatistics: 'tfx.ExampleStatistics',
            artifacts.DataValidationVerdict: type_names.DATA_VALIDATION_VERDICT,
            standard_artifacts.Model: 'tfx.Model',
            standard_artifacts.ModelBlessing: 'tfx.ModelBlessing',
            standard_artifacts.PushedModel: 'tfx.PushedModel',
            artifacts.RolloutDecision: type_names.ROLLOUT_DECISION}

  def __init__(self, path):
    self.metadata = kfp_metadata.KfpMetadata(path)
    self.store = self.metadata.store
    self.runs = 0

  def execution(self, component, inputs, outputs):
    self.runs += 1
    contexts = self.metadata.run_contexts(PIPELINE, f'run-{self.runs}')
    runtime = {}
    for key, cls, uri, props in outputs:
      # TFX's entrypoint reports a custom property named like a property
      # as custom:<name> (the ExampleGen driver's span).
      metadata = {('custom:span' if name == 'span' and cls is standard_artifacts.Examples
                   else name): value for name, value in props.items()}
      runtime[key] = {'uri': uri, 'metadata': metadata,
                      'type': {'schemaTitle': self.TITLES[cls]}}
    _, ids = self.metadata.record(
        component, 'image', metadata_store_pb2.Execution.COMPLETE,
        {key: artifact for key, artifact in inputs.items()}, runtime, contexts)
    return [ids[key] for key, *_ in outputs]


class Sequence:
  """Spans flowing through both stores alike."""

  def __init__(self, tmp_path):
    self.local = LocalLayout(str(tmp_path / 'local.sqlite'))
    self.kfp = KfpLayout(str(tmp_path / 'kfp.sqlite'))
    self.step = 0

  def _both(self, component, local_inputs, kfp_inputs, outputs):
    return (self.local.execution(component, local_inputs, outputs),
            self.kfp.execution(component, kfp_inputs, outputs))

  def span(self, span, passed, blessed=None, decisions=(), push=None):
    """One run on `span`; first returns both paths' answers to the two questions.

    decisions: CanaryRollout's decision on the pushed model, then any sign-off
    outcomes, each recorded as cli.signoff records it (a SignOff execution
    reading the previous decision). push: the PushedModel's properties.
    """
    self.step += 1
    root = f'/root/run-{self.step}'
    [examples], [kfp_examples] = self._both('CsvExampleGen', {}, {}, [
        ('examples', standard_artifacts.Examples, f'{root}/examples',
         {'span': span, 'split_names': SPLITS})])
    [statistics], [kfp_statistics] = self._both(
        'StatisticsGen', {'examples': examples}, {'examples': kfp_examples}, [
            ('statistics', standard_artifacts.ExampleStatistics, f'{root}/statistics',
             {'span': span, 'split_names': SPLITS})])
    answers = self._answers(statistics, span)
    self._both('DataValidationGate',
               {'statistics': statistics, 'examples': examples},
               {'statistics': kfp_statistics, 'examples': kfp_examples}, [
                   ('verdict', artifacts.DataValidationVerdict, f'{root}/verdict',
                    {type_names.VERDICT_PASSED: int(passed),
                     type_names.VERDICT_STATISTICS_ID: statistics.id})])
    if passed and blessed is not None:
      [model], [kfp_model] = self._both('Trainer', {}, {}, [
          ('model', standard_artifacts.Model, f'{root}/model', {})])
      [blessing], [kfp_blessing] = self._both('Evaluator', {'model': model},
                                              {'model': kfp_model}, [
          ('blessing', standard_artifacts.ModelBlessing, f'{root}/blessing',
           {'blessed': int(blessed), 'current_model_id': model.id})])
      if decisions:
        self._roll_out(root, (model, blessing), (kfp_model, kfp_blessing), decisions,
                       push or {'pushed': 1})
    return answers

  def _roll_out(self, root, local, kfp, decisions, push):
    [pushed], [kfp_pushed] = self._both(
        'Pusher', dict(zip(('model', 'model_blessing'), local)),
        dict(zip(('model', 'model_blessing'), kfp)), [
            ('pushed_model', standard_artifacts.PushedModel, f'{root}/pushed', push)])
    component, key, local_input, kfp_input = 'CanaryRollout', 'pushed_model', pushed, kfp_pushed
    for n, decision in enumerate(decisions):
      [local_input], [kfp_input] = self._both(
          component, {key: local_input}, {key: kfp_input}, [
              ('rollout_decision', artifacts.RolloutDecision, f'{root}/rollout-{n}',
               {'decision': decision})])
      component, key = 'SignOff', 'rollout_decision'

  def _answers(self, statistics, span):
    local = self.local.previous_span(statistics)
    kfp = history.previous_span(self.kfp.store, PIPELINE, span)
    local_model = self.local.blessed_model()['model']
    kfp_model = history.baseline_model(self.kfp.store, PIPELINE)
    return {
        'local': ([a.uri for a in local['baseline_statistics']],
                  [a.uri for a in local['baseline_examples']],
                  [a.uri for a in local_model]),
        'kfp': ([kfp[0].uri] if kfp else [], [kfp[1].uri] if kfp else [],
                [kfp_model.uri] if kfp_model else []),
    }


PROMOTED, ROLLED_BACK = rollout_config.PROMOTED, rollout_config.ROLLED_BACK
PAUSED = rollout_config.AWAITING_SIGNOFF

# (span, gate passed, model blessed or None when not trained, the rollout's
# decisions), then what both paths must answer before it: (baseline
# statistics' run, baseline model's run).
SPANS = [
    ((1, True, True, (PROMOTED,)), (None, None)),  # the first span: nothing earlier
    ((2, False, None, ()), (1, 1)),           # drifted: rejected, never a baseline
    ((3, True, False, ()), (1, 1)),           # span 2 was rejected: span 1 it is
    ((4, True, True, ()), (3, 1)),            # span 3's model was not blessed
    ((3, True, True, (PROMOTED,)), (1, 4)),   # run 4's model had no rollout: eligible
    ((5, True, False, ()), (4, 5)),           # the re-run of span 3 was blessed last
    ((2, True, None, ()), (1, 5)),            # a backfill: only span 1 is earlier
    ((6, True, True, (ROLLED_BACK,)), (6, 5)),  # blessed by a lax gate, then rolled back
    ((7, True, True, (PROMOTED,)), (8, 5)),   # the rolled-back model is not the baseline
    ((8, True, True, (PAUSED, ROLLED_BACK)), (9, 9)),  # its sign-off will reject it
    ((9, True, True, (PAUSED,)), (10, 9)),    # run 10's model was rejected at sign-off
    ((10, True, None, ()), (11, 9)),          # run 11's model still awaits its sign-off
]


def test_the_lookups_answer_as_the_resolvers_on_the_same_spans(tmp_path):
  sequence = Sequence(tmp_path)
  for (span, passed, blessed, decisions), (baseline_run, model_run) in SPANS:
    answers = sequence.span(span, passed, blessed, decisions)
    assert answers['kfp'] == answers['local'], (span, answers)
    statistics, examples, model = answers['kfp']
    assert statistics == ([f'/root/run-{baseline_run}/statistics'] if baseline_run else [])
    assert examples == ([f'/root/run-{baseline_run}/examples'] if baseline_run else [])
    assert model == ([f'/root/run-{model_run}/model'] if model_run else [])


def test_the_lookups_read_the_local_layout_too(tmp_path):
  sequence = Sequence(tmp_path)
  for (span, passed, blessed, decisions), _ in SPANS[:5]:
    sequence.span(span, passed, blessed, decisions)
  # Span 3 passed twice (runs 3 and 5): the latest statistics win.
  found = history.previous_span(sequence.local.store, PIPELINE, 4)
  assert (found[0].uri, found[1].uri) == ('/root/run-5/statistics', '/root/run-5/examples')
  assert found[0].properties['span'] == 3
  assert history.baseline_model(sequence.local.store, PIPELINE).uri == '/root/run-5/model'
  assert history.previous_span(sequence.local.store, 'another-pipeline', 4) is None
  for (span, passed, blessed, decisions), _ in SPANS[5:]:
    sequence.span(span, passed, blessed, decisions)
  # Runs 11 (awaiting sign-off), 10 (rejected at sign-off) and 8 (rolled back) are skipped.
  assert history.baseline_model(sequence.local.store, PIPELINE).uri == '/root/run-9/model'


def test_an_identical_retrain_of_a_rolled_back_model_is_skipped_alike(tmp_path):
  sequence = Sequence(tmp_path)
  sequence.span(1, True, True, (PROMOTED,), {'pushed': 1, 'model_fingerprint': 'a'})
  sequence.span(2, True, True, (ROLLED_BACK,), {'pushed': 1, 'model_fingerprint': 'b'})
  # The same files again: UniquePusher pushes nothing, CanaryRollout says not_pushed.
  sequence.span(3, True, True, (rollout_config.NOT_PUSHED,),
                {'pushed': 0, 'model_fingerprint': 'b', 'duplicate_of_version': '2'})
  answers = sequence.span(4, True)
  assert answers['kfp'][2] == answers['local'][2] == ['/root/run-1/model']


def test_the_kfp_layout_keeps_the_span_where_the_lookups_read_it(tmp_path):
  sequence = Sequence(tmp_path)
  sequence.span(1, True, True)
  statistics, examples = history.previous_span(sequence.kfp.store, PIPELINE, 2)
  assert examples.properties['span'] == 1.0  # from custom:span, a double
  assert json.loads(statistics.properties['split_names']) == ['train', 'eval']


def test_a_model_the_evaluator_did_not_bless_is_never_the_baseline(tmp_path):
  sequence = Sequence(tmp_path)
  sequence.span(1, True, False)
  assert history.baseline_model(sequence.kfp.store, PIPELINE) is None
  assert sequence.local.blessed_model()['model'] == []
