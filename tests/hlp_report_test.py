"""The HLP report's tables, on generated data with planted truths (no TFX).

The statistics themselves are tested against reference implementations in
analysis/*_test.py; these tests check what the report adds: the join of the
labelers file, which rows feed which table, the ranking rules, and that the
planted labeler accuracies come back out per slice.
"""

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from analysis import baselines
import markupsafe

from analysis import hlp_data
from analysis import hlp_report
from analysis import hlp_view
from cli import hlp_report as hlp_command
from components.human_level import executor
from data import generator
import description
from pipeline import configs

LABELERS = list(generator.LABELER_COLUMNS)


@pytest.fixture(scope='module')
def spec():
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='module')
def big(tmp_path_factory):
  """60,000 rows, half of them labeled: tight per-slice estimates."""
  root = str(tmp_path_factory.mktemp('hlp_big'))
  generator.generate(root, spans=1, rows_per_span=60000, seed=5,
                     labeler_fraction=0.5, verbose=False)
  with open(os.path.join(root, 'generation.json')) as f:
    meta = json.load(f)
  rows = pd.read_csv(os.path.join(root, 'span-1', 'data.csv'))
  return root, rows, meta


def _report(spec, root, rows, predictions=None, evaluation=None, **kwargs):
  path = os.path.join(root, 'labelers', 'span-1.csv')
  labels = hlp_data.read_labelers_file(path, spec, 1)
  labeled = hlp_data.join_labels(rows, labels, spec, path)
  evaluation = rows if evaluation is None else evaluation
  if predictions is None:
    predictions = evaluation['outcome'].to_numpy()
  report = hlp_report.build_report(
      spec, labeled, evaluation, {baselines.NEW_MODEL: predictions}, **kwargs)
  # As the report saw it: slice values as strings, the crosses as columns.
  return report, hlp_data.prepare_frame(labeled, spec)


@pytest.fixture(scope='module')
def big_report(spec, big):
  root, rows, _ = big
  evaluation = rows.sample(n=10000, random_state=0)
  # Wrong exactly on the broker channel (the planted tag effect), right
  # elsewhere: every error analysis number is then known.
  wrong = {'repaid': 'late', 'late': 'default', 'default': 'repaid'}
  predictions = np.where(evaluation['channel'] == 'broker',
                         evaluation['outcome'].map(wrong), evaluation['outcome'])
  report, labeled = _report(spec, root, rows, predictions, evaluation,
                            train=rows.drop(evaluation.index).head(5000))
  return report, labeled, evaluation


def _planted(meta, labeler, age_band):
  accuracy = meta['labelers']['accuracy'][labeler]
  return accuracy[age_band] if age_band == meta['weak_slice']['value'] else accuracy['other']


def test_hlp_per_slice_recovers_the_planted_labeler_accuracies(big, big_report):
  """Stated tolerance: 4 binomial standard errors of the slice (about 0.03
  for the weak slice's ~4,500 labeled rows), and 0.03 flat for age bands.

  The expected accuracy of a slice is the mean planted probability of its
  rows: 18-24 rows have the weak-slice accuracy, the others the usual one,
  so a gender or channel slice expects a mixture.
  """
  _, _, meta = big
  report, labeled, _ = big_report
  weak = meta['weak_slice']['value']
  is_weak = (labeled['age_band'] == weak).to_numpy()
  table = hlp_view.table_frame(report, 'hlp_by_slice')
  checked = 0
  for _, row in table.iterrows():
    if row['slice_column'] == 'overall':
      mask = np.ones(len(labeled), bool)
    else:
      mask = (labeled[row['slice_column']] == row['slice_value']).to_numpy()
    n = int(mask.sum())
    assert n == row['n_labeled']
    if n < 200:
      continue  # e.g. nonbinary x 18-24: too few rows for a tolerance worth stating
    expected = []
    for labeler in LABELERS:
      p = np.where(is_weak[mask], _planted(meta, labeler, weak), _planted(meta, labeler, 'x'))
      tolerance = 4 * np.sqrt(np.sum(p * (1 - p))) / n
      assert row[f'{labeler}_accuracy'] == pytest.approx(p.mean(), abs=tolerance), (
          row['slice_column'], row['slice_value'], labeler)
      if row['slice_column'] == 'age_band':
        assert row[f'{labeler}_accuracy'] == pytest.approx(
            _planted(meta, labeler, row['slice_value']), abs=0.03)
      expected.append(p.mean())
      checked += 1
    assert row['hlp'] == pytest.approx(np.mean([row[f'{l}_accuracy'] for l in LABELERS]))
    assert row['hlp'] == pytest.approx(np.mean(expected), abs=0.02)
  assert checked >= 3 * 40
  weak_row = table[(table['slice_column'] == 'age_band') & (table['slice_value'] == weak)].iloc[0]
  others = table[(table['slice_column'] == 'age_band') & (table['slice_value'] != weak)]
  # The weak slice is the one where people are worse, by the planted drop.
  assert (others['hlp'] - weak_row['hlp']).min() == pytest.approx(
      meta['labelers']['weak_slice_drop'], abs=0.035)


