"""Provenance against real pipeline runs: lineage CLI, experiment table, HTML
report in headless Chromium, and both notebooks executed.

One fixture for the whole module makes two runs of local_runner.py into one
work dir, as monthly data arrives: span 1 alone, then span 2 added (the
latest span is trained on). The runs differ in learning rate, so the
experiment table has something to tell apart. The description is the default
one made cheaper (fewer epochs and slices) and with permissive blessing
thresholds: these tests are about provenance, not model quality.

Every expectation is computed independently of provenance/ where it can be:
from raw MLMD events, run_summary, TFMA's own loader and git.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import types

import pytest
import yaml

from data import generator
from ml_metadata.proto import metadata_store_pb2 as pb
from pipeline import configs
from metadata import run_summary
from metadata import store as mlmd
from metadata import values
from testing import browser

pytestmark = pytest.mark.e2e

PIPELINE = 'credit_risk'
ROWS = 2500
LEARNING_RATES = {1: 0.002, 2: 0.003}
SECTIONS = ('overview', 'statistics', 'anomalies', 'drift', 'evaluation', 'fairness',
            'per-class', 'blessing', 'lineage', 'artifacts')
ENV = dict(os.environ, TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='2')


def _description(path, learning_rate):
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw = copy.deepcopy(raw)
  raw['tags'] = []
  raw.setdefault('slices', {})['crosses'] = []
  raw['training'].update(epochs=4, learning_rate=learning_rate)
  raw['evaluation'].update(min_accuracy=0.5, min_rare_class_recall=0.0,
                           fairness_thresholds=[0.5])
  with open(path, 'w') as f:
    yaml.safe_dump(raw, f)
  return raw


def _git(*args):
  return subprocess.run(['git', '-C', configs.REPO_ROOT] + list(args), capture_output=True,
                        text=True, check=True).stdout.strip()


def _cli(*args):
  result = subprocess.run([sys.executable, '-m', 'cli.provenance'] + list(args),
                          capture_output=True, text=True, timeout=600, env=ENV,
                          cwd=configs.REPO_ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('provenance')
  generated, live, work = root / 'generated', root / 'data', root / 'work'
  generator.generate(str(generated), spans=2, rows_per_span=ROWS, seed=11)
  live.mkdir()
  commit = _git('rev-parse', 'HEAD')
  outputs, descriptions = {}, {}
  for span in (1, 2):
    shutil.copytree(generated / f'span-{span}', live / f'span-{span}')
    # A span arrives with its labelers' annotations (HumanLevelAnalysis).
    (live / 'labelers').mkdir(parents=True, exist_ok=True)
    shutil.copy(generated / 'labelers' / f'span-{span}.csv', live / 'labelers')
    description = str(root / f'description-{span}.yaml')
    descriptions[span] = _description(description, LEARNING_RATES[span])
    result = subprocess.run(
        [sys.executable, os.path.join(configs.REPO_ROOT, 'local_runner.py'),
         '--description', description, '--data-root', str(live), '--work-dir', str(work),
         '--allow-unblessed'],
        capture_output=True, text=True, timeout=1500, env=ENV)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert 'WARNING: provenance not recorded' not in result.stderr, result.stderr[-3000:]
    outputs[span] = result.stdout
  return _load(root, live, work, outputs, descriptions, commit)


def _load(root, live, work, outputs, descriptions, commit):
  metadata = configs.metadata_path(str(work), PIPELINE)
  store = mlmd.Store.open(metadata)
  contexts = store.pipeline_runs(PIPELINE)
  assert len(contexts) == 2
  summaries = {span: run_summary.summarize(metadata, PIPELINE, c.name)
               for span, c in zip((1, 2), contexts)}
  assert summaries[1].blessed, 'the first model must be blessed to be the baseline'
  return types.SimpleNamespace(
      root=root, data_root=str(live), work=str(work), metadata=metadata, store=store,
      outputs=outputs, descriptions=descriptions, summaries=summaries, commit=commit)


def _outputs_of_run(runs, span):
  """Artifact ids the run's executions wrote (OUTPUT events), from raw MLMD."""
  executions = [c.execution_id for c in runs.summaries[span].components]
  return {e.artifact_id for e in runs.store.store.get_events_by_execution_ids(executions)
          if e.type == pb.Event.OUTPUT}


def _built_from_span(runs, span):
  """What only the run on `span` wrote.

  Each run read one span, so what its executions wrote comes from that span,
  except what both runs output: a curated schema imported from a file (the
  second run's cached ImportSchemaGen outputs the same artifact).
  """
  other = 2 if span == 1 else 1
  return _outputs_of_run(runs, span) - _outputs_of_run(runs, other) - _span_examples(runs, span)


def _span_examples(runs, span):
  return {a.id for a in runs.store.store.get_artifacts_by_type('Examples')
          if 'span' in a.custom_properties and a.custom_properties['span'].int_value == span}


