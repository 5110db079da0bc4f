"""Generated alert rules: thresholds from schema and description, checked by promtool."""

import dataclasses
import shutil
import subprocess

import pytest
import yaml

from description import monitoring as policy_lib
from monitoring import rules as rules_lib


def _schema(path):
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  with open(path) as f:
    return text_format.Parse(f.read(), schema_pb2.Schema())


def _promtool(*args, cwd=None):
  assert shutil.which('promtool'), 'promtool is missing: run scripts/install_test_tools.sh'
  return subprocess.run(['promtool'] + list(args), capture_output=True, text=True,
                        cwd=cwd, timeout=120)


def _policy(**changes):
  return dataclasses.replace(policy_lib.MonitoringPolicy(alert_for='2m', down_for='1m',
                                                         rate_window='5m'), **changes)


def test_thresholds_come_from_the_schema_unless_the_description_sets_them(spec, schema_path):
  schema = _schema(schema_path)
  default = rules_lib.thresholds(spec, schema, policy_lib.MonitoringPolicy())
  assert default['drift']['annual_income'] == 0.06  # the schema's skew comparator
  assert default['drift']['loan_amount'] == 0.025
  assert default['missing_share']['credit_score'] == pytest.approx(0.15)  # presence
  assert default['missing_share']['loan_amount'] == rules_lib.DEFAULT_MISSING_SHARE
  assert set(default['drift']) == set(spec.feature_names)
  policy = policy_lib.parse({'thresholds': {'drift': {'annual_income': 0.2},
                                            'missing_share': {'default': 0.3},
                                            'error_rate': 0.5}}, 'test.yaml')
  changed = rules_lib.thresholds(spec, schema, policy)
  assert changed['drift']['annual_income'] == 0.2
  assert changed['drift']['loan_amount'] == 0.025
  assert set(changed['missing_share'].values()) == {0.3}
  assert changed['error_rate'] == 0.5


def test_promtool_accepts_the_rules(tmp_path, spec, schema_path):
  path = tmp_path / 'rules.yml'
  path.write_text(rules_lib.to_yaml(rules_lib.generate(spec, _schema(schema_path),
                                                       _policy())))
  result = _promtool('check', 'rules', str(path))
  assert result.returncode == 0, result.stdout + result.stderr
  # + shift, outputs, errors, latency, 2 down, baseline, 3 live quality
  count = 3 * len(spec.feature_names) + 10
  assert f'SUCCESS: {count} rules found' in result.stdout


def _labels(alert, **extra):
  return dict({'severity': alert['labels']['severity']}, **alert['labels'], **extra)


def _input_series(m):
  """Series of model version 7, one sample a minute for 30 minutes."""
  return [
      # annual_income drifts at minute 10; loan_amount stays under its 0.025.
      {'series': f'monitor_feature_drift{{{m},feature="annual_income",'
                 f'measure="jensen_shannon"}}', 'values': '0.03x9 0.2x20'},
      {'series': f'monitor_feature_drift{{{m},feature="loan_amount",'
                 f'measure="jensen_shannon"}}', 'values': '0.02x29'},
      {'series': f'monitor_input_missing_share{{{m},feature="credit_score"}}',
       'values': '0.1x9 0.4x20'},
      {'series': f'monitor_invalid_output_share{{{m}}}', 'values': '0x9 0.02x20'},
      {'series': f'monitor_prediction_shift{{{m}}}', 'values': '0.01x29'},
      {'series': f'monitor_baseline_available{{{m}}}', 'values': '1x29'},
      # 10 requests/s; from minute 10 a fifth of them fail.
      {'series': 'serving_requests_total{model="credit_risk",version="7",role="stable",'
                 'code="200"}', 'values': '0+600x29'},
      {'series': 'serving_request_errors_total{model="credit_risk",version="7",'
                 'code="500"}', 'values': '0x9 0+120x20'},
      # Latency: all requests under 50 ms, then from minute 10 all above 2.5 s.
      {'series': 'serving_request_latency_seconds_bucket{model="credit_risk",'
                 'version="7",role="stable",le="0.05"}', 'values': '0+600x9 5400x20'},
      {'series': 'serving_request_latency_seconds_bucket{model="credit_risk",'
                 'version="7",role="stable",le="2.5"}', 'values': '0+600x9 5400x20'},
      {'series': 'serving_request_latency_seconds_bucket{model="credit_risk",'
                 'version="7",role="stable",le="+Inf"}', 'values': '0+600x29'},
      {'series': 'up{job="model-server",instance="127.0.0.1:8501"}',
       'values': '1x9 0x20'},
      {'series': 'up{job="model-monitor",instance="127.0.0.1:9108"}', 'values': '1x29'},
  ]


