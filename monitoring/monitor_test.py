"""The monitor over a real request log: windows, drift, restarts, bad input."""

import json


import pytest

from monitoring import exporter as exporter_lib
from monitoring import history
from monitoring.conftest import (MODEL, ROWS, make_monitor, records_from_csv, span_csv,
                                 write_log)
from serving.request_log import RequestLog


def test_clean_traffic_shows_no_drift_and_drifted_traffic_names_its_features(
    tmp_path, spec, schema_path, generated, training_baseline):
  clean = records_from_csv(span_csv(generated, 'clean', 3), spec)
  drifted = records_from_csv(span_csv(generated, 'data_drift', 3), spec,
                             start_ts=2_000_000.0)
  write_log(tmp_path, clean + drifted)
  monitor, exporter = make_monitor(tmp_path, spec, schema_path, training_baseline)
  closed = monitor.poll(final=True)
  assert [w['records'] for w in closed] == [ROWS, ROWS]
  quiet, loud = closed
  assert quiet['drifted'] == [], quiet['drift']
  assert {'annual_income', 'loan_amount'} <= set(loud['drifted']), loud['drift']
  assert len(quiet['drift']) == len(spec.feature_names)  # every model input measured
  assert loud['prediction_shift'] > quiet['prediction_shift']
  # Metrics: the last window, labelled only with known values.
  text = exporter_lib.generate_latest(exporter.registry).decode()
  assert ('monitor_feature_drift{feature="annual_income",measure="jensen_shannon",'
          'model="credit_risk",version="1"}') in text
  assert 'monitor_window_records{model="credit_risk",version="1"} 3000.0' in text
  # Each window is on disk, numbered.
  stored = list(history.windows(str(tmp_path / 'state')))
  assert [w['sequence'] for w in stored] == [0, 1]
  assert stored[1]['drifted'] == loud['drifted']


