"""Provenance logic on a small hand-built ML Metadata store (seconds, no pipeline).

The store mimics what TFX 1.16 records (pipeline / pipeline_run / node
contexts, INPUT and OUTPUT events keyed by input/output name, a Resolver's
INTERNAL_OUTPUT, cached executions re-linking old outputs), in three runs:

  run1  span 1 -> Trainer -> Model m1 -> Evaluator (no baseline) -> Pusher
  run2  span 2 -> Trainer -> Model m2 -> Evaluator (baseline m1) -> Pusher
        -> CanaryRollout; plus a HumanLevelPerformance artifact
  run3  the run2 Trainer again, CACHED: an OUTPUT event to the same m2
"""

import json
import os
import re
import subprocess
import time

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline import configs
from metadata import run_summary
from cli import provenance as cli
from provenance import evaluation
from provenance import lineage
from provenance import sources
from metadata import store as mlmd
from metadata import values
from provenance import record
from provenance import report
from metadata import type_names
from metadata import connection

PIPELINE = 'fake'
TFX = 'tfx.components.'
TYPES = {
    'ExampleGen': TFX + 'example_gen.csv_example_gen.component.CsvExampleGen',
    'Trainer': TFX + 'trainer.component.Trainer',
    'Evaluator': TFX + 'evaluator.component.Evaluator',
    'Pusher': TFX + 'pusher.component.Pusher',
    'Resolver': 'tfx.dsl.components.common.resolver.Resolver',
    'Rollout': 'components.canary.CanaryRollout',
    'HLP': 'components.hlp.HumanLevelPerformance',
}
TRAINING = {'epochs': 3, 'learning_rate': 0.01}


class FakeStore:
  """Writes TFX-shaped lineage through the MLMD API."""

  def __init__(self, path):
    self.path = path
    self.store = connection.create_sqlite_store(path)
    self.pipeline = self._context('pipeline', PIPELINE)
    self.ids = {}

  def _type(self, kind, name):
    if kind == 'context':
      return self.store.put_context_type(pb.ContextType(name=name))
    if kind == 'execution':
      return self.store.put_execution_type(pb.ExecutionType(name=name))
    return self.store.put_artifact_type(pb.ArtifactType(name=name))

  def _context(self, type_name, name):
    context = pb.Context(type_id=self._type('context', type_name), name=name)
    found = self.store.get_context_by_type_and_name(type_name, name)
    return found.id if found else self.store.put_contexts([context])[0]

  def start_run(self, run_id):
    self.run = self._context('pipeline_run', run_id)
    self.store.put_parent_contexts([pb.ParentContext(child_id=self.run, parent_id=self.pipeline)])
    time.sleep(0.002)  # distinct create times order the runs

  def artifact(self, name, type_name, uri='', **props):
    artifact = pb.Artifact(type_id=self._type('artifact', type_name), uri=uri or f'/fake/{name}',
                           state=pb.Artifact.LIVE)
    for key, value in props.items():
      if isinstance(value, int):
        artifact.custom_properties[key].int_value = value
      else:
        artifact.custom_properties[key].string_value = str(value)
    self.ids[name] = self.store.put_artifacts([artifact])[0]
    return self.ids[name]

  def execute(self, node, inputs=(), outputs=(), state=pb.Execution.COMPLETE,
              internal_outputs=(), **props):
    execution = pb.Execution(type_id=self._type('execution', TYPES[node]), last_known_state=state)
    for key, value in props.items():
      if isinstance(value, int):
        execution.custom_properties[key].int_value = value
      else:
        execution.custom_properties[key].string_value = value
    node_context = pb.Context(type_id=self._type('context', 'node'), name=f'{PIPELINE}.{node}')
    found = self.store.get_context_by_type_and_name('node', f'{PIPELINE}.{node}')
    contexts = [self.store.get_contexts_by_id([self.run])[0],
                found or node_context, self.store.get_contexts_by_id([self.pipeline])[0]]
    events = []
    for kind, pairs in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs),
                        (pb.Event.INTERNAL_OUTPUT, internal_outputs)):
      for key, name in pairs:
        event = pb.Event(type=kind)
        event.path.steps.add().key = key
        event.path.steps.add().index = 0
        artifact = self.store.get_artifacts_by_id([self.ids[name]])[0]
        events.append((artifact, event))
    execution_id, _, _ = self.store.put_execution(
        execution, events, contexts, reuse_context_if_already_exist=True)
    time.sleep(0.002)
    return execution_id


