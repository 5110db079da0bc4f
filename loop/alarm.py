"""The live-quality alarm: the generated rules, evaluated by promtool.

cli.labels writes the month's live quality as a Prometheus textfile; each of
its samples becomes a constant input series of a `promtool test rules` case
that expects no live-quality alert after the rules' `for:`. promtool passing
means quiet; failing, its report lists the alerts that fired, with their
labels. So the call comes from the same rule file an operator deploys, run
by Prometheus's own rule engine, not from a copy of its thresholds.
"""

import dataclasses
import os
import re
import shutil
import subprocess
from typing import List

import yaml
from prometheus_client.parser import text_string_to_metric_families

from description import monitoring as policy_lib
from monitoring import rules as rules_lib

MINUTES = 30


@dataclasses.dataclass
class AlarmResult:
  firing: List[str]          # "AlertName version V"
  rules_file: str
  test_file: str
  output: str

  @property
  def raised(self) -> bool:
    return bool(self.firing)


def _series(textfile: str) -> List[dict]:
  with open(textfile) as f:
    text = f.read()
  out = []
  for family in text_string_to_metric_families(text):
    for sample in family.samples:
      labels = ','.join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
      out.append({'series': f'{sample.name}{{{labels}}}', 'values': f'{sample.value}x{MINUTES}'})
  return out


def _minutes(duration: str) -> int:
  match = re.fullmatch(r'(\d+)([smh])', duration.strip())
  if not match:
    return 5
  n, unit = int(match.group(1)), match.group(2)
  return max(1, {'s': n // 60, 'm': n, 'h': 60 * n}[unit])


def evaluate(spec, schema, textfile: str, out_dir: str,
             min_live_labels: int = rules_lib.DEFAULT_MIN_LIVE_LABELS) -> AlarmResult:
  """Which live-quality alerts fire on the figures in `textfile`."""
  if not shutil.which('promtool'):
    raise RuntimeError('promtool is missing: run scripts/install_test_tools.sh')
  os.makedirs(out_dir, exist_ok=True)
  policy = policy_lib.MonitoringPolicy()
  rules = rules_lib.generate(spec, schema, policy, min_live_labels=min_live_labels)
  rules_file = os.path.join(out_dir, 'rules.yml')
  with open(rules_file, 'w') as f:
    f.write(rules_lib.to_yaml(rules))
  eval_minute = min(MINUTES - 1, _minutes(policy.alert_for) + 2)
  test = {'rule_files': ['rules.yml'], 'evaluation_interval': '1m', 'tests': [{
      'interval': '1m', 'input_series': _series(textfile),
      'alert_rule_test': [{'eval_time': f'{eval_minute}m', 'alertname': name,
                           'exp_alerts': []} for name in rules_lib.LIVE_QUALITY_ALERTS]}]}
  test_file = os.path.join(out_dir, 'live_quality_test.yml')
  with open(test_file, 'w') as f:
    yaml.safe_dump(test, f, sort_keys=False)
  done = subprocess.run(['promtool', 'test', 'rules', 'live_quality_test.yml'],
                        capture_output=True, text=True, cwd=out_dir, timeout=120)
  output = done.stdout + done.stderr
  firing = []
  if done.returncode != 0:
    # Each failed case: "alertname: X, time: ..., exp:[], got:[ ... Labels:{...} ...]"
    blocks = re.split(r'alertname: ', output)[1:]
    for block in blocks:
      name = block.split(',', 1)[0].strip()
      if name not in rules_lib.LIVE_QUALITY_ALERTS:
        continue
      versions = sorted(set(re.findall(r'version="([^"]*)"', block)))
      firing += [f'{name} version {v}' for v in versions] or [name]
    if not firing:
      raise RuntimeError(f'promtool could not evaluate the rules:\n{output[-3000:]}')
  return AlarmResult(firing, rules_file, test_file, output)
