"""The `training` section: the Trainer's hyperparameters, typed and checked."""

import dataclasses
from typing import Any, Tuple

from description import fields


@dataclasses.dataclass(frozen=True)
class Training:
  """Hyperparameters of models/model.py; a field the description omits keeps
  its default here."""
  epochs: int = 20
  batch_size: int = 256
  hidden_units: Tuple[int, ...] = (64, 32)
  learning_rate: float = 0.002
  # Epochs without a better validation loss before training stops.
  early_stopping_patience: int = 3
  dropout: float = 0.1
  seed: int = 42


# (low, high, whole number) of each scalar field.
_LIMITS = {
    'epochs': (1, 100_000, True),
    'batch_size': (1, 10**7, True),
    'learning_rate': (1e-9, 10.0, False),
    'early_stopping_patience': (0, 100_000, True),
    # Keras' Dropout needs a rate below 1.
    'dropout': (0.0, 0.99, False),
    'seed': (0, 2**31 - 1, True),
}


def _hidden_units(value: Any, source: str) -> Tuple[int, ...]:
  where = 'training.hidden_units'
  if not isinstance(value, (list, tuple)):
    raise fields.DatasetSpecError(
        f'{source}: {where} must be a list of layer widths, got {value!r}')
  return tuple(fields.number(units, f'{where}[{i}]', source, 1, 100_000, integer=True)
               for i, units in enumerate(value))


def parse_training(raw: Any, source: str) -> Training:
  section = fields.mapping(raw, 'training', source)
  known = [f.name for f in dataclasses.fields(Training)]
  fields.unknown_fields(section, known, 'training.', source)
  values = {key: fields.number(section[key], f'training.{key}', source, *limits)
            for key, limits in _LIMITS.items() if key in section}
  if 'hidden_units' in section:
    values['hidden_units'] = _hidden_units(section['hidden_units'], source)
  return Training(**values)