def _example_gen(fake, span, data_root):
  os.makedirs(os.path.join(data_root, f'span-{span}'), exist_ok=True)
  with open(os.path.join(data_root, f'span-{span}', 'data.csv'), 'w') as f:
    f.write(f'a,b\n{span},2\n')
  fake.artifact(f'examples{span}', 'Examples', span=span)
  pattern = f'span-{span}/*.csv'
  fingerprint = sources.fingerprint(data_root, [pattern], span, ['single_split'])
  return fake.execute(
      'ExampleGen', outputs=[('examples', f'examples{span}')], span=span,
      input_base=data_root, input_fingerprint=fingerprint,
      input_config=json.dumps({'splits': [{'name': 'single_split', 'pattern': pattern}]}))


@pytest.fixture(scope='module')
def fake(tmp_path_factory):
  root = tmp_path_factory.mktemp('fake_mlmd')
  data_root = str(root / 'data')
  store = FakeStore(str(root / 'metadata.sqlite'))
  custom_config = json.dumps({'description': {'training': TRAINING}})

  store.start_run('run1')
  _example_gen(store, 1, data_root)
  store.artifact('m1', 'Model')
  store.execute('Trainer', [('examples', 'examples1')], [('model', 'm1')],
                custom_config=custom_config)
  store.artifact('ev1', 'ModelEvaluation')
  store.artifact('b1', 'ModelBlessing', blessed=1)
  store.execute('Evaluator', [('model', 'm1'), ('examples', 'examples1')],
                [('evaluation', 'ev1'), ('blessing', 'b1')])
  store.artifact('p1', 'PushedModel', pushed=1, pushed_version='100',
                 pushed_destination='/serving/100')
  store.execute('Pusher', [('model', 'm1'), ('model_blessing', 'b1')], [('pushed_model', 'p1')])

  store.start_run('run2')
  _example_gen(store, 2, data_root)
  store.execute('Resolver', internal_outputs=[('model', 'm1'), ('model_blessing', 'b1')])
  store.artifact('m2', 'Model')
  store.execute('Trainer', [('examples', 'examples2')], [('model', 'm2')],
                custom_config=custom_config)
  store.artifact('ev2', 'ModelEvaluation')
  store.artifact('b2', 'ModelBlessing', blessed=1)
  store.execute('Evaluator', [('model', 'm2'), ('baseline_model', 'm1'), ('examples', 'examples2')],
                [('evaluation', 'ev2'), ('blessing', 'b2')])
  store.artifact('p2', 'PushedModel', pushed=1, pushed_version='200',
                 pushed_destination='/serving/200')
  store.execute('Pusher', [('model', 'm2'), ('model_blessing', 'b2')], [('pushed_model', 'p2')])
  rollout_dir = root / 'rollout'
  rollout_dir.mkdir()
  (rollout_dir / 'steps.json').write_text(json.dumps(
      [{'step': 1, 'traffic': 0.05, 'verdict': 'healthy'},
       {'step': 2, 'traffic': 0.5, 'verdict': 'healthy'}]))
  store.artifact('r2', 'CanaryRollout', uri=str(rollout_dir))
  store.execute('Rollout', [('pushed_model', 'p2')], [('rollout', 'r2')])
  hlp_dir = root / 'hlp'
  hlp_dir.mkdir()
  (hlp_dir / 'hlp.csv').write_text('slice,hlp,model_accuracy\noverall,0.93,0.81\n18-24,0.80,0.62\n')
  store.artifact('hlp2', type_names.HUMAN_LEVEL_PERFORMANCE, uri=str(hlp_dir))
  store.execute('HLP', [('examples', 'examples2')], [('hlp', 'hlp2')])

  store.start_run('run3')
  store.execute('Trainer', [('examples', 'examples2')], [('model', 'm2')],
                state=pb.Execution.CACHED, custom_config=custom_config)
  return store


@pytest.fixture
def lin(fake):
  return lineage.Lineage(mlmd.Store.open(fake.path))


def _ids(fake, *names):
  return {fake.ids[n] for n in names}


def test_blast_radius_of_a_span_follows_built_from_edges_only(fake, lin):
  blast = lin.blast_radius_of_span(1)
  assert {a.id for a in blast.sources} == _ids(fake, 'examples1')
  assert {a.id for a in blast.built} == _ids(fake, 'm1', 'ev1', 'b1', 'p1')
  assert [a.id for a in blast.pushes] == [fake.ids['p1']]
  assert blast.runs == ['run1']
  # Run 2 only compared against m1: its decisions are listed apart.
  assert {a.id for a in blast.judged_against} == _ids(fake, 'ev2', 'b2', 'p2', 'r2')