def test_promtool_unit_tests_of_the_rules(tmp_path, spec, schema_path):
  """Input series in, alerts out: each concern fires above its threshold only."""
  generated = rules_lib.generate(spec, _schema(schema_path), _policy(),
                                 state_dir='/var/lib/monitor')
  (tmp_path / 'rules.yml').write_text(rules_lib.to_yaml(generated))
  by_name = {}
  for rule in generated['groups'][0]['rules']:
    by_name.setdefault(rule['alert'], []).append(rule)
  income = next(r for r in by_name['ModelInputDrift']
                if r['labels']['feature'] == 'annual_income')
  assert income['annotations']['summary'].startswith('Input annual_income of credit_risk')
  assert '/var/lib/monitor/windows/credit_risk/' in income['annotations']['description']
  m = 'model="credit_risk",version="7"'

  def alert(name, labels, value=None):
    """The alert `name` with `labels`, its annotations rendered as Prometheus would
    with `value` already formatted (so the test checks the text on-call reads)."""
    [rule] = [r for r in by_name[name] if all(
        r['labels'].get(k, v) == v for k, v in labels.items())]
    annotations = {}
    for key, text in rule['annotations'].items():
      for label, label_value in labels.items():
        text = text.replace('{{ $labels.%s }}' % label, label_value)
      for template in ('{{ $value | printf "%.3f" }}', '{{ $value | humanizePercentage }}',
                       '{{ $value | humanizeDuration }}'):
        text = text.replace(template, value or '')
      annotations[key] = text
    return {'exp_labels': labels, 'exp_annotations': annotations}

  drift_labels = dict(income['labels'], model='credit_risk', version='7',
                      measure='jensen_shannon')
  cases = {
      'input_series': _input_series(m),
      'alert_rule_test': [],
  }
  quiet_at = '8m'
  for name in ('ModelInputDrift', 'ModelInputMissing', 'ModelInvalidOutputs',
               'ModelErrorRate', 'ModelLatencyP99', 'ModelServerDown', 'ModelMonitorDown',
               'ModelPredictionShift', 'ModelBaselineMissing', 'ModelInputOutOfRange'):
    cases['alert_rule_test'].append({'eval_time': quiet_at, 'alertname': name,
                                     'exp_alerts': []})
  fired = {
      'ModelInputDrift': [alert('ModelInputDrift', drift_labels, '0.200')],
      'ModelInputMissing': [alert('ModelInputMissing', dict(
          severity='warning', feature='credit_score', model='credit_risk', version='7'),
                                  '40%')],
      'ModelInvalidOutputs': [alert('ModelInvalidOutputs', dict(
          severity='critical', model='credit_risk', version='7'), '2%')],
      'ModelErrorRate': [alert('ModelErrorRate', dict(severity='critical',
                                                      model='credit_risk'), '20%')],
      # All requests in the +Inf bucket: the quantile is the last finite bound.
      'ModelLatencyP99': [alert('ModelLatencyP99', dict(severity='warning',
                                                        model='credit_risk'), '2.5s')],
      'ModelServerDown': [alert('ModelServerDown', dict(
          severity='critical', job='model-server', instance='127.0.0.1:8501'))],
      'ModelMonitorDown': [], 'ModelPredictionShift': [], 'ModelBaselineMissing': [],
  }
  for name, expected in fired.items():
    cases['alert_rule_test'].append({'eval_time': '16m', 'alertname': name,
                                     'exp_alerts': expected})
  # Pending, not yet firing, one minute into the breach (for: 2m).
  cases['alert_rule_test'].append({'eval_time': '11m', 'alertname': 'ModelInputDrift',
                                   'exp_alerts': []})
  test_file = {'rule_files': ['rules.yml'], 'evaluation_interval': '1m',
               'tests': [dict(cases, interval='1m')]}
  (tmp_path / 'rules_test.yml').write_text(yaml.safe_dump(test_file, sort_keys=False))
  result = _promtool('test', 'rules', 'rules_test.yml', cwd=str(tmp_path))
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'SUCCESS' in result.stdout


