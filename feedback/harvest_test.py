"""Harvest: labelled requests become the next span, PII treated, rows traced."""

import csv
import json
import os

import pytest

from cli import harvest as harvest_cli
from feedback import harvest
from feedback import join
from feedback import labels
from feedback.conftest import T0
from feedback.conftest import served
from serving import request_log
from validation import csv_checks


def _joined(log_dir, labels_csv, spec):
  return join.join(log_dir, labels.read_labels([labels_csv], spec), spec)


def _rows(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_the_next_span_passes_the_csv_checks_and_traces_every_row(
    log_dir, labels_csv, credit_spec, tmp_path):
  root = tmp_path / 'data'
  (root / 'span-2').mkdir(parents=True)
  joined = _joined(log_dir, labels_csv, credit_spec)
  chosen, skipped = harvest.select(joined, 'all')
  done = harvest.write_span(str(root), credit_spec, chosen,
                            labels.read_labels([labels_csv], credit_spec), skipped,
                            {'mode': 'all'})
  assert done.span == 3 and done.csv_path == str(root / 'span-3' / 'data.csv')
  csv_checks.check_files([done.csv_path], credit_spec)  # Raises on a bad row.
  rows = _rows(done.csv_path)
  assert {r['application_id']: r['outcome'] for r in rows} == {
      'k1': 'repaid', 'k2': 'late', 'k3': 'default', 'k4': 'default', 'k7': 'default'}
  k1 = next(r for r in rows if r['application_id'] == 'k1')
  assert (k1['annual_income'], k1['gender'], k1['age_band']) == ('1.0', 'female', '25-34')
  manifest = json.load(open(done.manifest_path))
  assert [s['id'] for s in manifest['row_sources']] == [r['application_id'] for r in rows]
  assert manifest['row_sources'][0]['label'].endswith('labels.csv:2')
  assert manifest['row_sources'][0]['version'] == '1'
  # k1 carried gender, channel and annual_income; nobody gave application_month.
  assert done.missing['application_month'] == 5 and 'applicant_name' not in done.missing
  assert done.missing['gender'] == 1 and manifest['missing_values'] == done.missing
  with pytest.raises(harvest.HarvestError, match='never overwrites'):
    harvest.write_span(str(root), credit_spec, chosen,
                       labels.read_labels([labels_csv], credit_spec), skipped, {}, span=3)


def test_recent_only_and_recent_weighted(log_dir, labels_csv, credit_spec):
  joined = _joined(log_dir, labels_csv, credit_spec)
  recent = T0 + 86400 * 10  # only k7 is recent
  only, left = harvest.select(joined, 'recent-only', recent)
  assert [p.key for p in only] == ['k7']
  assert left.to_dict() == {'older rows left out by mode recent-only': 4}
  kept_all, _ = harvest.select(joined, 'recent-weighted', recent, weight=1)
  assert len(kept_all) == 5
  weighted, left = harvest.select(joined, 'recent-weighted', recent, weight=1000)
  assert 'k7' in [p.key for p in weighted]
  assert len(weighted) + left.counts['older rows left out by mode recent-weighted'] == 5
  with pytest.raises(harvest.HarvestError, match='needs the start'):
    harvest.select(joined, 'recent-only')


def test_deferred_cases_are_kept_in_every_mode(log_dir, labels_csv, credit_spec):
  """A person decided them: the next span learns most from what the model found hardest."""
  joined = _joined(log_dir, labels_csv, credit_spec)
  for p in joined.predictions:
    if p.key in ('k1', 'k3'):
      p.decision = 'deferred'
  only, left = harvest.select(joined, 'recent-only', T0 + 86400 * 10)
  assert [p.key for p in only] == ['k1', 'k3', 'k7']
  assert left.to_dict() == {'older rows left out by mode recent-only': 2}


def test_personal_data_in_requests_never_reaches_the_span(tmp_path, credit_spec,
                                                          monkeypatch):
  log_dir = tmp_path / 'log'
  log = request_log.RequestLog(str(log_dir))
  log.write('credit_risk', 1, [
      served('k1', 1, 0, T0, applicant_name='Unique Planted Name',
             email='planted.unique@example.org')])
  log.close()
  labels_csv = tmp_path / 'labels.csv'
  labels_csv.write_text('application_id,outcome,application_month,email\n'
                        'k1,repaid,2026-03,label.planted@example.org\n')
  raw = dict(credit_spec.raw, pii={'key_env': 'HARVEST_KEY', 'columns': {
      'applicant_name': 'drop', 'email': 'hash'}})
  spec = type(credit_spec).from_config({'source': 'x', 'description': raw})
  joined = _joined(str(log_dir), str(labels_csv), spec)
  chosen, skipped = harvest.select(joined, 'all')
  label_set = labels.read_labels([str(labels_csv)], spec)
  with pytest.raises(harvest.description.PIIKeyError, match='HARVEST_KEY'):
    harvest.write_span(str(tmp_path / 'd'), spec, chosen, label_set, skipped, {},
                       environ={})
  assert not (tmp_path / 'd' / 'span-1').exists()
  done = harvest.write_span(str(tmp_path / 'd'), spec, chosen, label_set, skipped, {},
                            environ={'HARVEST_KEY': 'k'})
  [row] = _rows(done.csv_path)
  assert row['applicant_name'] == '' and row['email'].startswith('hmac-sha256:')
  assert row['application_month'] == '2026-03'  # From the labels file.
  for name in os.listdir(tmp_path / 'd' / 'span-1'):
    text = open(tmp_path / 'd' / 'span-1' / name).read()
    assert 'Planted' not in text and 'planted' not in text


def test_cli_harvests_and_reports_what_it_left_out(log_dir, labels_csv, tmp_path, capsys):
  root = tmp_path / 'data'
  code = harvest_cli.main([
      '--description', 'data/descriptions/credit_risk.yaml', '--request-log', log_dir,
      '--labels', labels_csv, '--data-root', str(root), '--mode', 'recent-only',
      '--recent-since', '2026-03-10'])
  printed = capsys.readouterr().out
  assert code == 0, printed
  assert 'left out: 4 older rows left out by mode recent-only' in printed
  assert 'left out: 1 torn or undecodable log lines' in printed
  assert [r['application_id'] for r in _rows(root / 'span-1' / 'data.csv')] == ['k7']
  code = harvest_cli.main([
      '--description', 'data/descriptions/credit_risk.yaml', '--request-log', log_dir,
      '--labels', labels_csv, '--data-root', str(root), '--since', '2027-01-01'])
  assert code == 1
  assert 'nothing to harvest' in capsys.readouterr().err


def test_cli_records_the_harvest_from_the_pushes_that_served_it(
    log_dir, labels_csv, tmp_path, capsys):
  from feedback import feedback_test  # pylint: disable=import-outside-toplevel
  metadata = str(tmp_path / 'm.sqlite')
  store, pushed_id = feedback_test._store_with_push(metadata, '1')  # pylint: disable=protected-access
  code = harvest_cli.main([
      '--description', 'data/descriptions/credit_risk.yaml', '--request-log', log_dir,
      '--labels', labels_csv, '--data-root', str(tmp_path / 'data'),
      '--metadata', metadata, '--pipeline-name', 'credit_risk'])
  assert code == 0
  assert 'HarvestedSpan artifact' in capsys.readouterr().out
  [span] = store.get_artifacts_by_type('HarvestedSpan')
  assert span.uri == str(tmp_path / 'data' / 'span-1')
  assert span.custom_properties['rows'].int_value == 5
  [execution] = store.get_executions_by_type('Harvest')
  events = store.get_events_by_execution_ids([execution.id])
  assert {e.artifact_id for e in events} == {pushed_id, span.id}


def test_the_span_is_the_same_however_the_requests_interleaved(log_dir, labels_csv,
                                                              credit_spec, tmp_path):
  """Concurrent clients log in a different order every time; the span must not
  change with it, or the same traffic trains a different model."""
  joined = _joined(log_dir, labels_csv, credit_spec)
  shuffled = _joined(log_dir, labels_csv, credit_spec)
  arrivals = sorted(p.ts for p in shuffled.labelled)
  for p, when in zip(sorted(shuffled.labelled, key=lambda q: q.ts), reversed(arrivals)):
    p.ts = when  # the same requests, arrived in the opposite order
  files = []
  for name, source in (('a', joined), ('b', shuffled)):
    chosen, skipped = harvest.select(source, 'all')
    done = harvest.write_span(str(tmp_path / name), credit_spec, chosen,
                              labels.read_labels([labels_csv], credit_spec), skipped,
                              {'mode': 'all'}, span=1)
    files.append(open(done.csv_path).read())
  assert files[0] == files[1]
  assert [r['application_id'] for r in _rows(tmp_path / 'a' / 'span-1' / 'data.csv')] == [
      'k1', 'k2', 'k3', 'k4', 'k7']