def test_blast_radius_of_the_next_span_includes_cached_reuse_and_rollout(fake, lin):
  blast = lin.blast_radius_of_span(2)
  assert {a.id for a in blast.built} == _ids(fake, 'm2', 'ev2', 'b2', 'p2', 'r2', 'hlp2')
  assert not blast.judged_against
  trainer_states = sorted(e.state for e in blast.executions if e.node_id == 'Trainer')
  assert trainer_states == ['CACHED', 'COMPLETE']
  assert blast.runs == ['run2', 'run3']


def test_blast_radius_of_a_file_and_of_an_artifact(fake, lin, tmp_path):
  path = os.path.join(os.path.dirname(fake.path), 'data', 'span-1', 'data.csv')
  assert ({a.id for a in lin.blast_radius_of_file(path).built} ==
          {a.id for a in lin.blast_radius_of_span(1).built})
  assert ({a.id for a in lin.blast_radius_of_artifact(fake.ids['b2']).built} ==
          _ids(fake, 'p2', 'r2'))
  with pytest.raises(mlmd.ProvenanceError, match='no ExampleGen run recorded reading'):
    lin.blast_radius_of_file(str(tmp_path / 'other.csv'))


def test_model_lineage_upstream_evaluation_and_push(fake, lin):
  model = lin.model_lineage('pushed')
  assert model.model.id == fake.ids['m2']
  # The Trainer that wrote it, not the later cached execution re-linking it.
  assert model.trainer.state == 'COMPLETE' and model.trainer.runs == ['run2']
  assert model.trainer.hyperparameters == TRAINING
  assert model.spans == [2]
  [source] = model.data
  assert [f.path for f in source.files] == ['span-2/data.csv']
  assert source.fingerprint_matches is True
  [judgement] = model.judgements
  assert judgement.blessed is True and judgement.baseline_model_id == fake.ids['m1']
  assert [p.id for p in model.pushes] == [fake.ids['p2']]
  assert {a.id for a in model.downstream} == _ids(fake, 'ev2', 'b2', 'p2', 'r2')
  assert lin.resolve_model('latest').id == fake.ids['m2']
  assert lin.resolve_model(str(fake.ids['m1'])).id == fake.ids['m1']


def test_changed_input_file_is_reported(fake, lin):
  path = os.path.join(os.path.dirname(fake.path), 'data', 'span-1', 'data.csv')
  stat = os.stat(path)
  with open(path, 'rb') as f:
    original = f.read()
  try:
    with open(path, 'ab') as f:
      f.write(b'9,9\n')
    [source] = lin.model_lineage(str(fake.ids['m1'])).data
    assert source.fingerprint_matches is False
  finally:
    with open(path, 'wb') as f:
      f.write(original)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
  [source] = lineage.Lineage(mlmd.Store.open(fake.path)).model_lineage(str(fake.ids['m1'])).data
  assert source.fingerprint_matches is True


@pytest.mark.parametrize('call, message', [
    (lambda l: l.resolve_model('12345'), 'no artifact with id 12345'),
    (lambda l: l.resolve_model('best'), 'expected an artifact id, "latest" or "pushed"'),
    (lambda l: l.blast_radius_of_span(9), r'no pipeline read span 9; spans read so far: \[1, 2\]'),
    (lambda l: l.blast_radius_of_artifact(99999), 'no artifact with id 99999'),
])
def test_unanswerable_questions_say_why(lin, call, message):
  with pytest.raises(mlmd.ProvenanceError, match=message):
    call(lin)


def test_empty_and_missing_stores_are_clear_errors(tmp_path):
  with pytest.raises(mlmd.ProvenanceError, match='no metadata store at'):
    lineage.Lineage.open(str(tmp_path / 'nowhere.sqlite'))
  FakeStore(str(tmp_path / 'empty.sqlite'))  # types and a pipeline context, no execution
  with pytest.raises(mlmd.ProvenanceError, match='holds no executions yet'):
    lineage.Lineage.open(str(tmp_path / 'empty.sqlite'))
  rc = cli.main(['model', 'latest', '--metadata', str(tmp_path / 'empty.sqlite')])
  assert rc == 3


def test_cli_text_output_names_the_span_and_the_baseline(fake, capsys):
  assert cli.main(['model', 'pushed', '--metadata', fake.path]) == 0
  out = capsys.readouterr().out
  assert f'Model {fake.ids["m2"]}' in out and 'span 2' in out
  assert f'baseline Model {fake.ids["m1"]}' in out and 'learning_rate=0.01' in out
  assert cli.main(['blast-radius', '--span', '1', '--metadata', fake.path, '--json']) == 0
  found = json.loads(capsys.readouterr().out)
  assert {a['id'] for a in found['built']} == _ids(fake, 'm1', 'ev1', 'b1', 'p1')


