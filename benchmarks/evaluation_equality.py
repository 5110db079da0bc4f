"""Two Evaluator outputs hold the same metrics, plots and validation outcome.

Every slice, every metric and plot key, every number within a relative
tolerance (floating point: counts are summed in another order), and the
same validation result (blessing). Used to show that a faster Evaluator
computes what the slower one did, on the same model and the same data:

  python benchmarks/profile_evaluator.py ... (prints evaluation_uri), once with
  main's code and once with this branch's, then
  python benchmarks/evaluation_equality.py BEFORE_URI AFTER_URI
"""

import argparse
import json
import math
import os
import sys
from typing import Any, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

# Predictions are float32 and TensorFlow may sum in another order from run to
# run: two runs of the same code differ in the 8th digit (calibration).
RELATIVE_TOLERANCE = 1e-6


def _leaves(value: Any, path: str = '') -> Dict[str, Any]:
  """A JSON-like tree flattened to {path: leaf}."""
  if isinstance(value, dict):
    out = {}
    for key, item in value.items():
      out.update(_leaves(item, f'{path}/{key}'))
    return out
  if isinstance(value, list):
    out = {}
    for i, item in enumerate(value):
      out.update(_leaves(item, f'{path}[{i}]'))
    return out
  return {path: value}


def _same(a: Any, b: Any) -> bool:
  if isinstance(a, (int, float)) and isinstance(b, (int, float)):
    if math.isnan(a) or math.isnan(b):
      return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
  return a == b


def _records(uri: str, kind: str) -> Dict[str, Dict[str, Any]]:
  """{slice: {path: leaf}} of an evaluation's metrics or plots."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  load = tfma.load_metrics if kind == 'metrics' else tfma.load_plots
  out = {}
  for record in load(uri):
    slice_key = json_format.MessageToJson(record.slice_key, sort_keys=True, indent=None)
    body = json_format.MessageToDict(record, preserving_proto_field_name=True)
    body.pop('slice_key', None)
    # Keyed by metric key, not list position: TFMA's order is not stable.
    items = body.get('metric_keys_and_values') or body.get('plot_keys_and_values') or []
    keyed = {json.dumps(item['key'], sort_keys=True): item.get('value', {})
             for item in items}
    out[slice_key] = _leaves(keyed)
  return out


def compare(before: str, after: str) -> Tuple[List[str], int]:
  """Differences (empty: equal) and the number of numbers compared."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  problems, compared = [], 0
  for kind in ('metrics', 'plots'):
    a, b = _records(before, kind), _records(after, kind)
    for missing in sorted(set(a) ^ set(b)):
      problems.append(f'{kind}: slice {missing} only in {"before" if missing in a else "after"}')
    for slice_key in sorted(set(a) & set(b)):
      for path in sorted(set(a[slice_key]) | set(b[slice_key])):
        x, y = a[slice_key].get(path), b[slice_key].get(path)
        compared += 1
        if not _same(x, y):
          problems.append(f'{kind} {slice_key} {path}: before {x!r}, after {y!r}')
  va, vb = tfma.load_validation_result(before), tfma.load_validation_result(after)
  if va.validation_ok != vb.validation_ok:
    problems.append(f'validation_ok: before {va.validation_ok}, after {vb.validation_ok}')
  return problems, compared


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('before')
  p.add_argument('after')
  args = p.parse_args(argv)
  problems, compared = compare(args.before, args.after)
  for line in problems[:50]:
    print(line)
  print(f'{compared:,} values compared (relative tolerance {RELATIVE_TOLERANCE:g}): '
        f'{"EQUAL" if not problems else f"{len(problems)} DIFFERENT"}')
  return 0 if not problems else 1


if __name__ == '__main__':
  sys.exit(main())
