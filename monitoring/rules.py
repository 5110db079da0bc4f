"""Prometheus alerting rules generated from the dataset description and the schema.

Thresholds, per rule:
  input drift       per model input: the description's monitoring.thresholds.drift,
                    else the curated schema's skew comparator (the same threshold
                    the skew command and the data gate use)
  missing share     per input: the description's, else what the schema's presence
                    allows (1 - min_fraction), else 1%
  out of range      per input: the description's (default 1%, the schema's min_domain_mass)
  prediction shift, invalid outputs, error rate, p99 latency: the description's or
                    description/monitoring.py's defaults
  server down       the model server's scrape target unreachable for `down_for`
  deferral rate     (with an `automation` section) the share of cases a version
                    serving at level partial defers, outside the interval its
                    evaluation expects (the policy's gauges) widened by
                    DEFERRAL_RATE_MARGIN, over at least MIN_PARTIAL_DECISIONS cases
  live quality      from delayed labels (python -m cli.labels --textfile, see
                    feedback/export.py), once a version has `min_live_labels`
                    labelled predictions: the rare class's live recall or live
                    accuracy is below the description's blessing floor (the upper
                    end of the 95% Wilson interval below it), or live accuracy is
                    more than `live_accuracy_margin` below the version's own offline
                    evaluation and significantly so by a two-sample test that
                    counts the eval split's examples as well as the live labels.
                    Either way an alert means "significantly below", not sampling
                    noise of a small month or of a small eval split.

Each alert's annotations say what to look at: the feature and version in
its labels, the monitor's window files and report, the skew command.
"""

from typing import Any, Dict, List, Mapping, Optional

import yaml

from description import monitoring as policy_lib
from monitoring import drift as drift_lib
from monitoring import queries
from monitoring import window as window_lib
from tensorflow_metadata.proto.v0 import schema_pb2

DEFAULT_MISSING_SHARE = 0.01
# Labelled predictions a version needs before its live quality can alert.
DEFAULT_MIN_LIVE_LABELS = 200
# How far live accuracy may sit below the offline evaluation before it alerts,
# and how sure the drop must be (two-sided 95%: z of the difference of two
# proportions, live and offline each with its own number of examples).
DEFAULT_LIVE_ACCURACY_MARGIN = 0.03
LIVE_DROP_Z = 1.96
LIVE_QUALITY_ALERTS = ('ModelLiveRareClassRecallLow', 'ModelLiveAccuracyBelowFloor',
                       'ModelLiveAccuracyBelowOffline')
SERVER_JOB, MONITOR_JOB = 'model-server', 'model-monitor'
# The policy's interval is how sure the eval split makes the expected rate;
# live traffic a few minutes long adds its own noise on top.
DEFERRAL_RATE_MARGIN = 0.05
MIN_PARTIAL_DECISIONS = 100


def _presence_allowance(schema: schema_pb2.Schema) -> Dict[str, float]:
  out = {}
  for feature in schema.feature:
    if feature.presence.HasField('min_fraction') and feature.presence.min_fraction < 1:
      out[feature.name] = round(1.0 - feature.presence.min_fraction, 6)
  return out


def thresholds(spec, schema: schema_pb2.Schema,
               policy: policy_lib.MonitoringPolicy) -> Dict[str, Any]:
  """Every threshold the rules use: {concern: value or {feature: value}}."""
  features = list(window_lib.feature_kinds(spec))
  comparators = drift_lib.comparator_thresholds(schema)
  presence = _presence_allowance(schema)
  drift = {}
  for f in features:
    value = policy.drift.get(f, comparators.get(f, (None, None))[1])
    if value is not None:
      drift[f] = round(float(value), 6)
  return {
      'drift': drift,
      'missing_share': {f: policy.missing_share.get(f, presence.get(f, DEFAULT_MISSING_SHARE))
                        for f in features},
      'out_of_range_share': {f: policy.out_of_range_share.get(f) for f in features},
      'prediction_shift': policy.prediction_shift,
      'invalid_output_share': policy.invalid_output_share,
      'error_rate': policy.error_rate,
      'latency_p99_seconds': policy.latency_p99_seconds,
  }