def test_absent_server_counts_as_down(tmp_path, spec, schema_path):
  generated = rules_lib.generate(spec, _schema(schema_path), _policy())
  [down] = [r for r in generated['groups'][0]['rules'] if r['alert'] == 'ModelServerDown']
  (tmp_path / 'rules.yml').write_text(rules_lib.to_yaml(generated))
  test_file = {'rule_files': ['rules.yml'], 'evaluation_interval': '1m', 'tests': [{
      'interval': '1m',
      'input_series': [{'series': 'up{job="model-monitor",instance="a"}', 'values': '1x5'}],
      'alert_rule_test': [{'eval_time': '3m', 'alertname': 'ModelServerDown', 'exp_alerts': [
          {'exp_labels': {'severity': 'critical', 'job': 'model-server'},
           'exp_annotations': {
               'summary': 'The model server of credit_risk () cannot be scraped',
               'description': down['annotations']['description']}}]}]}]}
  (tmp_path / 't.yml').write_text(yaml.safe_dump(test_file))
  result = _promtool('test', 'rules', 't.yml', cwd=str(tmp_path))
  assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_test_of_the_deferral_rate_rule(tmp_path, spec, schema_path):
  """The live deferral rate leaves its version's expected range: the alert fires;
  a version with too few partial decisions, or inside its range, stays quiet."""
  import description  # pylint: disable=g-import-not-at-top
  automated = dataclasses.replace(spec, automation=description.Automation(target_accuracy=0.8))
  generated = rules_lib.generate(automated, _schema(schema_path), _policy())
  assert not [r for r in rules_lib.generate(spec, _schema(schema_path), _policy())[
      'groups'][0]['rules'] if r['alert'] == 'ModelDeferralRateUnexpected']
  [rule] = [r for r in generated['groups'][0]['rules']
            if r['alert'] == 'ModelDeferralRateUnexpected']
  (tmp_path / 'rules.yml').write_text(rules_lib.to_yaml(generated))

  def decisions(version, decision, values):
    return {'series': f'serving_automation_decisions_total{{model="credit_risk",'
                      f'version="{version}",level="partial",decision="{decision}",'
                      f'rule="{"below_band" if decision == "deferred" else "confident"}"}}',
            'values': values}

  def expected(version, bound, value, instance='a'):
    return {'series': f'serving_automation_expected_deferral_rate{{model="credit_risk",'
                      f'version="{version}",bound="{bound}",instance="{instance}"}}',
            'values': f'{value}x29'}

  series = [
      # Version 7: 10 cases/s, 10% deferred, then 50% from minute 10.
      decisions(7, 'decided', '0+540x9 5160+300x19'),
      decisions(7, 'deferred', '0+60x9 840+300x19'),
      expected(7, 'expected', 0.1), expected(7, 'low', 0.08), expected(7, 'high', 0.12),
      # Version 8: 14% deferred, inside [0.03, 0.17] (its interval plus the margin).
      decisions(8, 'decided', '0+516x29'), decisions(8, 'deferred', '0+84x29'),
      expected(8, 'low', 0.08), expected(8, 'high', 0.12),
      # Version 9: everything deferred, but one case a minute: too few to tell.
      decisions(9, 'deferred', '0+1x29'), expected(9, 'low', 0.08), expected(9, 'high', 0.12),
      # Version 10, on two replicas: defers nothing although 15-25% is expected
      # (a band of 0): there is no `deferred` series at all.
      decisions(10, 'decided', '0+600x29'),
      expected(10, 'low', 0.15), expected(10, 'high', 0.25),
      expected(10, 'low', 0.15, instance='b'), expected(10, 'high', 0.25, instance='b'),
  ]
  def summary(version, rate):
    return rule['annotations']['summary'].replace('{{ $labels.version }}', version).replace(
        '{{ $value | humanizePercentage }}', rate)
  never_deferring = {
      'exp_labels': {'severity': 'warning', 'model': 'credit_risk', 'version': '10'},
      'exp_annotations': {'summary': summary('10', '0%'),
                          'description': rule['annotations']['description']}}
  test_file = {'rule_files': ['rules.yml'], 'evaluation_interval': '1m', 'tests': [{
      'interval': '1m', 'input_series': series,
      'alert_rule_test': [
          # Version 7 still defers as expected; version 10 never did.
          {'eval_time': '8m', 'alertname': 'ModelDeferralRateUnexpected',
           'exp_alerts': [never_deferring]},
          {'eval_time': '20m', 'alertname': 'ModelDeferralRateUnexpected', 'exp_alerts': [
              {'exp_labels': {'severity': 'warning', 'model': 'credit_risk', 'version': '7'},
               'exp_annotations': {'summary': summary('7', '50%'),
                                   'description': rule['annotations']['description']}},
              never_deferring]}]}]}
  (tmp_path / 't.yml').write_text(yaml.safe_dump(test_file, sort_keys=False))
  result = _promtool('test', 'rules', 't.yml', cwd=str(tmp_path))
  assert result.returncode == 0, result.stdout + result.stderr