def test_input_and_output_metrics_of_a_window(tmp_path, spec, schema_path, generated):
  records = records_from_csv(span_csv(generated, 'clean', 3), spec, limit=200)
  records[0]['inputs']['home_ownership'] = ['CASTLE']
  records[1]['inputs']['credit_score'] = [900]
  records[2]['outputs']['probabilities'] = [None, 0.5, 0.5]
  write_log(tmp_path, records)
  monitor, _ = make_monitor(tmp_path, spec, schema_path, window_records=200)
  [window] = monitor.poll(final=True)
  inputs = window['inputs']
  assert inputs['home_ownership']['out_of_range_share'] == pytest.approx(
      1 / inputs['home_ownership']['values'])
  assert inputs['credit_score']['out_of_range_share'] > 0
  present = [r['inputs']['annual_income'] for r in records if r['inputs']['annual_income']]
  assert inputs['annual_income']['missing_share'] == pytest.approx(1 - len(present) / 200)
  assert inputs['annual_income']['p50'] == pytest.approx(
      sorted(v[0] for v in present)[len(present) // 2], rel=0.05)
  assert window['outputs']['invalid_outputs'] == 1
  assert sum(window['outputs']['class_share'].values()) == pytest.approx(1.0)
  assert window['outputs']['rare_class_score_mean'] > 0


def test_a_restart_loses_nothing_and_counts_nothing_twice(tmp_path, spec, schema_path,
                                                          generated):
  records = records_from_csv(span_csv(generated, 'clean', 3), spec, limit=2500)
  log = RequestLog(str(tmp_path / 'log'), max_file_bytes=200_000)  # rotates
  log.write(MODEL, 1, records[:1300])
  now = lambda: records[-1]['ts']  # a window's time is not up yet
  first, _ = make_monitor(tmp_path, spec, schema_path, window_records=1000, clock=now)
  assert [w['records'] for w in first.poll()] == [1000]  # 300 left in the open window
  # The process dies here; a new one starts from the checkpoint.
  log.write(MODEL, 1, records[1300:])
  log.close()
  second, _ = make_monitor(tmp_path, spec, schema_path, window_records=1000, clock=now)
  assert [w['records'] for w in second.poll(final=True)] == [1000, 500]
  stored = list(history.windows(str(tmp_path / 'state')))
  assert [w['sequence'] for w in stored] == [0, 1, 2]
  assert sum(w['records'] for w in stored) == len(records)
  assert stored[1]['first_ts'] == records[1000]['ts']
  # A third start shows the last window's gauges before any poll, counting nothing.
  third, exporter = make_monitor(tmp_path, spec, schema_path, window_records=1000, clock=now)
  assert third.restore_metrics() == 1
  text = exporter_lib.generate_latest(exporter.registry).decode()
  assert 'monitor_window_records{model="credit_risk",version="1"} 500.0' in text
  assert 'monitor_records_total{model="credit_risk",version="1"}' not in text


def test_bad_input_is_reported_and_the_rest_processed(tmp_path, spec, schema_path,
                                                      generated, training_baseline):
  records = records_from_csv(span_csv(generated, 'clean', 3), spec, limit=100)
  write_log(tmp_path, records[:50])
  active = tmp_path / 'log' / MODEL / '1' / 'requests.jsonl'
  foreign = dict(records[0], model='fraud', request_id='foreign')
  with open(active, 'ab') as f:
    f.write(b'{"ts": 1, "inputs": {"annual_inc\n')  # torn by a crash, then terminated
    f.write(json.dumps(foreign).encode() + b'\n')
    f.write(b'\x00\xff garbage\n')
    f.write(json.dumps(dict(records[0], inputs=5)).encode() + b'\n')
  write_log(tmp_path, records[50:])
  # Another model's log beside ours, and a version with no training baseline.
  write_log(tmp_path, [dict(r, model='fraud') for r in records[:5]])
  write_log(tmp_path, [dict(r, version=2) for r in records[:40]])
  monitor, exporter = make_monitor(tmp_path, spec, schema_path, training_baseline,
                               window_records=1000)
  closed = {w['version']: w for w in monitor.poll(final=True)}
  assert closed['1']['records'] == 100 and closed['1']['drift']
  assert closed['2']['records'] == 40 and closed['2']['drift'] == []
  assert 'no push of version 2' in closed['2']['baseline_note']
  assert closed['2']['inputs']['annual_income']['values'] > 0
  rejected = history.History(str(tmp_path / 'state')).rejected()
  assert [r['reason'] for r in rejected] == ['bad_line', 'other_model', 'bad_line',
                                              'bad_line']
  assert all(r['file'] == str(active) for r in rejected)
  text = '\n'.join(monitor.messages)
  assert f'{active}, byte ' in text and "model 'fraud'" in text
  assert 'request log of model "fraud" ignored' in text
  assert 'credit_risk/2: drift not measured' in text
  metrics = exporter_lib.generate_latest(exporter.registry).decode()
  assert 'monitor_rejected_lines_total{model="credit_risk",reason="bad_line"} 3.0' in metrics
  assert 'monitor_baseline_available{model="credit_risk",version="2"} 0.0' in metrics
  # A second pass reads nothing again.
  assert monitor.poll(final=True) == []
  assert len(history.History(str(tmp_path / 'state')).rejected()) == 4


def test_exporter_keeps_series_of_the_newest_versions_only(spec):
  exporter = exporter_lib.Exporter(MODEL, spec.feature_names, spec.classes)
  window = {'records': 1, 'last_ts': 1.0, 'baseline': None, 'prediction_shift': None,
            'inputs': {'annual_income': {'missing_share': 0.0, 'out_of_range_share': 0.0},
                       'not_a_feature': {'missing_share': 1.0, 'out_of_range_share': 0.0}},
            'outputs': {'class_share': {'repaid': 1.0, 'bogus': 0.0},
                        'invalid_output_share': 0.0}, 'drift': []}
  for version in range(1, exporter_lib.MAX_VERSIONS + 3):
    exporter.export(dict(window, version=str(version)))
  text = exporter_lib.generate_latest(exporter.registry).decode()
  versions = {line.split('version="')[1].split('"')[0]
              for line in text.splitlines() if 'version="' in line}
  assert versions == {str(v) for v in range(3, exporter_lib.MAX_VERSIONS + 3)}
  assert 'not_a_feature' not in text and 'bogus' not in text



def test_a_failing_drift_measurement_keeps_the_window(tmp_path, spec, schema_path, generated,
                                                     training_baseline, monkeypatch):
  from monitoring import drift  # pylint: disable=g-import-not-at-top

  def broken(*args, **kwargs):
    raise ValueError('statistics of this window could not be computed')

  monkeypatch.setattr(drift, 'measure', broken)
  write_log(tmp_path, records_from_csv(span_csv(generated, 'clean', 3), spec, limit=50))
  monitor, _ = make_monitor(tmp_path, spec, schema_path, training_baseline, window_records=50)
  [window] = monitor.poll(final=True)
  assert window['records'] == 50 and window['drift'] == []
  assert window['baseline_note'] == ('drift not measured: ValueError: statistics of this '
                                     'window could not be computed')
  assert window['inputs']['annual_income']['values'] > 0