# --- the code version and hyperparameters, recorded on the executions ---------
def test_each_run_records_code_version_and_hyperparameters_on_its_executions(runs):
  for span, summary in runs.summaries.items():
    executed = [c for c in summary.components if c.state == 'COMPLETE']
    assert executed
    for execution in runs.store.store.get_executions_by_id([c.execution_id for c in executed]):
      props = values.properties_of(execution)
      assert props['code_git_commit'] == runs.commit
      assert props['code_git_dirty'] in (0, 1)
      node = runs.store.node_id(execution)
      if node == 'Trainer':
        assert json.loads(props['hyperparameters']) == runs.descriptions[span]['training']
      else:
        assert 'hyperparameters' not in props
    report = runs.outputs[span].split('run report     : ', 1)[1].splitlines()[0]
    assert os.path.exists(report) and summary.run_id.split('T')[0] in report


# --- lineage -----------------------------------------------------------------
def test_blast_radius_of_span_1_is_exactly_what_was_built_from_it(runs):
  found = json.loads(_cli('blast-radius', '--span', '1', '--metadata', runs.metadata, '--json'))
  sources = {a['id'] for a in found['sources']}
  built = {a['id'] for a in found['built']}
  assert sources == _span_examples(runs, 1)
  assert built == _built_from_span(runs, 1)
  assert {'Model', 'ModelEvaluation', 'ModelBlessing', 'PushedModel', 'TransformGraph'} <= {
      a['type'] for a in found['built']}
  assert not built & _outputs_of_run(runs, 2), 'an artifact of the span-2 run'
  assert found['runs'] == [runs.summaries[1].run_id]
  assert [p['properties']['pushed_destination'] for p in found['pushes']] == [
      runs.summaries[1].pushed_destination]
  # Run 2's Evaluator compared against the span-1 model: listed apart.
  judged = {a['type'] for a in found['judged_against']}
  assert 'ModelEvaluation' in judged and 'ModelBlessing' in judged
  assert {a['id'] for a in found['judged_against']} <= _outputs_of_run(runs, 2)


def test_blast_radius_of_span_2_has_nothing_of_span_1(runs):
  found = json.loads(_cli('blast-radius', '--span', '2', '--metadata', runs.metadata, '--json'))
  built = {a['id'] for a in found['built']}
  assert built == _built_from_span(runs, 2)
  assert not built & _outputs_of_run(runs, 1)
  assert not found['judged_against']


def test_blast_radius_of_an_input_file_equals_its_span(runs):
  path = os.path.join(runs.data_root, 'span-1', 'data.csv')
  text = _cli('blast-radius', '--file', path, '--metadata', runs.metadata)
  assert text.startswith(f'Blast radius of file {path}: ')
  for artifact_id in _built_from_span(runs, 1):
    assert f' {artifact_id} ' in text


def test_model_of_the_pushed_model_names_its_span_data_and_code(runs):
  pushing = [s for s in (1, 2) if runs.summaries[s].pushed_destination]
  span = pushing[-1]  # the latest push is the one serving
  found = json.loads(_cli('model', 'pushed', '--metadata', runs.metadata, '--json'))
  assert found['spans'] == [span]
  assert found['model']['id'] == runs.summaries[span].artifact('Model').id
  [source] = found['data']
  assert source['span'] == span and source['fingerprint_matches'] is True
  [data_file] = source['files']
  assert data_file['path'] == f'span-{span}/data.csv' and data_file['status'] == 'unchanged'
  trainer = next(e for e in found['executions'] if e['node_id'] == 'Trainer')
  assert trainer['code_commit'] == runs.commit
  assert trainer['hyperparameters']['learning_rate'] == LEARNING_RATES[span]
  types_upstream = {a['type'] for a in found['upstream']}
  assert {'Examples', 'Schema', 'TransformGraph'} <= types_upstream
  [evaluation] = found['evaluations']
  assert evaluation['blessed'] is True
  assert [p['properties']['pushed_destination'] for p in found['pushes']] == [
      runs.summaries[span].pushed_destination]
  text = _cli('model', 'pushed', '--metadata', runs.metadata)
  assert f'data spans       {span}' in text and f'learning_rate={LEARNING_RATES[span]}' in text
  assert runs.commit in text