def test_live_quality_alerts_fire_only_on_enough_labels_significantly_below(
    tmp_path, spec, schema_path):
  """The metrics cli.labels exports (feedback/export.py) in, live-quality alerts out."""
  from feedback import export  # pylint: disable=g-import-not-at-top
  from feedback import quality  # pylint: disable=g-import-not-at-top
  generated = rules_lib.generate(spec, _schema(schema_path), _policy(), min_live_labels=200)
  (tmp_path / 'rules.yml').write_text(rules_lib.to_yaml(generated))
  # The names the rules use are the names the export writes.
  exported = export.exposition(export.registry_for(
      spec, 'credit_risk', quality.by_version([], spec.classes, []),
      offline={'1': {'accuracy': 0.8, 'rare_class_recall': 0.5, 'examples': 600}}))
  for name in ('live_quality_threshold', 'offline_accuracy', 'offline_evaluation_examples'):
    assert name in exported, exported
  series = []

  def version(v, n, acc, acc_high, rare_high, offline, offline_n):
    m = f'model="credit_risk",version="{v}"'
    series.extend([
        {'series': f'live_labelled_examples{{{m},slice="overall",value=""}}',
         'values': f'{n}x20'},
        {'series': f'live_accuracy{{{m},slice="overall",value=""}}', 'values': f'{acc}x20'},
        {'series': f'live_accuracy_ci_high{{{m},slice="overall",value=""}}',
         'values': f'{acc_high}x20'},
        # A slice below offline never counts as the version's accuracy.
        {'series': f'live_accuracy{{{m},slice="age_band",value="18-24"}}', 'values': '0.1x20'},
        {'series': f'live_accuracy_ci_high{{{m},slice="age_band",value="18-24"}}',
         'values': '0.1x20'},
        {'series': f'live_labelled_examples{{{m},slice="age_band",value="18-24"}}',
         'values': '500x20'},
        {'series': f'live_rare_class_recall_ci_high{{{m}}}', 'values': f'{rare_high}x20'},
        {'series': f'offline_accuracy{{{m}}}', 'values': f'{offline}x20'},
        {'series': f'offline_evaluation_examples{{{m}}}', 'values': f'{offline_n}x20'}])

  series.append({'series': 'live_quality_threshold{model="credit_risk",'
                           'metric="min_rare_class_recall"}', 'values': '0.3x20'})
  series.append({'series': 'live_quality_threshold{model="credit_risk",'
                           'metric="min_accuracy"}', 'values': '0.7x20'})
  version(3, 900, 0.68, 0.69, 0.12, 0.80, 600)  # concept drift: both below, plenty of labels
  version(4, 900, 0.81, 0.83, 0.55, 0.80, 600)  # healthy
  version(5, 40, 0.45, 0.50, 0.05, 0.80, 600)   # as bad, but too few labels to say so
  # 0.04 below, but the offline figure (300 examples) is as uncertain as the
  # drop: z = 1.4. The old rule, blind to offline noise, would have fired.
  version(6, 900, 0.74, 0.77, 0.35, 0.78, 300)
  version(7, 5000, 0.76, 0.77, 0.35, 0.78, 5000)  # significant, but within the margin (0.03)
  # The loop's concept-drift month: 0.755 offline on 600, 0.709 live on 3,000
  # (interval up to 0.725): z = 2.4. The old rule missed it by 0.0003.
  version(8, 3000, 0.709, 0.725, 0.35, 0.755, 600)

  def fired(name, versions, **extra_labels):
    [rule] = [r for r in generated['groups'][0]['rules'] if r['alert'] == name]
    out = []
    for v, value in versions:
      annotations = {k: t.replace('{{ $labels.version }}', v).replace(
          '{{ $value | printf "%.3f" }}', value) for k, t in rule['annotations'].items()}
      out.append({'exp_labels': dict(rule['labels'], model='credit_risk', version=v,
                                     **extra_labels),
                  'exp_annotations': annotations})
    return out

  tests = [
      {'eval_time': '1m', 'alertname': 'ModelLiveAccuracyBelowOffline', 'exp_alerts': []},
      {'eval_time': '5m', 'alertname': 'ModelLiveAccuracyBelowOffline',
       'exp_alerts': fired('ModelLiveAccuracyBelowOffline', [('3', '0.680'), ('8', '0.709')])},
      {'eval_time': '5m', 'alertname': 'ModelLiveRareClassRecallLow',
       'exp_alerts': fired('ModelLiveRareClassRecallLow', [('3', '0.120')])},
      # Only version 3's interval (0.69) stays below the floor (0.70); versions
      # 7 and 8 sit below their offline figures but above the floor.
      {'eval_time': '5m', 'alertname': 'ModelLiveAccuracyBelowFloor',
       'exp_alerts': fired('ModelLiveAccuracyBelowFloor', [('3', '0.690')], slice='overall')},
  ]
  test_file = {'rule_files': ['rules.yml'], 'evaluation_interval': '1m',
               'tests': [{'interval': '1m', 'input_series': series,
                          'alert_rule_test': tests}]}
  (tmp_path / 'live_test.yml').write_text(yaml.safe_dump(test_file, sort_keys=False))
  result = _promtool('test', 'rules', 'live_test.yml', cwd=str(tmp_path))
  assert result.returncode == 0, result.stdout + result.stderr
