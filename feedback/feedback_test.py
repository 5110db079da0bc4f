"""Labels, the join, live quality, its Prometheus export and its MLMD record."""

import json
import os

import pytest
from ml_metadata.proto import metadata_store_pb2

from cli import labels as labels_cli
from feedback import export
from feedback import join
from feedback import labels
from feedback import quality
from feedback import record
from metadata import connection


def test_wilson_interval_matches_the_closed_form():
  half = quality.wilson(5, 10)
  assert half.value == 0.5
  assert half.low == pytest.approx(0.2366, abs=1e-4)
  assert half.high == pytest.approx(0.7634, abs=1e-4)
  none = quality.wilson(0, 10)
  assert none.low == 0.0 and none.high == pytest.approx(0.2775, abs=1e-4)
  assert quality.wilson(0, 0).value is None


def test_labels_count_repeats_conflicts_unknown_classes_and_bad_rows(
    labels_csv, credit_spec):
  got = labels.read_labels([labels_csv], credit_spec)
  assert sorted(got.labels) == ['k1', 'k2', 'k3', 'k4', 'k7', 'k99']
  assert got.conflicting == {'k5': ['late', 'repaid']}
  assert got.labels['k1'].columns == {'age_band': '25-34'}
  counts = got.skipped.to_dict()
  assert counts['keys with conflicting labels (left out)'] == 1
  assert counts['label rows with the wrong number of fields'] == 1
  assert counts['label rows without a key'] == 1
  assert counts["labels with a class not in ['repaid', 'late', 'default']"] == 1
  assert counts['repeated labels (same key again)'] == 2  # k4 twice, k5's second
  assert got.rows == 12


def test_a_labels_file_without_the_key_column_is_refused(tmp_path, credit_spec):
  path = tmp_path / 'l.csv'
  path.write_text('id,outcome\n1,repaid\n')
  with pytest.raises(labels.LabelsError, match=r"lacks column\(s\) \['application_id'\]"):
    labels.read_labels([str(path)], credit_spec)


def test_join_labels_predictions_and_counts_what_it_cannot_use(
    log_dir, labels_csv, credit_spec):
  got = join.join(log_dir, labels.read_labels([labels_csv], credit_spec), credit_spec)
  assert got.records == 8
  assert {p.key: p.actual for p in got.labelled} == {
      'k1': 0, 'k2': 1, 'k3': 2, 'k4': 2, 'k7': 2}
  counts = got.skipped.to_dict()
  assert counts['torn or undecodable log lines'] == 1
  assert counts['labels for unknown request keys (no logged request)'] == 1
  k2 = next(p for p in got.predictions if p.key == 'k2')
  # Slices from the request, and from the labels where the request lacks them.
  assert k2.slices == {'gender': 'male', 'age_band': '18-24', 'channel': 'online'}


def test_live_quality_per_version_with_rare_class_recall(log_dir, labels_csv, credit_spec):
  got = join.join(log_dir, labels.read_labels([labels_csv], credit_spec), credit_spec)
  v1, v2 = quality.by_version(got.predictions, credit_spec.classes,
                              credit_spec.slice_columns)
  # v1 labelled: k1 0/0 ok, k2 1/0 wrong, k3 2/2 ok, k4 2/0 wrong.
  assert (v1.version, v1.overall.n, v1.awaiting_labels) == ('1', 4, 2)
  assert v1.overall.accuracy.value == 0.5
  assert v1.overall.recall['default'].successes == 1
  assert v1.overall.recall['default'].n == 2
  assert v1.overall.precision['repaid'].value == pytest.approx(1 / 3)
  assert v1.slices[('gender', 'female')].accuracy.value == 1.0
  assert v1.slices[('gender', 'male')].accuracy.value == 0.0
  assert v2.overall.n == 1 and v2.overall.recall['default'].value == 1.0


def test_prometheus_export_has_bounded_labels_and_the_gates(log_dir, labels_csv,
                                                             credit_spec, tmp_path):
  got = join.join(log_dir, labels.read_labels([labels_csv], credit_spec), credit_spec)
  results = quality.by_version(got.predictions, credit_spec.classes,
                               credit_spec.slice_columns)
  path = str(tmp_path / 'live.prom')
  export.write_textfile(path, export.registry_for(credit_spec, 'credit_risk', results,
                                                  max_values_per_slice=1))
  text = open(path).read()
  assert 'live_rare_class_recall{model="credit_risk",version="1"} 0.5' in text
  assert ('live_quality_threshold{metric="min_rare_class_recall",model="credit_risk"} 0.3'
          in text)
  assert 'live_labelled_examples{model="credit_risk",slice="overall",value="",version="1"} 4.0' in text
  assert 'live_quality_slice_values_omitted{model="credit_risk",slice="gender",version="1"} 1.0' in text
  assert 'k1' not in text  # No request keys as labels.