# --- the experiment table ------------------------------------------------------
def test_runs_lists_both_runs_with_their_metrics(runs):
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  rows = json.loads(_cli('runs', '--metadata', runs.metadata, '--json'))
  assert [r['run_id'] for r in rows] == [runs.summaries[s].run_id for s in (1, 2)]
  for span, row in zip((1, 2), rows):
    summary = runs.summaries[span]
    assert row['spans'] == [span]
    assert row['hyperparameters']['learning_rate'] == LEARNING_RATES[span]
    assert row['code_version'].startswith(runs.commit[:12])
    assert row['blessed'] == summary.blessed
    pushed = summary.pushed_destination
    assert row['pushed_version'] == (os.path.basename(pushed) if pushed else None)
    # The table's accuracy is TFMA's own overall number for the candidate.
    uri = summary.artifact('ModelEvaluation').uri
    result = tfma.load_eval_result(uri, model_name='candidate' if span == 2 else None)
    overall = dict(result.slicing_metrics)[()]['']['']
    assert row['metrics']['accuracy'] == pytest.approx(
        overall['sparse_categorical_accuracy']['doubleValue'], abs=1e-6)
    assert 0 <= row['metrics']['default_recall'] <= 1
  text = _cli('runs', '--metadata', runs.metadata)
  header = text.splitlines()[0].split()
  assert header[:4] == ['run', 'started', 'spans', 'code'] and 'learning_rate' in header
  assert 'epochs=4' in text  # the same in both runs: listed once, below


# --- the HTML report -------------------------------------------------------------
def _report(runs, span):
  return runs.outputs[span].split('run report     : ', 1)[1].splitlines()[0]


def test_run_report_renders_in_headless_chromium(runs, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = _report(runs, 2)
  url = 'file://' + path
  screenshot = tmp_path / 'report.png'
  browser.chromium(tmp_path, f'--screenshot={screenshot}', '--window-size=1280,2400', url)
  image = Image.open(screenshot).convert('RGB')
  assert image.size == (1280, 2400)
  colors = image.getcolors(maxcolors=1 << 20)
  background = max(colors)[0] / (image.size[0] * image.size[1])
  assert len(colors) > 50 and background < 0.9, 'the screenshot is (nearly) blank'
  dom = browser.chromium(tmp_path, '--dump-dom', url)
  for section in SECTIONS:
    assert f'<section id="{section}">' in dom, section
  assert 'class="render-error"' not in dom
  assert runs.summaries[2].run_id in dom
  # The page is self-contained: nothing to fetch.
  assert 'src="http' not in dom and 'href="http' not in dom


def test_first_run_report_has_no_drift_section(runs):
  with open(_report(runs, 1)) as f:
    page = f.read()
  assert '<section id="statistics">' in page and '<section id="drift">' not in page
  assert 'class="render-error"' not in page


def test_report_fairness_section_highlights_gaps_above_the_threshold(runs):
  from provenance import evaluation as evaluation_lib  # pylint: disable=g-import-not-at-top
  with open(_report(runs, 2)) as f:
    page = f.read()
  fairness = page.split('<section id="fairness">', 1)[1].split('</section>', 1)[0]
  uri = runs.summaries[2].artifact('ModelEvaluation').uri
  rows = evaluation_lib.load_rows(uri)
  gaps = evaluation_lib.fairness_gaps(
      rows, ['gender', 'age_band', 'ethnicity'], 2,
      positives=evaluation_lib.class_counts(evaluation_lib.load_confusion(uri), 2))
  flagged = [g for g in gaps if g.flagged]
  assert fairness.count('<tr class="bad">') == len(flagged)
  for gap in gaps:
    assert gap.gap == pytest.approx(gap.worst_value - gap.best_value, abs=1e-12) or \
        gap.gap == pytest.approx(gap.best_value - gap.worst_value, abs=1e-12)


# --- the notebooks ---------------------------------------------------------------
@pytest.mark.parametrize('name, expected', [
    ('model_analysis.ipynb', ['candidate', 'baseline', 'false_negative_rate']),
    ('data_validation.ipynb', ['Spans with statistics: [1, 2]', 'Jensen-Shannon', 'L-infinity']),
])
def test_notebook_executes_against_the_runs(runs, name, expected, monkeypatch, tmp_path):
  import nbclient  # pylint: disable=g-import-not-at-top
  import nbformat  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv('PIPELINE_METADATA', runs.metadata)
  monkeypatch.setenv('PIPELINE_NAME', PIPELINE)
  notebooks = os.path.join(configs.REPO_ROOT, 'notebooks')
  notebook = nbformat.read(os.path.join(notebooks, name), as_version=4)
  for cell in notebook.cells:
    if cell.cell_type == 'code':
      assert not re.search(r"""['"](/|[A-Za-z]:\\)""", cell.source), 'a hard-coded path'
      assert not cell.get('outputs'), 'commit notebooks without outputs'
  # Raises CellExecutionError, naming the cell, if any cell fails.
  nbclient.NotebookClient(notebook, timeout=600, kernel_name='python3',
                          resources={'metadata': {'path': notebooks}}).execute()
  nbformat.write(notebook, str(tmp_path / name))  # kept for a look when a check fails
  text = json.dumps([cell.get('outputs', []) for cell in notebook.cells])
  assert 'Traceback' not in text
  assert runs.metadata in text  # the store came from the environment, not a path in the notebook
  for word in expected:
    assert word in text, word
  images = text.count('image/png')
  assert images >= 2, f'{name} drew {images} chart(s)'