def _alert(name: str, expr: str, duration: str, severity: str, summary: str,
           description: str, labels: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
  return {
      'alert': name, 'expr': expr, 'for': duration,
      'labels': dict({'severity': severity}, **(labels or {})),
      'annotations': {'summary': summary, 'description': description},
  }


def _where_to_look(model: str, state_dir: str) -> str:
  windows_of = f'{state_dir}/windows/{model}/{{{{ $labels.version }}}}/'
  return (f'Window results: {windows_of}; HTML history: python -m cli.monitor report; '
          f'full skew report of the request log: python -m validation.skew --request-log '
          f'<log dir> --version {{{{ $labels.version }}}}.')


def _input_rules(model: str, th: Mapping[str, Any], wait: str, look: str
                 ) -> List[Dict[str, Any]]:
  """Per model input: drift, missing values, values outside the schema's domain."""
  rules: List[Dict[str, Any]] = []
  for feature, value in th['drift'].items():
    rules.append(_alert(
        'ModelInputDrift', f'{queries.feature_drift(model, feature)} > {value}', wait,
        'warning',
        f'Input {feature} of {model} version {{{{ $labels.version }}}} drifted from its '
        f'training data ({{{{ $labels.measure }}}} {{{{ $value | printf "%.3f" }}}} > {value})',
        f'Compare the live distribution of {feature} with the training data of this '
        f'version. {look}', {'feature': feature}))
  for feature, value in th['missing_share'].items():
    rules.append(_alert(
        'ModelInputMissing', f'{queries.missing_share(model, feature)} > {value}', wait,
        'warning',
        f'Input {feature} of {model} version {{{{ $labels.version }}}} is missing in '
        f'{{{{ $value | humanizePercentage }}}} of requests (allowed {value:.1%})',
        f'A client stopped sending {feature}, or sends it empty. {look}',
        {'feature': feature}))
  for feature, value in th['out_of_range_share'].items():
    rules.append(_alert(
        'ModelInputOutOfRange', f'{queries.out_of_range_share(model, feature)} > {value}',
        wait, 'warning',
        f'Input {feature} of {model} version {{{{ $labels.version }}}} is outside its '
        f'schema domain in {{{{ $value | humanizePercentage }}}} of requests '
        f'(allowed {value:.1%})',
        f'Unseen categories or values beyond the schema\'s range for {feature}: a new '
        f'category upstream, or a unit change. {look}', {'feature': feature}))
  return rules


def _model_rules(model: str, th: Mapping[str, Any], policy: policy_lib.MonitoringPolicy,
                 look: str, server_job: str, monitor_job: str) -> List[Dict[str, Any]]:
  """Outputs, errors, latency, and the processes being reachable."""
  wait = policy.alert_for
  return [
      _alert('ModelPredictionShift',
             f'{queries.prediction_shift(model)} > {th["prediction_shift"]}', wait, 'warning',
             f'Predicted classes of {model} version {{{{ $labels.version }}}} moved '
             f'{{{{ $value | printf "%.3f" }}}} (L-infinity) from its first window\'s '
             f'shares (allowed {th["prediction_shift"]})',
             f'Look at the input drift alerts of the same version first; then the '
             f'predicted-class panel of the dashboard. {look}'),
      _alert('ModelInvalidOutputs',
             f'{queries.invalid_output_share(model)} > {th["invalid_output_share"]}', wait,
             'critical',
             f'{model} version {{{{ $labels.version }}}} returns null, non-finite or '
             f'inconsistent outputs for {{{{ $value | humanizePercentage }}}} of requests',
             f'The model or its inputs produce NaN: roll back to the stable version '
             f'(python -m cli.rollout) and check the window\'s invalid_reasons. {look}'),
      _alert('ModelErrorRate',
             f'{queries.error_rate(model, policy.rate_window)} > {th["error_rate"]}', wait,
             'critical',
             f'{{{{ $value | humanizePercentage }}}} of predict requests to {model} fail '
             f'(allowed {th["error_rate"]:.1%})',
             'See serving_request_errors_total by code on the dashboard\'s errors row, and '
             'the model server\'s log.'),
      _alert('ModelLatencyP99',
             f'{queries.latency_p99(model, policy.rate_window)} > '
             f'{th["latency_p99_seconds"]}', wait, 'warning',
             f'p99 latency of {model} is {{{{ $value | humanizeDuration }}}} '
             f'(budget {th["latency_p99_seconds"]} s)',
             'See the traffic and latency row: load (requests per second), batch sizes, '
             'and the server process\'s CPU.'),
      _alert('ModelServerDown', queries.down(server_job), policy.down_for, 'critical',
             f'The model server of {model} ({{{{ $labels.instance }}}}) cannot be scraped',
             f'Check the server process (python -m cli.serve --model-name {model}) '
             f'and its /healthz; predictions are not being served.'),
      _alert('ModelMonitorDown', queries.down(monitor_job), policy.down_for, 'warning',
             f'The monitor of {model} cannot be scraped: drift is not being watched',
             'Restart it (python -m cli.monitor run); it resumes from its checkpoint.'),
      _alert('ModelBaselineMissing', f'{queries.baseline_available(model)} == 0', wait,
             'warning',
             f'No training statistics for {model} version {{{{ $labels.version }}}}: '
             f'its drift is not measured',
             'The version was not pushed by the pipeline recorded in ML Metadata, or its '
             'statistics are gone: python -m cli.provenance.'),
  ]


def _automation_rules(model: str, policy: policy_lib.MonitoringPolicy) -> List[Dict[str, Any]]:
  """The deferral rate of partial automation against the version's expected range."""
  window, margin = policy.rate_window, DEFERRAL_RATE_MARGIN
  rate = queries.deferral_rate(model, window)
  outside = (f'(({rate}) < on (model, version) '
             f'({queries.expected_deferral_rate(model, "low")} - {margin}) or '
             f'({rate}) > on (model, version) '
             f'({queries.expected_deferral_rate(model, "high")} + {margin})) '
             f'and on (model, version) '
             f'{queries.partial_decisions(model, window)} >= {MIN_PARTIAL_DECISIONS}')
  return [_alert(
      'ModelDeferralRateUnexpected', outside, policy.alert_for, 'warning',
      f'{model} version {{{{ $labels.version }}}} defers {{{{ $value | humanizePercentage }}}} '
      f'of its cases to a person, outside the range its evaluation expects',
      f'The traffic is not like the eval split any more (see the input drift alerts of '
      f'this version), or the wrong band serves: python -m cli.automation shows the level '
      f'and each version\'s band and expected deferral interval (widened here by '
      f'{margin:.0%}). The people the cases are deferred to will see the change first.')]


def _live_quality_rules(model: str, wait: str, min_labels: int,
                        margin: float) -> List[Dict[str, Any]]:
  """Delayed labels say the served version got worse (metrics of feedback/export.py)."""
  enough = f'on(model, version) {queries.live_labelled_examples(model)} >= {min_labels}'
  labels_cmd = ('python -m cli.labels --request-log <log dir> --labels <labels CSV> '
                '--out <dir>')
  return [
      _alert('ModelLiveRareClassRecallLow',
             f'{queries.live_rare_class_recall_high(model)} < on(model) group_left '
             f'{queries.live_quality_threshold(model, "min_rare_class_recall")} '
             f'and {enough}', wait, 'critical',
             f'Live recall of the rare class of {model} version {{{{ $labels.version }}}} is '
             f'below the blessing threshold (95% interval up to '
             f'{{{{ $value | printf "%.3f" }}}})',
             f'Delayed labels show the version misses the rare class more often than the '
             f'blessing allowed: concept drift, or inputs the training data lacked. Per-slice '
             f'figures: {labels_cmd}; retrain on the harvested traffic: python -m '
             f'cli.harvest.'),
      # Against offline alone, a version blessed just above the floor could fall
      # below the floor and stay quiet: its own offline figure is already low.
      _alert('ModelLiveAccuracyBelowFloor',
             f'{queries.live_accuracy_high(model)} < on(model) group_left '
             f'{queries.live_quality_threshold(model, "min_accuracy")} '
             f'and {enough}', wait, 'critical',
             f'Live accuracy of {model} version {{{{ $labels.version }}}} is below the '
             f'blessing threshold (95% interval up to {{{{ $value | printf "%.3f" }}}})',
             f'Delayed labels show the version is worse than any model the pipeline would '
             f'bless today. If the inputs did not drift (no ModelInputDrift), the relation '
             f'between inputs and outcome changed. {labels_cmd}; retrain on the harvested '
             f'traffic: python -m cli.harvest.'),
      # Both figures are samples: the old line (live interval's top below
      # offline - margin) treated a 600-row offline figure as exact and missed a
      # real drop (0.755 offline, 0.709 on 3,000 labels: z = 2.4) by 0.0003.
      _alert('ModelLiveAccuracyBelowOffline',
             f'{queries.live_accuracy(model)} < on(model, version) '
             f'({queries.offline_accuracy(model)} - {margin}) '
             f'and on(model, version) {queries.live_accuracy_drop_z(model)} > {LIVE_DROP_Z} '
             f'and {enough}', wait, 'warning',
             f'Live accuracy of {model} version {{{{ $labels.version }}}} '
             f'({{{{ $value | printf "%.3f" }}}}) dropped more than {margin} below its '
             f'offline evaluation, significantly given both sample sizes',
             f'The labels that arrived disagree with the version more than its evaluation '
             f'did: if the inputs did not drift (no ModelInputDrift), the relation between '
             f'inputs and outcome changed. {labels_cmd}; retrain on the harvested traffic: '
             f'python -m cli.harvest.'),
  ]


def generate(spec, schema: schema_pb2.Schema, policy: policy_lib.MonitoringPolicy,
             state_dir: str = '<monitor state dir>', server_job: str = SERVER_JOB,
             monitor_job: str = MONITOR_JOB,
             min_live_labels: int = DEFAULT_MIN_LIVE_LABELS,
             live_accuracy_margin: float = DEFAULT_LIVE_ACCURACY_MARGIN) -> Dict[str, Any]:
  """The rule file as a dict (yaml.safe_dump it, or use to_yaml)."""
  model = spec.name
  th = thresholds(spec, schema, policy)
  look = _where_to_look(model, state_dir)
  rules = (_input_rules(model, th, policy.alert_for, look) +
           _model_rules(model, th, policy, look, server_job, monitor_job) +
           _live_quality_rules(model, policy.alert_for, min_live_labels,
                               live_accuracy_margin))
  if getattr(spec, 'automation', None) is not None:
    rules += _automation_rules(model, policy)
  return {'groups': [{'name': f'{model}-model-monitoring', 'rules': rules}]}


def to_yaml(rules: Mapping[str, Any]) -> str:
  return yaml.safe_dump(rules, sort_keys=False, width=120, allow_unicode=True)