def _store_with_push(path, version):
  store = connection.create_sqlite_store(path)
  type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='PushedModel'))
  pushed = metadata_store_pb2.Artifact(type_id=type_id, uri='/p')
  pushed.custom_properties['pushed_version'].string_value = version
  [pushed_id] = store.put_artifacts([pushed])
  return store, pushed_id


def test_record_links_live_quality_to_the_pushed_version(tmp_path):
  path = str(tmp_path / 'm.sqlite')
  store, pushed_id = _store_with_push(path, '1')
  done = record.record(path, 'credit_risk', '1', '/q.json',
                       {'accuracy': 0.5, 'labelled_examples': 4})
  assert done.pushed_model_id == pushed_id
  events = store.get_events_by_execution_ids([done.execution_id])
  assert {(e.artifact_id, e.type) for e in events} == {
      (pushed_id, metadata_store_pb2.Event.INPUT),
      (done.artifact_id, metadata_store_pb2.Event.OUTPUT)}
  [artifact] = store.get_artifacts_by_id([done.artifact_id])
  assert artifact.custom_properties['accuracy'].double_value == 0.5
  assert record.record(path, 'credit_risk', '7', '/q', {}).pushed_model_id is None


def test_cli_prints_figures_writes_them_and_records_them(log_dir, labels_csv, tmp_path,
                                                         capsys):
  metadata = str(tmp_path / 'm.sqlite')
  _store_with_push(metadata, '1')
  out = tmp_path / 'out'
  code = labels_cli.main([
      '--description', 'data/descriptions/credit_risk.yaml', '--request-log', log_dir,
      '--labels', labels_csv, '--textfile', str(tmp_path / 'l.prom'), '--out', str(out),
      '--metadata', metadata, '--pipeline-name', 'credit_risk'])
  printed = capsys.readouterr().out
  assert code == 0
  assert 'skipped: 1 torn or undecodable log lines' in printed
  assert 'recall default (rare)' in printed and '0.500 [' in printed
  assert 'linked to PushedModel' in printed
  figures = json.load(open(out / 'live_quality-1.json'))
  assert figures['overall']['accuracy']['n'] == 4
  assert os.path.exists(tmp_path / 'l.prom')


def test_cli_says_so_for_an_empty_period(log_dir, labels_csv, capsys):
  code = labels_cli.main([
      '--description', 'data/descriptions/credit_risk.yaml', '--request-log', log_dir,
      '--labels', labels_csv, '--since', '2027-01-01'])
  assert code == 1
  assert 'nothing logged for credit_risk in [2027-01-01T00:00:00Z, now)' in (
      capsys.readouterr().err)


