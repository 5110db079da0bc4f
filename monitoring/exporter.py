"""The monitor's Prometheus metrics: the latest closed window of each model version.

Label values come only from known sets, so no request can create series:
`model` is the monitored model, `feature` a model input of the description,
`class` one of its classes, `measure` and `quantile` fixed sets, and
`version` a version the log holds, at most MAX_VERSIONS of them (the
newest; an older version's series are removed when a newer one appears).

Series (gauges unless they end in _total):
  monitor_window_records{model,version}                 records in the last window
  monitor_window_end_timestamp_seconds{model,version}   its last record's time
  monitor_records_total{model,version} / monitor_windows_total{model,version}
  monitor_rejected_lines_total{model,reason}            bad_line | other_model
  monitor_baseline_available{model,version}             1 if drift could be measured
  monitor_input_missing_share{model,version,feature}
  monitor_input_out_of_range_share{model,version,feature}
  monitor_input_mean{model,version,feature}             numeric inputs
  monitor_input_quantile{model,version,feature,quantile}
  monitor_predicted_class_share{model,version,class}
  monitor_rare_class_score_mean{model,version}
  monitor_invalid_output_share{model,version}
  monitor_prediction_shift{model,version}               L-inf vs the version's first window
  monitor_feature_drift{model,version,feature,measure}  jensen_shannon | l_infinity
  monitor_feature_drift_threshold{model,version,feature,measure}
"""

from typing import Any, Dict, Iterable, List, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest  # noqa: F401 (re-exported for callers)

from monitoring import window as window_lib

MAX_VERSIONS = 5
REJECT_REASONS = ('bad_line', 'other_model')
MEASURES = ('jensen_shannon', 'l_infinity')


def _version_key(version: str):
  return (version.isdigit(), int(version) if version.isdigit() else 0, version)


class Exporter:

  def __init__(self, model: str, features: Sequence[str], classes: Sequence[str],
               registry: CollectorRegistry = None):
    self.model = model
    self.features = set(features)
    self.classes = set(classes)
    self.registry = registry or CollectorRegistry()
    self.versions: List[str] = []
    r = self.registry
    per_version = ['model', 'version']
    per_feature = per_version + ['feature']
    self.window_records = Gauge('monitor_window_records', 'Records in the last closed window',
                                per_version, registry=r)
    self.window_end = Gauge('monitor_window_end_timestamp_seconds',
                            'Time of the last record of the last closed window',
                            per_version, registry=r)
    self.records = Counter('monitor_records', 'Request-log records processed',
                           per_version, registry=r)
    self.windows = Counter('monitor_windows', 'Windows closed', per_version, registry=r)
    self.rejected = Counter('monitor_rejected_lines', 'Log lines the monitor could not use',
                            ['model', 'reason'], registry=r)
    self.baseline = Gauge('monitor_baseline_available',
                          '1 if the training statistics of the version were found',
                          per_version, registry=r)
    self.missing = Gauge('monitor_input_missing_share', 'Share of missing values',
                         per_feature, registry=r)
    self.out_of_range = Gauge('monitor_input_out_of_range_share',
                              'Share of present values outside the schema domain',
                              per_feature, registry=r)
    self.mean = Gauge('monitor_input_mean', 'Mean of a numeric input', per_feature,
                      registry=r)
    self.quantile = Gauge('monitor_input_quantile', 'Quantile of a numeric input',
                          per_feature + ['quantile'], registry=r)
    self.class_share = Gauge('monitor_predicted_class_share', 'Share of predicted classes',
                             per_version + ['class'], registry=r)
    self.rare_score = Gauge('monitor_rare_class_score_mean', 'Mean score of the rare class',
                            per_version, registry=r)
    self.invalid = Gauge('monitor_invalid_output_share',
                         'Share of records with null, non-finite or inconsistent outputs',
                         per_version, registry=r)
    self.shift = Gauge('monitor_prediction_shift',
                       'L-infinity distance of predicted-class shares from the version\'s first window',
                       per_version, registry=r)
    self.drift = Gauge('monitor_feature_drift', 'Drift of an input against training data',
                       per_feature + ['measure'], registry=r)
    self.drift_threshold = Gauge('monitor_feature_drift_threshold',
                                 'Threshold of the drift measure', per_feature + ['measure'],
                                 registry=r)
    self._version_metrics = [self.window_records, self.window_end, self.records,
                             self.windows, self.baseline, self.missing, self.out_of_range,
                             self.mean, self.quantile, self.class_share, self.rare_score,
                             self.invalid, self.shift, self.drift, self.drift_threshold]
    for reason in REJECT_REASONS:
      self.rejected.labels(model, reason)

  def count_rejected(self, reason: str, n: int = 1) -> None:
    if reason in REJECT_REASONS and n:
      self.rejected.labels(self.model, reason).inc(n)

  def _admit(self, version: str) -> bool:
    """Whether `version` gets series (the newest MAX_VERSIONS do)."""
    if version in self.versions:
      return True
    self.versions = sorted(self.versions + [version], key=_version_key)
    while len(self.versions) > MAX_VERSIONS:
      dropped = self.versions.pop(0)
      self._forget(dropped)
      if dropped == version:
        return False
    return True

  def _forget(self, version: str) -> None:
    for metric in self._version_metrics:
      # pylint: disable=protected-access
      for labels in list(metric._metrics):
        if labels[:2] == (self.model, version):
          metric.remove(*labels)

  def export(self, result: Mapping[str, Any], restored: bool = False) -> None:
    """The window's gauges; restored=True (a window read back from disk after a
    restart) leaves the counters alone, so rates see no records twice."""
    version = str(result['version'])
    if not self._admit(version):
      return
    labels = (self.model, version)
    self.window_records.labels(*labels).set(result['records'])
    self.window_end.labels(*labels).set(result['last_ts'])
    if not restored:
      self.records.labels(*labels).inc(result['records'])
      self.windows.labels(*labels).inc()
    self.baseline.labels(*labels).set(1 if result.get('baseline') else 0)
    for feature, stats in result['inputs'].items():
      if feature not in self.features:
        continue
      self.missing.labels(*labels, feature).set(stats['missing_share'])
      self.out_of_range.labels(*labels, feature).set(stats['out_of_range_share'])
      if stats.get('mean') is not None:
        self.mean.labels(*labels, feature).set(stats['mean'])
      for q in window_lib.QUANTILES:
        key = window_lib.quantile_key(q)
        if stats.get(key) is not None:
          self.quantile.labels(*labels, feature, key).set(stats[key])
    outputs = result['outputs']
    for cls, share in outputs['class_share'].items():
      if cls in self.classes:
        self.class_share.labels(*labels, cls).set(share)
    if outputs.get('rare_class_score_mean') is not None:
      self.rare_score.labels(*labels).set(outputs['rare_class_score_mean'])
    self.invalid.labels(*labels).set(outputs['invalid_output_share'])
    if result.get('prediction_shift') is not None:
      self.shift.labels(*labels).set(result['prediction_shift'])
    for m in result.get('drift') or ():
      if m['feature'] in self.features and m['measure'] in MEASURES:
        self.drift.labels(*labels, m['feature'], m['measure']).set(m['value'])
        self.drift_threshold.labels(*labels, m['feature'], m['measure']).set(m['threshold'])


def versions_of(results: Iterable[Mapping[str, Any]]) -> List[str]:
  return sorted({str(r['version']) for r in results}, key=_version_key)
