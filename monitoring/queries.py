"""The PromQL of every concern, shared by the alert rules and the dashboard.

One function per concern; the rules compare these expressions with a
threshold, the dashboard plots them, so what an alert says and what the
on-call engineer sees are the same numbers. Series come from the model
server (serving/metrics.py) and the monitor (monitoring/exporter.py).
"""


def _sel(**labels: str) -> str:
  inner = ','.join(f'{k}="{v}"' for k, v in labels.items() if v is not None)
  return '{' + inner + '}'


def feature_drift(model: str, feature: str = None) -> str:
  return f'monitor_feature_drift{_sel(model=model, feature=feature)}'


def feature_drift_threshold(model: str, feature: str = None) -> str:
  return f'monitor_feature_drift_threshold{_sel(model=model, feature=feature)}'


def missing_share(model: str, feature: str = None) -> str:
  return f'monitor_input_missing_share{_sel(model=model, feature=feature)}'


def out_of_range_share(model: str, feature: str = None) -> str:
  return f'monitor_input_out_of_range_share{_sel(model=model, feature=feature)}'


def input_mean(model: str) -> str:
  return f'monitor_input_mean{_sel(model=model)}'


def predicted_class_share(model: str) -> str:
  return f'monitor_predicted_class_share{_sel(model=model)}'


def rare_class_score(model: str) -> str:
  return f'monitor_rare_class_score_mean{_sel(model=model)}'


def prediction_shift(model: str) -> str:
  return f'monitor_prediction_shift{_sel(model=model)}'


def invalid_output_share(model: str) -> str:
  return f'monitor_invalid_output_share{_sel(model=model)}'


def window_records(model: str) -> str:
  return f'monitor_window_records{_sel(model=model)}'


def baseline_available(model: str) -> str:
  return f'monitor_baseline_available{_sel(model=model)}'


def rejected_lines_rate(model: str, window: str) -> str:
  return f'sum by (model, reason) (rate(monitor_rejected_lines_total{_sel(model=model)}[{window}]))'


def request_rate(model: str, window: str) -> str:
  return (f'sum by (model, version, role) '
          f'(rate(serving_requests_total{_sel(model=model)}[{window}]))')


def error_rate(model: str, window: str) -> str:
  """Share of predict requests answered with an error (4xx or 5xx)."""
  return (f'sum by (model) (rate(serving_request_errors_total{_sel(model=model)}[{window}]))'
          f' / sum by (model) (rate(serving_requests_total{_sel(model=model)}[{window}]))')


def latency_p99(model: str, window: str) -> str:
  return (f'histogram_quantile(0.99, sum by (model, le) '
          f'(rate(serving_request_latency_seconds_bucket{_sel(model=model)}[{window}])))')


def up(job: str) -> str:
  return f'up{_sel(job=job)}'


def down(job: str) -> str:
  """1 per target of the job that the last scrape could not reach, or no job at all."""
  return f'{up(job)} == 0 or absent({up(job)})'


def canary_weight(model: str) -> str:
  return f'serving_canary_weight_percent{_sel(model=model)}'


def label_info(model: str) -> str:
  return f'serving_model_label_info{_sel(model=model)}'


def deferral_rate(model: str, window: str) -> str:
  """Share of the cases served at level partial that the model deferred to a person."""
  deferred = _sel(model=model, level='partial', decision='deferred')
  every = _sel(model=model, level='partial')
  all_cases = (f'sum by (model, version) '
               f'(rate(serving_automation_decisions_total{every}[{window}]))')
  # A version that has deferred nothing has no `deferred` series at all; `or 0 *`
  # makes that a rate of 0 instead of no answer (a band of 0 is what the
  # alert must catch).
  return (f'(sum by (model, version) (rate(serving_automation_decisions_total{deferred}'
          f'[{window}])) or 0 * {all_cases}) / {all_cases}')


def partial_decisions(model: str, window: str) -> str:
  return (f'sum by (model, version) (increase(serving_automation_decisions_total'
          f'{_sel(model=model, level="partial")}[{window}]))')


def expected_deferral_rate(model: str, bound: str = None) -> str:
  """What the version's evaluation expects (bound: expected | low | high)."""
  # One value per version, however many server replicas export the gauge.
  return (f'max by (model, version) '
          f'(serving_automation_expected_deferral_rate{_sel(model=model, bound=bound)})')


# Live quality from delayed labels (python -m cli.labels --textfile; feedback/export.py).
def live_rare_class_recall_high(model: str) -> str:
  """Upper end of the 95% interval of the rare class's live recall, per version."""
  return f'live_rare_class_recall_ci_high{_sel(model=model)}'


def live_accuracy_high(model: str, slice_name: str = 'overall') -> str:
  """Upper end of the 95% interval of live accuracy, per version (and slice)."""
  return f'live_accuracy_ci_high{_sel(model=model, slice=slice_name)}'


def live_quality_threshold(model: str, metric: str = None) -> str:
  """The description's blessing floors (metric: min_accuracy | min_rare_class_recall)."""
  return f'live_quality_threshold{_sel(model=model, metric=metric)}'


def live_accuracy(model: str, slice_name: str = 'overall') -> str:
  return f'live_accuracy{_sel(model=model, slice=slice_name)}'


def offline_accuracy(model: str) -> str:
  return f'offline_accuracy{_sel(model=model)}'


def offline_examples(model: str) -> str:
  return f'offline_evaluation_examples{_sel(model=model)}'


def live_accuracy_drop_z(model: str) -> str:
  """How many standard errors live accuracy sits below the offline evaluation,
  per version: a two-sample test of proportions, since the offline figure is
  itself a sample (a few hundred eval rows), not the truth."""
  live, offline = live_accuracy(model), offline_accuracy(model)
  live_variance = (f'{live} * (1 - {live}) / on(model, version, slice, value) '
                   f'{live_labelled_examples(model)}')
  offline_variance = (f'{offline} * (1 - {offline}) / on(model, version) '
                      f'{offline_examples(model)}')
  return (f'({offline} - on(model, version) {live}) / on(model, version) '
          f'sqrt({offline_variance} + on(model, version) {live_variance})')


def live_labelled_examples(model: str, slice_name: str = 'overall') -> str:
  return f'live_labelled_examples{_sel(model=model, slice=slice_name)}'
