"""The benchmarks' pure parts: ratios, goals, windows, tables, AUC, aggregation.

Nothing here runs a pipeline or times anything.
"""

import pytest

from benchmarks import cached_rerun
from benchmarks import common
from benchmarks import scaling
from benchmarks import side_by_side


def test_canonical_and_order():
  assert common.canonical('ImportSchemaGen') == 'SchemaGen'
  assert common.canonical('latest_blessed_model_resolver') == 'Resolver'
  assert common.canonical('Trainer') == 'Trainer'
  assert common.ordered(['Pusher', 'Custom', 'CsvExampleGen', 'Trainer', 'Pusher']) == [
      'CsvExampleGen', 'Trainer', 'Pusher', 'Custom']


def test_ratio_and_median():
  assert common.ratio(50.0, 100.0) == 0.5
  assert common.ratio(None, 1.0) is None
  assert common.ratio(1.0, 0.0) is None
  assert common.median([3.0, None, 1.0, 2.0]) == 2.0
  assert common.median([None]) is None


def test_goals():
  assert common.Goal('x', 0.5, 0.5).passed is True
  assert common.Goal('x', 0.51, 0.5).passed is False
  assert common.Goal('auc', -0.001, 0.0, higher_is_better=True).passed is False
  assert common.Goal('auc', 0.0, 0.0, higher_is_better=True).passed is True
  assert common.Goal('x', None, 1.0).passed is None
  assert common.Goal('wall', 0.42, 0.5).line().startswith('[PASS] wall: 0.420')
  assert '[n/a ]' in common.Goal('x', None, 1.0).line()


def test_peak_in_window():
  samples = [(10.0, 100), (10.2, 300), (10.4, 200), (11.0, 50)]
  assert common.peak_in_window(samples, 10.1, 10.5) == 300
  # Shorter than the sampling interval: the sample nearest the window.
  assert common.peak_in_window(samples, 10.9, 10.95) == 50
  assert common.peak_in_window([], 0, 1) is None


def test_format_table_aligns():
  text = common.format_table(['name', 'sec'], [['Trainer', '12.5'], ['Pusher', '0.1']])
  lines = text.splitlines()
  assert lines[0] == 'name      sec'
  assert lines[1] == '-------  ----'
  assert lines[2] == 'Trainer  12.5'
  assert lines[3] == 'Pusher    0.1'


def test_fmt():
  assert common.fmt(None) == '-'
  assert common.fmt(float('nan')) == '-'
  assert common.fmt(1.234, '.2f') == '1.23'