def test_the_speech_example_ranks_exactly(spec):
  slices = pd.DataFrame({
      'slice_column': ['audio'] * 4,
      'slice_value': ['clean speech', 'car noise', 'people noise', 'low bandwidth'],
      'model': [0.94, 0.89, 0.87, 0.70],
      'hlp': [0.95, 0.93, 0.89, 0.70],
      'share': [0.60, 0.04, 0.30, 0.06],
      'n_eval': [600, 40, 300, 60],
      'n_labeled': [600, 40, 300, 60],
  })
  ranking, not_ranked = hlp_report.rank_slices(slices)
  assert not_ranked.empty
  assert ranking['slice_value'].tolist() == [
      'clean speech', 'people noise', 'car noise', 'low bandwidth']
  assert ranking['rank'].tolist() == [1, 1, 3, 4]
  potentials = dict(zip(ranking['slice_value'], ranking['potential']))
  assert potentials == pytest.approx(
      {'clean speech': 0.006, 'car noise': 0.0016, 'people noise': 0.006,
       'low bandwidth': 0.0}, abs=1e-12)
  table_spec = next(t for t in hlp_view.table_specs(
      {'meta': {'labelers': [], 'classes': []}, 'tables': {}}) if t.key == 'what_to_work_on')
  # As a person reads it: percentages, potential next to last.
  rows = hlp_view.table_text(table_spec, ranking).splitlines()[2:]
  assert [row.split()[-2] for row in rows] == ['0.60%', '0.60%', '0.16%', '0.00%']


def test_slices_with_too_few_examples_are_listed_not_ranked():
  slices = pd.DataFrame({
      'slice_column': ['g'] * 5,
      'slice_value': ['a', 'b', 'c', 'd', 'e'],
      'model': [0.8, 0.8, 0.8, np.nan, 0.95],
      'hlp': [0.9, 0.9, np.nan, 0.9, 0.90],
      'share': [0.5, 0.01, 0.1, 0.0, 0.39],
      'n_eval': [500, 10, 100, 0, 390],
      'n_labeled': [100, 100, 0, 50, 29],
  })
  ranking, not_ranked = hlp_report.rank_slices(slices, min_examples=30)
  assert ranking['slice'].tolist() == ['g=a']
  reasons = dict(zip(not_ranked['slice_value'], not_ranked['reason']))
  assert 'only 10 evaluation example(s)' in reasons['b']
  assert reasons['c'] == 'no labeled example'
  assert reasons['d'] == 'no example in the evaluation split'
  assert 'only 29 labeled example(s)' in reasons['e']
  above = hlp_report.rank_slices(slices.assign(n_labeled=100, n_eval=100).iloc[[0, 4]])[0]
  assert above.set_index('slice_value').loc['e', 'model_above_hlp']
  assert above.set_index('slice_value').loc['e', 'potential'] == 0.0


