"""The Grafana dashboard of a monitored model, generated with grafanalib.

One row per concern: traffic and latency, errors, inputs, outputs, drift,
rollout state. Every query is a function of monitoring/queries.py, the same
the alert rules compare with their thresholds; the rule thresholds are drawn
on the panels that have one. Import the JSON in Grafana (Dashboards > Import)
with a Prometheus data source named by `datasource`.
"""

import json
from typing import Any, Dict, List, Sequence, Tuple

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from description import monitoring as policy_lib
from monitoring import queries
from monitoring import rules as rules_lib
from tensorflow_metadata.proto.v0 import schema_pb2

PANEL_HEIGHT, PANEL_WIDTH, ROW_WIDTH = 8, 8, 24
DATASOURCE = 'Prometheus'


def _panel(title: str, targets: Sequence[Tuple[str, str]], unit: str = '',
           threshold: float = None, description: str = '') -> g.TimeSeries:
  steps = [{'color': 'green', 'value': None}]
  if threshold is not None:
    steps.append({'color': 'red', 'value': threshold})
  return g.TimeSeries(
      title=title, dataSource=DATASOURCE, description=description, unit=unit,
      targets=[g.Target(expr=expr, legendFormat=legend, refId=chr(ord('A') + i))
               for i, (expr, legend) in enumerate(targets)],
      thresholdType='line' if threshold is not None else 'off',
      thresholds=steps)


# Its series come from python -m cli.labels --textfile (node_exporter's textfile
# collector), not from the server or the monitor: they exist once labels arrive.
LIVE_QUALITY_ROW = 'Live quality (delayed labels)'


def rows(spec, schema: schema_pb2.Schema,
         policy: policy_lib.MonitoringPolicy, server_job: str = rules_lib.SERVER_JOB,
         monitor_job: str = rules_lib.MONITOR_JOB) -> List[Tuple[str, List[g.TimeSeries]]]:
  """(row title, panels), in the order an on-call engineer reads them."""
  m, w = spec.name, policy.rate_window
  th = rules_lib.thresholds(spec, schema, policy)
  per_version = '{{version}}'
  per_feature = '{{feature}} v{{version}}'
  return [
      ('Traffic and latency', [
          _panel('Requests per second', [(queries.request_rate(m, w),
                                          '{{role}} v{{version}}')], 'reqps'),
          _panel('p99 latency', [(queries.latency_p99(m, w), 'p99')], 's',
                 th['latency_p99_seconds'], 'Alert ModelLatencyP99 above the budget'),
          _panel('Scrape targets up', [(queries.up(server_job), 'server {{instance}}'),
                                       (queries.up(monitor_job), 'monitor {{instance}}')]),
      ]),
      ('Errors', [
          _panel('Error rate', [(queries.error_rate(m, w), 'errors / requests')],
                 'percentunit', th['error_rate']),
          _panel('Rejected log lines per second', [(queries.rejected_lines_rate(m, w),
                                                    '{{reason}}')]),
          _panel('Invalid outputs', [(queries.invalid_output_share(m), per_version)],
                 'percentunit', th['invalid_output_share']),
      ]),
      ('Inputs', [
          _panel('Missing share', [(queries.missing_share(m), per_feature)], 'percentunit'),
          _panel('Out of domain share', [(queries.out_of_range_share(m), per_feature)],
                 'percentunit', policy.out_of_range_share.get('', 0.01)),
          _panel('Numeric input means', [(queries.input_mean(m), per_feature)]),
      ]),
      ('Outputs', [
          _panel('Predicted class share', [(queries.predicted_class_share(m),
                                            '{{class}} v{{version}}')], 'percentunit'),
          _panel('Mean score of the rare class', [(queries.rare_class_score(m), per_version)]),
          _panel('Prediction shift vs first window', [(queries.prediction_shift(m),
                                                          per_version)],
                 '', th['prediction_shift']),
      ]),
      ('Drift', [
          _panel('Input drift against training data', [(queries.feature_drift(m), per_feature)],
                 '', None, 'Per feature: Jensen-Shannon (numeric) or L-infinity '
                 '(categorical); each feature\'s threshold is its series below'),
          _panel('Drift thresholds', [(queries.feature_drift_threshold(m), per_feature)]),
          _panel('Records per window', [(queries.window_records(m), per_version)]),
      ]),
      (LIVE_QUALITY_ROW, [
          _panel('Live accuracy and the upper end of its 95% interval',
                 [(queries.live_accuracy(m), per_version),
                  (queries.live_accuracy_high(m), 'upper end v{{version}}'),
                  (queries.offline_accuracy(m), 'offline v{{version}}'),
                  (queries.live_quality_threshold(m, 'min_accuracy'), 'blessing floor')],
                 'percentunit', None, 'Alerts ModelLiveAccuracyBelowFloor (upper end below '
                 'the floor) and ModelLiveAccuracyBelowOffline (live below offline by more '
                 'than the margin, z > 1.96 given both sample sizes): python -m cli.labels '
                 '--textfile'),
          _panel('Live rare-class recall, upper end of the 95% interval',
                 [(queries.live_rare_class_recall_high(m), per_version),
                  (queries.live_quality_threshold(m, 'min_rare_class_recall'),
                   'blessing floor')], 'percentunit'),
          _panel('Labelled predictions', [(queries.live_labelled_examples(m), per_version)]),
      ]),
      ('Rollout state', [
          _panel('Canary weight', [(queries.canary_weight(m), 'canary %')], 'percent'),
          _panel('Version labels', [(queries.label_info(m), '{{label}} = v{{version}}')]),
          _panel('Baseline found', [(queries.baseline_available(m), per_version)]),
      ]),
  ]


def generate(spec, schema: schema_pb2.Schema, policy: policy_lib.MonitoringPolicy,
             server_job: str = rules_lib.SERVER_JOB,
             monitor_job: str = rules_lib.MONITOR_JOB) -> g.Dashboard:
  panels: List[Any] = []
  y = 0
  for title, row_panels in rows(spec, schema, policy, server_job, monitor_job):
    panels.append(g.RowPanel(title=title, gridPos=g.GridPos(h=1, w=ROW_WIDTH, x=0, y=y)))
    y += 1
    for i, panel in enumerate(row_panels):
      panel.gridPos = g.GridPos(h=PANEL_HEIGHT, w=PANEL_WIDTH, x=i * PANEL_WIDTH, y=y)
      panels.append(panel)
    y += PANEL_HEIGHT
  return g.Dashboard(title=f'{spec.name} model monitoring', uid=f'{spec.name}-monitoring'[:40],
                     tags=['model-monitoring', spec.name], panels=panels, refresh='30s',
                     timezone='utc').auto_panel_ids()


def to_json(dashboard: g.Dashboard) -> str:
  return json.dumps(dashboard.to_json_data(), cls=DashboardEncoder, indent=1, sort_keys=True)


def expressions(dashboard_json: Dict[str, Any]) -> List[str]:
  """Every query of a generated dashboard (what the tests run against Prometheus)."""
  return [t['expr'] for p in dashboard_json.get('panels', ()) for t in p.get('targets', ())]