def _evaluation_dir(path, accuracy, rare_recall):
  """A TFMA metrics file with overall accuracy and class 2's recall."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2  # pylint: disable=import-outside-toplevel
  os.makedirs(path)
  m = metrics_for_slice_pb2.MetricsForSlice()
  m.slice_key.SetInParent()
  entry = m.metric_keys_and_values.add()
  entry.key.name = 'sparse_categorical_accuracy'
  entry.value.double_value.value = accuracy
  entry = m.metric_keys_and_values.add()
  entry.key.name = 'recall'
  entry.key.sub_key.class_id.value = 2
  entry.value.double_value.value = rare_recall
  with tf.io.TFRecordWriter(os.path.join(path, 'metrics-00000-of-00001')) as w:
    w.write(m.SerializeToString())


def test_offline_figures_follow_the_push_back_to_its_evaluation(tmp_path, credit_spec):
  path = str(tmp_path / 'm.sqlite')
  store, pushed_id = _store_with_push(path, '5')
  types = {n: store.put_artifact_type(metadata_store_pb2.ArtifactType(name=n))
           for n in ('ModelEvaluation', 'ModelBlessing')}
  evaluation_uri = str(tmp_path / 'evaluation')
  _evaluation_dir(evaluation_uri, 0.8, 0.4)
  evaluator = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Evaluator'))
  pusher = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Pusher'))
  evaluation_artifact = metadata_store_pb2.Artifact(type_id=types['ModelEvaluation'],
                                                    uri=evaluation_uri)
  blessing = metadata_store_pb2.Artifact(type_id=types['ModelBlessing'], uri='/b')
  out = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
  _, (_, blessing_id), _ = store.put_execution(
      metadata_store_pb2.Execution(type_id=evaluator),
      [(evaluation_artifact, out), (blessing, out)], [])
  [blessing] = store.get_artifacts_by_id([blessing_id])
  [pushed] = store.get_artifacts_by_id([pushed_id])
  store.put_execution(metadata_store_pb2.Execution(type_id=pusher), [
      (blessing, metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)),
      (pushed, out)], [])
  figures = labels_cli.offline_figures(path, '5', credit_spec)
  assert figures == {'accuracy': pytest.approx(0.8), 'rare_class_recall': pytest.approx(0.4)}
  assert labels_cli.offline_figures(path, '6', credit_spec) == {}
  registry = export.registry_for(credit_spec, 'credit_risk', [], offline={'5': figures})
  assert 'offline_rare_class_recall{model="credit_risk",version="5"} 0.4' in (
      export.exposition(registry))


def test_accuracy_of_automated_and_deferred_decisions_per_slice(tmp_path, credit_spec):
  """The decision is in the request log; the human's decision is the label."""
  from feedback.conftest import T0, served  # pylint: disable=g-import-not-at-top
  from serving import request_log  # pylint: disable=g-import-not-at-top

  def logged(key, predicted, decision, gender):
    rec = served(key, 3, predicted, T0 + len(key), gender=gender)
    rec['automation'] = {'decision': decision, 'rule': 'x', 'level': 'partial'}
    return rec

  log = request_log.RequestLog(str(tmp_path / 'log'))
  log.write('credit_risk', 3, [
      logged('a1', 0, 'decided', 'female'), logged('a2', 0, 'decided', 'female'),
      logged('a3', 1, 'decided', 'male'), logged('d1', 0, 'deferred', 'female'),
      logged('d2', 2, 'deferred', 'male'), logged('d3', 1, 'deferred', 'male')])
  log.close()
  (tmp_path / 'labels.csv').write_text(
      'application_id,outcome\na1,repaid\na2,repaid\na3,repaid\nd1,late\nd2,default\n'
      'd3,repaid\n')
  got = join.join(str(tmp_path / 'log'),
                  labels.read_labels([str(tmp_path / 'labels.csv')], credit_spec), credit_spec)
  [v3] = quality.by_version(got.predictions, credit_spec.classes, credit_spec.slice_columns)
  assert v3.deferred_any
  assert (v3.by_decision['decided'].accuracy.successes, v3.by_decision['decided'].n) == (2, 3)
  assert (v3.by_decision['deferred'].accuracy.successes, v3.by_decision['deferred'].n) == (1, 3)
  assert v3.slices_by_decision[('gender', 'female', 'decided')].accuracy.value == 1.0
  assert v3.slices_by_decision[('gender', 'male', 'deferred')].accuracy.value == 0.5
  assert (v3.deferral.successes, v3.deferral.n) == (3, 6)
  assert v3.slice_deferral[('gender', 'male')].value == pytest.approx(2 / 3)
  lines = labels_cli.report_lines(credit_spec, [v3])
  assert '  automated  accuracy   0.667 [0.208, 0.939] of 3' in lines
  text = export.exposition(export.registry_for(credit_spec, 'credit_risk', [v3]))
  assert ('live_deferral_rate{model="credit_risk",slice="gender",value="male",version="3"} '
          '0.6666666666666666') in text
  assert ('live_decision_accuracy{decision="deferred",model="credit_risk",slice="overall",'
          'value="",version="3"} 0.3333333333333333') in text
  assert any(line.startswith('  gender=male: accuracy') and ', automated 0.000' in line and
             ', deferred 0.500' in line and ', deferral rate 0.667' in line
             for line in lines), lines


def test_without_deferrals_the_report_is_as_before(log_dir, labels_csv, credit_spec):
  got = join.join(log_dir, labels.read_labels([labels_csv], credit_spec), credit_spec)
  results = quality.by_version(got.predictions, credit_spec.classes, credit_spec.slice_columns)
  assert not any(r.deferred_any for r in results)
  assert not any('automated' in line for line in labels_cli.report_lines(credit_spec, results))
  assert 'live_deferral_rate{' not in export.exposition(
      export.registry_for(credit_spec, 'credit_risk', results))