def test_the_ranking_and_error_analysis_find_the_planted_broker_errors(big_report):
  report, _, evaluation = big_report
  broker = (evaluation['channel'] == 'broker').to_numpy()
  assert report['headline']['top_slice'] == 'channel=broker'
  ranking = hlp_view.table_frame(report, 'what_to_work_on').set_index('slice')
  assert ranking.loc['channel=broker', 'model'] == 0.0
  assert ranking.loc['channel=broker', 'share'] == pytest.approx(broker.mean())
  assert ranking.loc['channel=online', 'model_above_hlp']  # the model is perfect there
  tags = hlp_view.table_frame(report, 'error_analysis_by_tag').set_index('tag')
  assert tags.loc['channel=broker', 'fraction_of_errors'] == 1.0
  assert tags.loc['channel=broker', 'error_rate'] == 1.0
  assert tags.loc['channel=online', 'n_errors'] == 0
  assert tags.loc['channel=broker', 'fraction_of_data'] == pytest.approx(broker.mean())
  assert tags.loc['channel=broker', 'potential'] == pytest.approx(
      tags.loc['channel=broker', 'hlp_accuracy'] * broker.mean())
  # Branches and underwriters are independent of the channel: each holds
  # about its share of the broker errors.
  branch = tags[tags['tag_column'] == 'branch']
  assert branch['fraction_of_errors'].sum() == pytest.approx(1.0)


def test_agreement_in_the_report_matches_sklearn_and_statsmodels(big_report):
  report, labeled, _ = big_report
  pairwise = hlp_view.table_frame(report, 'agreement_pairwise')
  for _, row in pairwise.iterrows():
    expected = cohen_kappa_score(labeled[row['labeler_a']], labeled[row['labeler_b']])
    assert row['kappa'] == pytest.approx(expected, abs=1e-12)
  counts, _ = aggregate_raters(labeled[LABELERS].to_numpy())
  assert report['headline']['fleiss_kappa'] == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)
  by_slice = hlp_view.table_frame(report, 'agreement_by_slice')
  weak = by_slice[(by_slice['slice_column'] == 'age_band') & (by_slice['slice_value'] == '18-24')]
  rows = labeled[labeled['age_band'] == '18-24']
  assert weak['kappa labeler_1~labeler_3'].iloc[0] == pytest.approx(
      cohen_kappa_score(rows['labeler_1'], rows['labeler_3']), abs=1e-12)


def test_label_consistency_names_the_confused_pair(big_report):
  report, labeled, _ = big_report
  pairs = hlp_view.table_frame(report, 'class_pairs')
  top = pairs.iloc[0]
  assert top['is_disagreement']
  # Planted: errors on repaid go to late 85% of the time, and repaid is 70% of rows.
  assert {top['class_a'], top['class_b']} == {'repaid', 'late'}
  assert report['headline']['borderline_suggestion'].startswith('repaid vs late')
  disagreements = hlp_view.table_frame(report, 'disagreements')
  assert report['headline']['n_disagreements'] == int(
      (labeled[LABELERS].nunique(axis=1) > 1).sum())
  assert len(disagreements) == hlp_report.MAX_DISAGREEMENTS_STORED
  assert disagreements['n_distinct'].is_monotonic_decreasing
  assert set(disagreements['ground_truth']) <= {'repaid', 'late', 'default'}


def test_baselines_sit_beside_the_model_and_the_humans(big_report):
  report, _, evaluation = big_report
  systems = hlp_view.table_frame(report, 'baselines').set_index('system')
  assert list(systems.index) == [baselines.MAJORITY, baselines.LINEAR, baselines.NEW_MODEL,
                                 hlp_report.HUMAN_SYSTEM]
  assert systems.loc[baselines.MAJORITY, 'accuracy'] == pytest.approx(
      (evaluation['outcome'] == 'repaid').mean())
  # DATA_CARD: logistic regression ~0.81 against the ~0.70 majority baseline.
  assert 0.76 < systems.loc[baselines.LINEAR, 'accuracy'] < 0.86
  assert systems.loc[baselines.NEW_MODEL, 'accuracy'] == pytest.approx(
      1 - (evaluation['channel'] == 'broker').mean())
  # Every labeler labeled every labeled row: pooled accuracy is exactly HLP.
  assert systems.loc[hlp_report.HUMAN_SYSTEM, 'accuracy'] == pytest.approx(
      report['headline']['hlp'], abs=1e-12)


