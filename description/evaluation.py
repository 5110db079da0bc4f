"""The `evaluation` section: the Evaluator's blessing gates, typed and checked."""

import dataclasses
from typing import Any, Optional, Tuple

from description import fields


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """Blessing thresholds (pipeline/eval_config.py); None means no such gate."""
  min_accuracy: Optional[float] = None
  # Against the last blessed model: accuracy may not drop by more than this.
  max_accuracy_drop: Optional[float] = None
  # Lower bound on the rare class's one-vs-rest recall.
  min_rare_class_recall: Optional[float] = None
  # Decision thresholds for Fairness Indicators' FPR/FNR per slice.
  fairness_thresholds: Tuple[float, ...] = (0.5,)
  # The run report flags a protected attribute whose slices differ by more.
  fairness_gap_threshold: Optional[float] = None

  # Transitional: rollout/, components/canary_rollout/ and provenance/report.py
  # still read the section as the dict it was (`'min_accuracy' in ev`,
  # `ev['min_accuracy']`, `ev.get(...)`); an unset gate reads as absent.
  # Remove once they read the attributes.
  def __contains__(self, key: str) -> bool:
    return getattr(self, key, None) is not None

  def __getitem__(self, key: str) -> Any:
    if key not in self:
      raise KeyError(key)
    return getattr(self, key)

  def get(self, key: str, default: Any = None) -> Any:
    return self[key] if key in self else default


_FRACTIONS = ('min_accuracy', 'max_accuracy_drop', 'min_rare_class_recall',
              'fairness_gap_threshold')


def _fairness_thresholds(value: Any, source: str) -> Tuple[float, ...]:
  where = 'evaluation.fairness_thresholds'
  if not isinstance(value, (list, tuple)):
    raise fields.DatasetSpecError(
        f'{source}: {where} must be a list of numbers in [0, 1], got {value!r}')
  return tuple(fields.number(t, f'{where}[{i}]', source, 0.0, 1.0)
               for i, t in enumerate(value))


def parse_evaluation(raw: Any, source: str) -> Evaluation:
  section = fields.mapping(raw, 'evaluation', source)
  known = [f.name for f in dataclasses.fields(Evaluation)]
  fields.unknown_fields(section, known, 'evaluation.', source)
  values = {key: fields.number(section[key], f'evaluation.{key}', source, 0.0, 1.0)
            for key in _FRACTIONS if section.get(key) is not None}
  # An empty list means the default, as it always has.
  if section.get('fairness_thresholds'):
    values['fairness_thresholds'] = _fairness_thresholds(
        section['fairness_thresholds'], source)
  return Evaluation(**values)
