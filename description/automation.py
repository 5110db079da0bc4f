"""The optional `automation` section: how far the model may decide on its own.

  automation:
    level: partial                 # shadow | assist | partial | full: the level to deploy at
    target_accuracy: 0.90          # accuracy the automated decisions must reach
    target_rare_class_recall: 0.5  # recall of label.rare_class among automated decisions
    max_deferral_rate: 0.5         # share of cases a person may be handed at most
    confidence_level: 0.95         # of the interval the targets are checked against

The pipeline (components/automation_policy) chooses the confidence band from
the eval split so that the automated cases reach the targets; the server
applies it (serving/automation.py). A band only means something where the
model decides some cases itself and a person the rest, hence the checks
against contradictory settings below.
"""

import dataclasses
from typing import Any, Optional

from description import fields

LEVELS = ('shadow', 'assist', 'partial', 'full')


@dataclasses.dataclass(frozen=True)
class Automation:
  target_accuracy: float
  level: str = 'partial'
  target_rare_class_recall: Optional[float] = None
  max_deferral_rate: float = 1.0
  confidence_level: float = 0.95


def parse_automation(raw: Any, source: str,
                     rare_class: Optional[str]) -> Optional[Automation]:
  """The section, or None when the description has none (nothing is automated)."""
  if raw is None:
    return None
  section = fields.mapping(raw, 'automation', source)
  known = [f.name for f in dataclasses.fields(Automation)]
  fields.unknown_fields(section, known, 'automation.', source)
  values = {'target_accuracy': fields.number(
      fields.require(section, 'target_accuracy', source, 'automation.'),
      'automation.target_accuracy', source, 0.0, 1.0)}
  for key in ('target_rare_class_recall', 'max_deferral_rate'):
    if section.get(key) is not None:
      values[key] = fields.number(section[key], f'automation.{key}', source, 0.0, 1.0)
  if section.get('confidence_level') is not None:
    # 1 would ask for an interval covering everything: no band could pass it.
    values['confidence_level'] = fields.number(
        section['confidence_level'], 'automation.confidence_level', source, 0.5, 0.999)
  if 'level' in section:
    values['level'] = fields.one_of(section['level'], LEVELS, 'automation.level', source)
  automation = Automation(**values)
  _check_consistent(automation, source, rare_class)
  return automation


def _check_consistent(a: Automation, source: str, rare_class: Optional[str]) -> None:
  if a.target_rare_class_recall is not None and rare_class is None:
    raise fields.DatasetSpecError(
        f'{source}: automation.target_rare_class_recall is set but label.rare_class is not: '
        f'recall of which class?')
  if a.level == 'partial' and a.max_deferral_rate == 0:
    raise fields.DatasetSpecError(
        f'{source}: automation.level is partial but automation.max_deferral_rate is 0: '
        f'partial automation defers some cases; with none deferred, say level: full')