def test_without_ground_truth_hlp_is_agreement_and_the_report_says_so(spec, big):
  root, rows, _ = big
  report, _ = _report(spec, root, rows, evaluation=rows.head(2000),
                      use_ground_truth=False)
  assert report['headline']['basis'] == 'agreement'
  text = hlp_view.render_text(report, ['hlp_by_slice'])
  assert 'how well people agree with each other, not what is possible' in text
  systems = hlp_view.table_frame(report, 'baselines')['system'].tolist()
  assert hlp_report.HUMAN_SYSTEM not in systems


def test_report_files_round_trip_and_render(big_report, tmp_path):
  report, _, _ = big_report
  paths = executor.write_report(report, str(tmp_path))
  assert hlp_report.read_report(str(tmp_path)) == json.loads(json.dumps(report))
  with open(paths['html']) as f:
    page = f.read()
  for spec in hlp_view.table_specs(report):
    assert str(markupsafe.escape(spec.title)) in page, spec.title
  assert '<table' in page and 'NaN' not in page
  properties = hlp_view.mlmd_properties(report)
  assert properties['top_slice'] == 'channel=broker'
  assert properties['hlp'] == report['headline']['hlp']


def test_cli_prints_the_tables_of_an_artifact_dir(big_report, tmp_path, capsys):
  report, _, _ = big_report
  executor.write_report(report, str(tmp_path))
  assert hlp_command.main(['--artifact-dir', str(tmp_path), '--table', 'what_to_work_on']) == 0
  out = capsys.readouterr().out
  assert 'What to work on' in out and 'channel=broker' in out
  assert 'Baselines' not in out
  assert hlp_command.main(['--artifact-dir', str(tmp_path), '--table', 'nope']) == 2
  assert 'unknown table' in capsys.readouterr().err
  assert hlp_command.main(['--artifact-dir', str(tmp_path / 'missing')]) == 2
  assert hlp_command.main(['--metadata', str(tmp_path / 'none.sqlite')]) == 2


# --- the labelers file: every way it can be wrong names the problem --------
def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)
  return path


def test_missing_labelers_file_names_the_path_and_the_span(spec, tmp_path):
  path = str(tmp_path / 'labelers' / 'span-7.csv')
  with pytest.raises(hlp_data.HlpDataError) as error:
    hlp_data.read_labelers_file(path, spec, 7)
  assert path in str(error.value) and 'span 7' in str(error.value)


@pytest.mark.parametrize('text, message', [
    ('application_id,labeler_1,labeler_2\nA,late,late\n', r"lacks column\(s\) \['labeler_3'\]"),
    ('application_id,labeler_1,labeler_2,labeler_3\nA,late,late,late\nA,late,late,late\n',
     'duplicated application_id'),
    ('application_id,labeler_1,labeler_2,labeler_3\nA,late,paid,late\n',
     r"'labeler_2' holds label\(s\) \['paid'\]"),
])
def test_malformed_labelers_files_are_rejected_clearly(spec, tmp_path, text, message):
  path = _write(str(tmp_path / 'labelers.csv'), text)
  with pytest.raises(hlp_data.HlpDataError, match=message):
    hlp_data.read_labelers_file(path, spec, 1)


def test_ids_that_do_not_join_are_counted_with_examples(spec, tmp_path):
  examples = pd.DataFrame({'application_id': ['S01-1', 'S01-2', 'S01-3']})
  path = _write(str(tmp_path / 'l.csv'),
                'application_id,labeler_1,labeler_2,labeler_3\n'
                'S01-1,late,late,late\nS02-8,late,late,late\nS02-9,repaid,late,late\n')
  labels = hlp_data.read_labelers_file(path, spec, 1)
  with pytest.raises(hlp_data.HlpDataError) as error:
    hlp_data.join_labels(examples, labels, spec, f'{path} (span 1)')
  message = str(error.value)
  assert '2 of 3 application_id value(s)' in message
  assert "['S02-8', 'S02-9']" in message and 'span 1' in message
  joined = hlp_data.join_labels(examples, labels, spec, path, max_unjoined_fraction=0.7)
  assert joined['application_id'].tolist() == ['S01-1']
  assert joined.attrs['unjoined_ids'] == 2