def test_auc_exact():
  assert common.auc_exact([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
  assert common.auc_exact([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
  assert common.auc_exact([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
  # One positive above one of two negatives, tied with the other.
  assert common.auc_exact([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
  assert common.auc_exact([1, 1], [0.1, 0.2]) is None


def test_growth():
  g = common.growth(10.0, 50.0, 100_000, 1_000_000)
  assert g['factor'] == 5.0 and g['rows_factor'] == 10.0 and g['vs_linear'] == 0.5
  assert common.growth(None, 5.0, 1, 10)['vs_linear'] is None


def _component(name, seconds, state='COMPLETE', peak=None, outputs=None):
  return {'node_id': name, 'state': state, 'seconds': seconds, 'start': 0.0,
          'end': seconds, 'peak_rss': peak, 'outputs': outputs or {}}


def _run(side, rnd, wall, comps, rc=0, peak=1000):
  return {'side': side, 'round': rnd, 'wall': wall, 'returncode': rc,
          'peak_rss': peak, 'components': comps, 'error': None}


def test_side_by_side_aggregate_goals_and_report():
  runs = [
      _run('reference', 1, 200.0, [_component('CsvExampleGen', 20), _component('Trainer', 50),
                                   _component('Evaluator', 30)]),
      _run('ours', 1, 90.0, [_component('CsvExampleGen', 8), _component('Trainer', 20),
                             _component('Evaluator', 40)], rc=2),
      _run('reference', 2, 220.0, [_component('CsvExampleGen', 22), _component('Trainer', 54),
                                   _component('Evaluator', 32)]),
      _run('ours', 2, 110.0, [_component('CsvExampleGen', 10), _component('Trainer', 22),
                              _component('Evaluator', 44)]),
  ]
  agg = side_by_side.aggregate(runs)
  assert agg['reference']['wall'] == 210.0
  assert agg['ours']['wall'] == 100.0
  assert agg['ours']['components']['Evaluator']['seconds'] == 42.0
  assert agg['reference']['component_sum'] == 104.0  # median of 100, 108
  assert agg['ours']['ok'] and agg['reference']['ok']

  scores = [{'eval_split': {'identical': False, 'reference_examples': 5000,
                            'ours_examples': 4990, 'scored_examples': 3300,
                            'positives': 2000},
             'reference': {'auc': 0.80, 'accuracy': 0.78, 'evaluator': {'binary_accuracy': 0.77}},
             'ours': {'auc': 0.82, 'accuracy': 0.79,
                      'evaluator': {'auc[class 1]': 0.819,
                                    'sparse_categorical_accuracy': 0.79}}}]
  aucs = side_by_side.auc_summary(scores)
  assert aucs['ours_evaluator_auc'] == 0.819
  gs = side_by_side.goals(agg, aucs)
  assert [g.passed for g in gs] == [True, True, True]
  assert gs[0].measured == pytest.approx(100 / 210)

  text = side_by_side.report(agg, aucs, {'machine_line': 'box', 'reference_mode': 'x',
                                         'description': 'd', 'uptime_before': 'u',
                                         'uptime_after': 'u'})
  assert 'WHOLE PROCESS (wall)' in text and '[PASS] total wall' in text
  assert 'the 3300 rows (2000 positive) in both eval splits' in text


def test_rows_are_matched_by_value_across_encodings():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks import score_auc  # pylint: disable=g-import-not-at-top

  def example(seconds, company, as_float):
    feature = {'company': tf.train.Feature(bytes_list=tf.train.BytesList(value=[company]))}
    if seconds is not None:
      feature['trip_seconds'] = (
          tf.train.Feature(float_list=tf.train.FloatList(value=[seconds])) if as_float else
          tf.train.Feature(int64_list=tf.train.Int64List(value=[seconds])))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

  reference = [example(60, b'a', False), example(120, b'b', False), example(None, b'c', False)]
  ours = [example(120.0, b'b', True), example(None, b'c', True), example(61.0, b'a', True)]
  ref_matched, ours_matched = score_auc.held_out_by_both(reference, ours)
  assert ref_matched == reference[1:] and ours_matched == ours[:2]


def test_side_by_side_missing_component_and_failed_run():
  runs = [_run('reference', 1, 100.0, [_component('Transform', 50)]),
          _run('ours', 1, 40.0, [_component('Trainer', 20, state='FAILED')], rc=1)]
  agg = side_by_side.aggregate(runs)
  assert not agg['ours']['ok']
  gs = side_by_side.goals(agg, side_by_side.auc_summary([{'error': 'x'}]))
  assert gs[1].passed is None
  assert gs[2].passed is False and 'Transform' in gs[2].name


def test_cached_rerun_finds_the_unchanged_run():
  cold = {'wall': 100.0, 'peak_rss': 1, 'components': [
      _component('Trainer', 30), _component('Resolver', 0.0), _component('Evaluator', 20)]}
  second = {'wall': 40.0, 'peak_rss': 1, 'components': [
      _component('Trainer', 0.1, 'CACHED'), _component('Resolver', 0.0),
      _component('Evaluator', 20)]}
  third = {'wall': 9.0, 'peak_rss': 1, 'components': [
      _component('Trainer', 0.1, 'CACHED'), _component('Resolver', 0.0),
      _component('Evaluator', 0.1, 'CACHED'), _component('previous_span_resolver', 0.0)]}
  runs = [cold, second, third]
  assert cached_rerun.executed(second) == ['Evaluator']
  assert cached_rerun.unchanged_rerun(runs) == 2
  assert cached_rerun.unchanged_rerun(runs[:2]) is None
  text = cached_rerun.report(runs, {'machine_line': 'm', 'description': 'd',
                                    'uptime_before': 'u', 'uptime_after': 'u'})
  assert '[PASS] unchanged rerun (run 3) / cold run: 0.090' in text


def test_scaling_sizes_growth_and_goals():
  assert scaling.parse_sizes('1m, 10k,100000') == [10_000, 100_000, 1_000_000]
  with pytest.raises(ValueError):
    scaling.parse_sizes('0')
  results = [
      {'rows': 100_000, 'wall': 100.0, 'peak_rss': 2.0, 'returncode': 0,
       'components': [_component('Transform', 40)]},
      {'rows': 1_000_000, 'wall': 700.0, 'peak_rss': 4.0, 'returncode': 0,
       'components': [_component('Transform', 420)]},
  ]
  growths = scaling.growth_rows(results)
  assert growths[0]['wall']['vs_linear'] == pytest.approx(0.7)
  assert growths[0]['components']['Transform']['vs_linear'] == pytest.approx(1.05)
  gs = scaling.goals(results, growths)
  assert [g.passed for g in gs] == [True, True]
  results[1]['returncode'] = 1
  assert scaling.goals(results, scaling.growth_rows(results))[0].passed is None


def test_evaluator_variants_edit_a_copy_of_our_eval_config():
  from benchmarks import profile_evaluator  # pylint: disable=g-import-not-at-top
  import description  # pylint: disable=g-import-not-at-top
  spec = description.load('data/descriptions/taxi.yaml')

  def names(config):
    # The Evaluator runs TFMA's metrics as Fast* classes (pipeline/eval_metrics.py).
    return [m.class_name.replace('Fast', '', 1) for s in config.metrics_specs for m in s.metrics]

  full = profile_evaluator.variant_config(spec, 'full')
  assert len(full.slicing_specs) > 1 and 'FairnessIndicators' in names(full)
  assert 'Calibration' in names(full) and 'CalibrationPlot' in names(full)
  assert len(profile_evaluator.variant_config(spec, 'no_slices').slicing_specs) == 1
  assert 'FairnessIndicators' not in names(profile_evaluator.variant_config(spec, 'no_fairness'))
  no_cal = names(profile_evaluator.variant_config(spec, 'no_calibration'))
  assert 'Calibration' not in no_cal and 'CalibrationPlot' not in no_cal
  lean = profile_evaluator.variant_config(spec, 'lean')
  assert [list(s.binarize.class_ids.values) for s in lean.metrics_specs] == [[], [1]]
  assert not set(profile_evaluator.PLOTS) & set(names(lean))
  minimal = profile_evaluator.variant_config(spec, 'minimal')
  assert sorted(names(minimal)) == ['ExampleCount', 'SparseCategoricalAccuracy']
  assert len(minimal.slicing_specs) == 1


def test_summary_serves_the_pushed_model_directory_not_the_rollout_state(tmp_path):
  from benchmarks import summary
  serving = tmp_path / 'round1' / 'ours' / 'taxi' / 'serving'
  (serving / 'taxi' / '17').mkdir(parents=True)
  (serving / 'taxi.rollout.json').write_text('{}')
  assert summary.pushed_model({'meta': {'work_dir': str(tmp_path)}}) == str(serving / 'taxi')
  assert summary.pushed_model({'meta': {'work_dir': str(tmp_path / 'none')}}) is None


def test_execution_properties_are_the_latest_executions_of_that_class(tmp_path):
  from ml_metadata.proto import metadata_store_pb2
  from metadata import connection
  run = tmp_path / 'credit_risk'
  run.mkdir()
  store = connection.create_sqlite_store(str(run / 'metadata.sqlite'))
  def execution_type(name):
    return store.put_execution_type(metadata_store_pb2.ExecutionType(name=name))
  trainer, other = execution_type('tfx.components.trainer.component.Trainer'), execution_type(
      'components.my.component.NotATrainer')
  for type_id, value in [(trainer, 'first'), (trainer, 'latest'), (other, 'other')]:
    execution = metadata_store_pb2.Execution(type_id=type_id)
    execution.custom_properties['train_args'].string_value = value
    execution.custom_properties['count'].int_value = 1
    store.put_executions([execution])
  assert common.execution_properties(str(run), 'Trainer') == {'train_args': 'latest'}
  with pytest.raises(LookupError, match='no Transform execution'):
    common.execution_properties(str(run), 'Transform')
  with pytest.raises(FileNotFoundError, match='not a kept pipeline directory'):
    common.kept_run(str(tmp_path))
