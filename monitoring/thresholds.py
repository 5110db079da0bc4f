"""Thresholds proposed from the last quiet windows ("adapt thresholds over time").

A window is quiet when none of its measurements is above the current
threshold (no window alert would have fired). Over the last N quiet windows
of a model, each window metric's proposed threshold is a high quantile of
its values times a margin (so the windows it was learnt from stay quiet),
never below FLOOR. Error rate and latency come from the server, not from
windows: they are not proposed. Nothing is written unless asked; the written
file is a `thresholds:` mapping, the format of the description's
`monitoring.thresholds` (cli.monitor --thresholds reads it).
"""

import dataclasses
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import yaml

from monitoring import history

FLOOR = 0.001
MIN_WINDOWS = 3
PER_FEATURE = ('drift', 'missing_share', 'out_of_range_share')
SCALAR = ('prediction_shift', 'invalid_output_share')


@dataclasses.dataclass
class Proposal:
  windows: int
  quantile: float
  margin: float
  current: Dict[str, Any]
  proposed: Dict[str, Any]
  # (concern, feature or None, current, proposed)
  changes: List[Tuple[str, Optional[str], Optional[float], float]]


def window_values(window: Mapping[str, Any]) -> Dict[Tuple[str, Optional[str]], float]:
  """Every thresholded metric of a window: (concern, feature) -> value."""
  out: Dict[Tuple[str, Optional[str]], float] = {}
  for m in window.get('drift') or ():
    out[('drift', m['feature'])] = m['value']
  for feature, stats in window['inputs'].items():
    out[('missing_share', feature)] = stats['missing_share']
    out[('out_of_range_share', feature)] = stats['out_of_range_share']
  if window.get('prediction_shift') is not None:
    out[('prediction_shift', None)] = window['prediction_shift']
  out[('invalid_output_share', None)] = window['outputs']['invalid_output_share']
  return out


def threshold_of(current: Mapping[str, Any], concern: str, feature: Optional[str]):
  value = current.get(concern)
  return value.get(feature) if isinstance(value, Mapping) else value


def is_quiet(window: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
  for (concern, feature), value in window_values(window).items():
    threshold = threshold_of(current, concern, feature)
    if threshold is not None and value > threshold:
      return False
  return True


def propose(state_dir: str, model: str, current: Mapping[str, Any], last: int = 20,
            quantile: float = 0.99, margin: float = 1.25,
            windows: Optional[Iterable[Mapping[str, Any]]] = None) -> Proposal:
  found = list(windows if windows is not None else history.windows(state_dir, model))
  found.sort(key=lambda w: w.get('last_ts', 0))
  quiet = [w for w in found if is_quiet(w, current)][-last:]
  if len(quiet) < MIN_WINDOWS:
    raise LookupError(f'{len(quiet)} quiet window(s) of {model} under '
                      f'{os.path.join(state_dir, history.WINDOWS)} (of {len(found)}); at '
                      f'least {MIN_WINDOWS} are needed to propose thresholds')
  samples: Dict[Tuple[str, Optional[str]], List[float]] = {}
  for w in quiet:
    for key, value in window_values(w).items():
      samples.setdefault(key, []).append(value)
  proposed: Dict[str, Any] = {k: dict(current[k]) for k in PER_FEATURE if k in current}
  proposed.update({k: current.get(k) for k in SCALAR})
  changes = []
  for (concern, feature), values in sorted(samples.items(), key=lambda kv: (kv[0][0],
                                                                             kv[0][1] or '')):
    if concern not in PER_FEATURE + SCALAR:
      continue
    value = round(max(FLOOR, float(np.quantile(values, quantile)) * margin), 4)
    old = threshold_of(current, concern, feature)
    if feature is None:
      proposed[concern] = value
    else:
      proposed.setdefault(concern, {})[feature] = value
    if old is None or abs(old - value) > 1e-9:
      changes.append((concern, feature, old, value))
  return Proposal(len(quiet), quantile, margin, dict(current), proposed, changes)


def format_diff(proposal: Proposal) -> str:
  lines = [f'From {proposal.windows} quiet window(s): p{proposal.quantile * 100:g} x '
           f'{proposal.margin:g}, never below {FLOOR}']
  if not proposal.changes:
    lines.append('  no change')
  for concern, feature, old, new in proposal.changes:
    name = f'{concern}.{feature}' if feature else concern
    old_text = '(none)' if old is None else f'{old:g}'
    lines.append(f'  {name:45s} {old_text:>10s} -> {new:g}')
  return '\n'.join(lines)


def write(path: str, proposal: Proposal) -> str:
  """The proposed thresholds that differ from the current ones, as YAML."""
  out: Dict[str, Any] = {}
  for concern, feature, _, new in proposal.changes:
    if feature is None:
      out[concern] = new
    else:
      out.setdefault(concern, {})[feature] = new
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    f.write(f'# Proposed by `python -m cli.monitor propose` from {proposal.windows} quiet '
            f'windows;\n# review, then use with --thresholds or copy under '
            f'monitoring.thresholds in the description.\n')
    yaml.safe_dump({'thresholds': out}, f, sort_keys=True)
  return path
