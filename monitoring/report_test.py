"""The HTML monitor report, rendered in headless Chromium."""

from description import monitoring as policy_lib
from monitoring import report
from monitoring import rules as rules_lib
from monitoring.rules_test import _schema
from testing import browser


def test_report_shows_history_drift_and_alarms_in_a_browser(monitored, spec, schema_path,
                                                            tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  current = rules_lib.thresholds(spec, _schema(schema_path), policy_lib.MonitoringPolicy())
  data = report.build(monitored, spec.name, current)
  path = report.write(str(tmp_path / 'monitor.html'), data)
  assert [w['drifted'] != [] for w in data['windows']] == [False, False, True]
  drifted = data['windows'][2]['drifted']
  assert {a['feature'] for a in data['alarms'] if a['concern'] == 'drift'} == set(drifted)
  dom = browser.chromium(tmp_path, '--dump-dom', 'file://' + path)
  for section in ('alarms', 'drift', 'windows', 'rejected'):
    assert f'<section id="{section}">' in dom, section
  alarms = dom.split('<section id="alarms">', 1)[1].split('</section>', 1)[0]
  for feature in drifted:
    assert f'<td>{feature}</td>' in alarms
  assert dom.count('<svg') == len(drifted)  # one drift chart per drifted input
  windows = dom.split('<section id="windows">', 1)[1].split('</section>', 1)[0]
  assert windows.count('<tr class="bad">') == 1 and windows.count('<tr class="">') == 2
  assert 'src="http' not in dom and 'href="http' not in dom  # self-contained
  screenshot = tmp_path / 'report.png'
  browser.chromium(tmp_path, f'--screenshot={screenshot}', '--window-size=1280,1600',
            'file://' + path)
  image = Image.open(screenshot).convert('RGB')
  colors = image.getcolors(maxcolors=1 << 20)
  assert len(colors) > 50 and max(colors)[0] / (1280 * 1600) < 0.9, 'blank page'


def test_report_without_prometheus_says_so_when_unreachable(monitored, spec, schema_path):
  current = rules_lib.thresholds(spec, _schema(schema_path), policy_lib.MonitoringPolicy())
  data = report.build(monitored, spec.name, current, prometheus='http://127.0.0.1:9')
  assert data['alert_error'].startswith('http://127.0.0.1:9: ')
  assert 'could not be asked' in report.reports.render(report.TEMPLATE, **data)
