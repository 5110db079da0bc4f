"""DatasetSpec: a validated dataset description and the views derived from it.

`parse` checks a description section by section (one module per section) and
assembles the spec; `load` reads it from a YAML file.
"""

import dataclasses
import importlib.util
import os
from typing import Any, Dict, List, Optional, Tuple

import yaml

from description import fields
from description.automation import Automation
from description.automation import parse_automation
from description.columns import Column
from description.columns import parse_columns
from description.columns import transformed_name
from description.evaluation import Evaluation
from description.evaluation import parse_evaluation
from description.label import parse_label
from description.pii import PII
from description.pii import parse_pii
from description.policy import ValidationPolicy
from description.policy import parse_validation
from description.roles import parse_roles
from description.rollout_policy import RolloutPolicy
from description.rollout_policy import parse_rollout
from description.splits import parse_splits
from description.training import Training
from description.training import parse_training
from description import monitoring
from description import scoring

PACKAGE_PREFIX = 'package://'


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A validated dataset description."""
  name: str
  source: str
  columns: Tuple[Column, ...]
  label: str
  classes: Tuple[str, ...]
  # A label computed from other columns (description/label.py): (column, factor, times).
  label_rule: Optional[Tuple[str, float, Optional[str]]]
  rare_class: Optional[str]
  class_weighting: str
  input_pattern: str
  default_root: Optional[str]
  id_column: Optional[str]
  protected_attributes: Tuple[str, ...]
  tags: Tuple[str, ...]
  slice_crosses: Tuple[Tuple[str, str], ...]
  labeler_pattern: Optional[str]
  labeler_columns: Tuple[str, ...]
  splits: Dict[str, int]
  stratify_below_rows: int
  training: Training
  evaluation: Evaluation
  raw: Dict[str, Any] = dataclasses.field(repr=False, compare=False)
  validation: ValidationPolicy = ValidationPolicy()
  # Personal data: never a model input, dropped or hashed on read (pii.py).
  pii: PII = PII()
  # Whether a canary pauses for a human sign-off (rollout_policy.py).
  rollout: RolloutPolicy = RolloutPolicy()
  # None: the description has no `automation` section (description/automation.py).
  automation: Optional[Automation] = None

  # --- what the model sees -------------------------------------------------
  def column(self, name: str) -> Column:
    for c in self.columns:
      if c.name == name:
        return c
    raise KeyError(name)

  def features(self, treatment: Optional[str] = None) -> List[Column]:
    """Model input columns (not excluded, not the label), optionally by treatment."""
    return [
        c for c in self.columns
        if c.treatment != 'exclude' and c.name != self.label and
        (treatment is None or c.treatment == treatment)
    ]

  @property
  def feature_names(self) -> List[str]:
    return [c.name for c in self.features()]

  @property
  def label_only_columns(self) -> List[str]:
    """Raw columns known only once the outcome is: absent at serving time."""
    return [self.label_rule[0]] if self.label_rule else [self.label]

  @property
  def transformed_label(self) -> str:
    return transformed_name(self.label)

  @property
  def num_classes(self) -> int:
    return len(self.classes)

  @property
  def rare_class_id(self) -> Optional[int]:
    return None if self.rare_class is None else self.classes.index(self.rare_class)

  def drift_action(self, column: str) -> str:
    """block | warn for drift of `column` (the default for unknown names)."""
    for c in self.columns:
      if c.name == column and c.drift:
        return c.drift
    return self.validation.drift_default

  @property
  def slice_columns(self) -> List[str]:
    return list(self.protected_attributes) + list(self.tags)

  def resolve_root(self, data_root: Optional[str], base_dir: str) -> str:
    """The data root: an explicit one, else the description's default."""
    root = data_root or self.default_root
    if not root:
      raise fields.DatasetSpecError(
          f'{self.source}: no data root given and input.default_root is not set')
    if root.startswith(PACKAGE_PREFIX):
      # Data shipped inside an installed package, e.g. the TFX taxi example.
      package, _, rest = root[len(PACKAGE_PREFIX):].partition('/')
      found = importlib.util.find_spec(package)
      if found is None or not found.submodule_search_locations:
        raise fields.DatasetSpecError(f'{self.source}: package {package!r} is not installed')
      return os.path.join(list(found.submodule_search_locations)[0], rest)
    return root if os.path.isabs(root) else os.path.join(base_dir, root)

  def to_config(self) -> Dict[str, Any]:
    """A JSON-serializable form for custom_config (see from_config)."""
    return {'source': self.source, 'description': self.raw}

  @classmethod
  def from_config(cls, config: Dict[str, Any]) -> 'DatasetSpec':
    return parse(config['description'], source=config.get('source', '<config>'))


def _roles_of(label, roles) -> Dict[str, str]:
  """column -> the role that must keep it readable (so never personal data)."""
  named = {n: 'protected attribute' for n in roles.protected_attributes}
  named.update({n: 'tag' for n in roles.tags})
  named[label.column] = 'label'
  if label.rule:
    named[label.rule[0]] = 'column the label is derived from'
  if roles.id_column:
    named[roles.id_column] = 'id_column'
  return named


def parse(raw: Dict[str, Any], source: str = '<dict>') -> DatasetSpec:
  """Validates a description given as a dict; every error names the field."""
  if not isinstance(raw, dict):
    raise fields.DatasetSpecError(f'{source}: a dataset description must be a mapping')
  name = fields.require(raw, 'name', source)
  columns = parse_columns(raw, source)
  label = parse_label(raw, columns, source)
  input_raw = fields.require(raw, 'input', source)
  pattern = fields.require(input_raw, 'pattern', source, 'input.')
  roles = parse_roles(raw, columns, source)
  splits, stratify_below_rows = parse_splits(raw, source)
  spec = DatasetSpec(
      name=str(name),
      source=source,
      columns=tuple(columns.values()),
      label=label.column,
      classes=label.classes,
      label_rule=label.rule,
      rare_class=label.rare_class,
      class_weighting=label.class_weighting,
      input_pattern=pattern,
      default_root=input_raw.get('default_root'),
      **dataclasses.asdict(roles),
      splits=splits,
      stratify_below_rows=stratify_below_rows,
      training=parse_training(raw.get('training'), source),
      evaluation=parse_evaluation(raw.get('evaluation'), source),
      raw=raw,
      validation=parse_validation(raw.get('validation'), source),
      pii=parse_pii(raw.get('pii'), columns, _roles_of(label, roles), source),
      rollout=parse_rollout(raw.get('rollout'), source),
      automation=parse_automation(raw.get('automation'), source, label.rare_class),
  )
  if not spec.features():
    raise fields.DatasetSpecError(f'{source}: no model inputs: every column is excluded')
  # Optional sections are parsed by their own modules; a bad one fails at load.
  monitoring.of(spec)
  scoring.of(spec)
  return spec


def load(path: str) -> DatasetSpec:
  """Reads and validates a dataset description file."""
  try:
    with open(path) as f:
      raw = yaml.safe_load(f)
  except OSError as e:
    raise fields.DatasetSpecError(f'cannot read dataset description {path}: {e}') from e
  except yaml.YAMLError as e:
    raise fields.DatasetSpecError(f'{path}: not valid YAML: {e}') from e
  return parse(raw, source=path)
