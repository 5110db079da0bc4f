"""The generated Grafana dashboard: one row per concern, the rules' PromQL."""

import json

from description import monitoring as policy_lib
from monitoring import dashboard
from monitoring import rules as rules_lib
from monitoring.rules_test import _schema

ROWS = ['Traffic and latency', 'Errors', 'Inputs', 'Outputs', 'Drift',
        'Live quality (delayed labels)', 'Rollout state']


def _generate(spec, schema_path):
  policy = policy_lib.MonitoringPolicy()
  schema = _schema(schema_path)
  return (json.loads(dashboard.to_json(dashboard.generate(spec, schema, policy))),
          rules_lib.generate(spec, schema, policy))


def test_one_row_per_concern_with_panels(spec, schema_path):
  board, _ = _generate(spec, schema_path)
  rows = [p['title'] for p in board['panels'] if p['type'] == 'row']
  assert rows == ROWS
  panels = [p for p in board['panels'] if p['type'] != 'row']
  assert len(panels) == 3 * len(ROWS)
  assert len({p['id'] for p in board['panels']}) == len(board['panels'])
  assert all(p['targets'] and all(t['expr'] for t in p['targets']) for p in panels)


def test_the_alert_rules_measure_what_the_dashboard_shows(spec, schema_path):
  board, generated = _generate(spec, schema_path)
  shown = dashboard.expressions(board)
  for rule in generated['groups'][0]['rules']:
    measured = rule['expr'].rsplit(' > ', 1)[0].rsplit(' == ', 1)[0].split(' or ')[0]
    measured = measured.split(' < ')[0]  # live quality: the measure, then its floor
    # A per-feature rule selects one feature of the dashboard's query.
    general = measured.replace(f',feature="{rule["labels"].get("feature")}"', '')
    assert any(general == e or general in e for e in shown), (rule['alert'], measured)