def test_annotate_run_keeps_component_times_and_skips_cached(tmp_path, fake):
  path = str(tmp_path / 'copy.sqlite')
  with open(fake.path, 'rb') as src, open(path, 'wb') as dst:
    dst.write(src.read())
  before = {c.execution_id: c.seconds for c in run_summary.summarize(path, PIPELINE, 'run2').components}
  time.sleep(0.05)
  code = record.CodeVersion('abc123' * 6 + 'abcd', True, 2)
  annotation = record.annotate_run(path, PIPELINE, code, run_id='run2')
  after = run_summary.summarize(path, PIPELINE, 'run2')
  assert {c.execution_id: c.seconds for c in after.components} == before
  assert annotation.hyperparameters == TRAINING
  store = mlmd.Store.open(path)
  for execution in store.executions(c.execution_id for c in after.components):
    props = values.properties_of(execution)
    assert props[record.CODE_VERSION] == 'abc123abc123-dirty'
    assert (record.HYPERPARAMETERS in props) == (store.node_id(execution) == 'Trainer')
  cached = run_summary.summarize(path, PIPELINE, 'run3')
  record.annotate_run(path, PIPELINE, code, run_id='run3')
  [trainer] = store.store.get_executions_by_id([cached.components[0].execution_id])
  assert record.CODE_VERSION not in trainer.custom_properties  # it ran no code


def _sections(page):
  return dict(re.findall(r'<section id="([a-z-]+)">(.*?)</section>', page, re.S))


def test_report_renders_only_the_sections_the_run_has(fake):
  sections = _sections(report.render(report.load_run(fake.path, PIPELINE, 'run2')))
  error = f'class="{report.RENDER_ERROR_CLASS}"'
  for present in ('overview', 'hlp', 'rollout', 'lineage', 'artifacts'):
    assert error not in sections[present], sections[present]
  assert 'statistics' not in sections and 'drift' not in sections  # no statistics here
  assert '18-24' in sections['hlp'] and '0.620' in sections['hlp']  # the HLP CSV, as a table
  assert sections['rollout'].count('healthy') == 2  # the rollout steps
  # The fake evaluation has no TFMA files: its sections fail alone, visibly.
  assert error in sections['evaluation']
  first = _sections(report.render(report.load_run(fake.path, PIPELINE, 'run1')))
  assert 'rollout' not in first and 'hlp' not in first


def test_a_new_section_is_one_function(fake):
  @report.section('shadow', 'Shadow traffic', report.of_type('CanaryRollout'))
  def _shadow(run, artifacts):
    return f'<p>{len(artifacts)} rollout(s) for run {run.summary.run_id}</p>'
  try:
    page = report.render(report.load_run(fake.path, PIPELINE, 'run2'))
  finally:
    report.SECTIONS.pop()
  assert '<section id="shadow"><h2>Shadow traffic</h2><p>1 rollout(s) for run run2</p>' in page


def _rows(metric, values, class_id=2):
  return [evaluation.MetricRow(((column, value),), metric, class_id, '', False, number)
          for (column, value), number in values.items()]


def test_fairness_gap_is_max_minus_min_and_flags_above_threshold():
  slices = {('gender', 'female'): 0.50, ('gender', 'male'): 0.65, ('gender', 'nonbinary'): 0.0}
  rows = _rows('recall', slices)
  rows += [evaluation.MetricRow(((c, v),), 'example_count', None, '', False, n)
           for (c, v), n in {('gender', 'female'): 300, ('gender', 'male'): 310,
                             ('gender', 'nonbinary'): 9}.items()]
  # Baseline values and diffs must not leak into the candidate's gap.
  rows += [evaluation.MetricRow((('gender', 'female'),), 'recall', 2, 'baseline', False, 0.0)]
  gaps = {g.metric: g for g in evaluation.fairness_gaps(rows, ['gender'], 2, threshold=0.1)}
  recall = gaps['recall']
  assert recall.gap == pytest.approx(0.15) and recall.flagged
  assert recall.worst == 'gender=female' and recall.best == 'gender=male'
  assert recall.slices_too_small == ('gender=nonbinary',)  # 9 examples: left out
  assert not evaluation.fairness_gaps(rows, ['gender'], 2, threshold=0.2)[0].flagged
  # Too few positives of the class: recall is left out, not computed on 2 examples.
  positives = {(('gender', 'female'),): 2, (('gender', 'male'),): 40}
  assert 'recall' not in {g.metric for g in evaluation.fairness_gaps(
      rows, ['gender'], 2, positives=positives)}


def test_install_test_tools_is_quiet_when_chromium_is_there():
  script = os.path.join(configs.REPO_ROOT, 'scripts', 'install_test_tools.sh')
  result = subprocess.run(['bash', script], capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  assert result.stdout == '' and result.stderr == ''
