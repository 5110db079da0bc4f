"""The rollout's report: rollout.json, a PNG of the steps, and an HTML page
rendered through the project's one HTML kit (`reports`, rollout.html.j2)."""

import json
import math
import os
from typing import Dict, Optional

import reports
from rollout.config import PROMOTED, RolloutResult, weight_text

_STATUS_COLOR = {'pass': '#1a7f37', 'breach': '#cf222e', 'insufficient': '#9a6700',
                 'skipped': '#6e7781'}


def plot_steps(result: RolloutResult, path: str) -> Optional[str]:
  """A PNG: per step, the canary weight and each guardrail's status; p99s."""
  if not result.steps:
    return None
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  names = [c['name'] for c in result.steps[0]['checks']]
  xs = list(range(1, len(result.steps) + 1))
  labels = [weight_text(s['weight']) for s in result.steps]
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
  for y, name in enumerate(names):
    for x, step in zip(xs, result.steps):
      status = next((c['status'] for c in step['checks'] if c['name'] == name), 'skipped')
      ax1.scatter([x], [y], s=160, color=_STATUS_COLOR.get(status, '#000'),
                  marker='X' if status == 'breach' else 'o')
  ax1.set_yticks(range(len(names)), names)
  ax1.set_xticks(xs, labels)
  ax1.set_xlim(0.5, len(xs) + 0.5)
  ax1.set_ylim(-0.7, len(names) - 0.3)
  ax1.set_title('guardrails per step (green pass, red breach,\namber insufficient, '
                'grey skipped)', fontsize=9)
  for role, color in (('stable', '#0969da'), ('canary', '#bf3989')):
    ys = [(s.get(role) or {}).get('p99_ms') for s in result.steps]
    ys = [float('nan') if v is None else v for v in ys]
    if not all(math.isnan(v) for v in ys):
      ax2.plot(xs, ys, marker='o', color=color, label=f'{role} p99')
  ax2.set_xticks(xs, labels)
  ax2.set_ylabel('ms')
  ax2.set_title('p99 latency of the step', fontsize=9)
  if ax2.lines:
    ax2.legend(fontsize=8)
  fig.suptitle(f'{result.model} {result.candidate}: {result.decision}', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def _page(result: RolloutResult, png_name: Optional[str]) -> Dict[str, object]:
  rows = [{'step': step['step'], 'weight': weight_text(step['weight']), 'name': c['name'],
           'status': c['status'], 'reason': c['reason']}
          for step in result.steps for c in step['checks']]
  return dict(title=f'Rollout of {result.model} version {result.candidate}', result=result,
              promoted=result.decision == PROMOTED,
              decided_weight=weight_text(result.step_weight), png_name=png_name, rows=rows)


def render_html(result: RolloutResult, png_name: Optional[str]) -> str:
  return reports.render('rollout.html.j2', **_page(result, png_name))


def write_report(result: RolloutResult, out_dir: str) -> Dict[str, str]:
  """rollout.json, rollout.png and rollout.html in out_dir; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {'json': os.path.join(out_dir, 'rollout.json')}
  with open(paths['json'], 'w') as f:
    json.dump(result.to_json(), f, indent=1, allow_nan=False, default=str)
  png = plot_steps(result, os.path.join(out_dir, 'rollout.png'))
  if png:
    paths['png'] = png
  paths['html'] = reports.write(os.path.join(out_dir, 'rollout.html'), 'rollout.html.j2',
                                **_page(result, 'rollout.png' if png else None))
  return paths
