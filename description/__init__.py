"""The dataset description: one YAML file that tells models/ and pipeline/ what
the columns are and how each is treated.

Everything downstream (preprocessing_fn, the Keras model, the EvalConfig, the
pipeline's input pattern) is derived from a `DatasetSpec`, so a user brings
their own CSV plus a description and changes no code. The spec travels to the
Transform and Trainer executors as a plain dict in `custom_config`, which also
records it in ML Metadata with the executions that used it.
"""

import dataclasses
import importlib.util
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

COLUMN_TYPES = ('int', 'float', 'string')
TREATMENTS = ('scale', 'vocabulary', 'bucketize', 'exclude')
CLASS_WEIGHTINGS = ('none', 'inverse_frequency', 'sqrt_inverse_frequency')
# What drift of a column beyond its threshold does: block stops the run before
# Transform, warn only reports it.
DRIFT_ACTIONS = ('block', 'warn')

# Suffix of every transformed feature, as in the TFX templates.
PACKAGE_PREFIX = 'package://'

TRANSFORMED_SUFFIX = '_xf'
MISSING_SUFFIX = '_missing'


class DatasetSpecError(ValueError):
  """A dataset description is malformed; the message names file and field."""


def transformed_name(key: str) -> str:
  return key + TRANSFORMED_SUFFIX


def missing_indicator_name(key: str) -> str:
  return transformed_name(key + MISSING_SUFFIX)


@dataclasses.dataclass(frozen=True)
class Column:
  name: str
  type: str
  treatment: str
  buckets: int = 0
  # block | warn; None means the description's validation.drift_default.
  drift: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ValidationPolicy:
  """How the data gate treats drift (description field `validation`)."""
  drift_default: str = 'block'
  # Comparator thresholds for columns the schema gives none (an inferred
  # schema); a curated schema's own comparators take precedence.
  categorical_linf: float = 0.05
  numeric_jsd: float = 0.05
  # Concept drift: the change of P(label | feature bin) between spans
  # (validation/label_drift.py). A bin counts only when its change is also
  # significant (|z| >= min_z) and both spans have min_bin_rows in it.
  label_drift_action: str = 'block'
  label_drift_threshold: float = 0.05
  label_drift_min_z: float = 4.0
  label_drift_bins: int = 5
  label_drift_min_bin_rows: int = 100
  # Rows read per span for it: a sample bounds the cost on big spans.
  label_drift_max_rows: int = 200_000


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A validated dataset description."""
  name: str
  source: str
  columns: Tuple[Column, ...]
  label: str
  classes: Tuple[str, ...]
  # A label computed from other columns (see parse): (column, factor, times).
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
  training: Dict[str, Any]
  evaluation: Dict[str, Any]
  raw: Dict[str, Any] = dataclasses.field(repr=False, compare=False)
  validation: ValidationPolicy = ValidationPolicy()

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
      raise DatasetSpecError(
          f'{self.source}: no data root given and input.default_root is not set')
    if root.startswith(PACKAGE_PREFIX):
      # Data shipped inside an installed package, e.g. the TFX taxi example.
      package, _, rest = root[len(PACKAGE_PREFIX):].partition('/')
      found = importlib.util.find_spec(package)
      if found is None or not found.submodule_search_locations:
        raise DatasetSpecError(f'{self.source}: package {package!r} is not installed')
      return os.path.join(list(found.submodule_search_locations)[0], rest)
    return root if os.path.isabs(root) else os.path.join(base_dir, root)

  def to_config(self) -> Dict[str, Any]:
    """A JSON-serializable form for custom_config (see from_config)."""
    return {'source': self.source, 'description': self.raw}

  @classmethod
  def from_config(cls, config: Dict[str, Any]) -> 'DatasetSpec':
    return parse(config['description'], source=config.get('source', '<config>'))


# The one execution parameter under which every custom component receives the
# description (recorded in ML Metadata with the execution), and its codec.
EXEC_PROPERTY = 'dataset_description'


def to_exec_property(spec: 'DatasetSpec') -> str:
  return json.dumps(spec.to_config(), sort_keys=True)


def from_exec_property(value: Any) -> 'DatasetSpec':
  """The DatasetSpec a component was given (a JSON string, or the decoded dict)."""
  config = json.loads(value) if isinstance(value, (str, bytes)) else value
  return DatasetSpec.from_config(config)


def load(path: str) -> 'DatasetSpec':
  """Reads and validates a dataset description file."""
  try:
    with open(path) as f:
      raw = yaml.safe_load(f)
  except OSError as e:
    raise DatasetSpecError(f'cannot read dataset description {path}: {e}') from e
  except yaml.YAMLError as e:
    raise DatasetSpecError(f'{path}: not valid YAML: {e}') from e
  return parse(raw, source=path)


def _require(raw: Dict[str, Any], key: str, source: str, where: str = '') -> Any:
  if not isinstance(raw, dict) or key not in raw or raw[key] in (None, ''):
    raise DatasetSpecError(f'{source}: missing required field {where}{key}')
  return raw[key]


def _names_exist(names: Sequence[str], columns: Dict[str, Column], field: str,
                 source: str) -> None:
  unknown = [n for n in names if n not in columns]
  if unknown:
    raise DatasetSpecError(
        f'{source}: {field} names columns not in `columns`: {unknown}')


def parse(raw: Dict[str, Any], source: str = '<dict>') -> DatasetSpec:
  """Validates a description given as a dict; every error names the field."""
  if not isinstance(raw, dict):
    raise DatasetSpecError(f'{source}: a dataset description must be a mapping')
  name = _require(raw, 'name', source)

  raw_columns = _require(raw, 'columns', source)
  if not isinstance(raw_columns, dict):
    raise DatasetSpecError(f'{source}: `columns` must map column name -> spec')
  columns: Dict[str, Column] = {}
  for col_name, col in raw_columns.items():
    where = f'columns.{col_name}.'
    col_type = _require(col, 'type', source, where)
    treatment = _require(col, 'treatment', source, where)
    if col_type not in COLUMN_TYPES:
      raise DatasetSpecError(
          f'{source}: {where}type is {col_type!r}; expected one of {COLUMN_TYPES}')
    if treatment not in TREATMENTS:
      raise DatasetSpecError(
          f'{source}: {where}treatment is {treatment!r}; expected one of {TREATMENTS}')
    if treatment in ('scale', 'bucketize') and col_type == 'string':
      raise DatasetSpecError(
          f'{source}: {where}treatment {treatment} needs a numeric column, '
          f'but the type is string')
    buckets = int(col.get('buckets', 0))
    if treatment == 'bucketize' and buckets < 2:
      raise DatasetSpecError(f'{source}: {where}buckets must be >= 2 to bucketize')
    drift = col.get('drift')
    if drift is not None and drift not in DRIFT_ACTIONS:
      raise DatasetSpecError(
          f'{source}: {where}drift is {drift!r}; expected one of {DRIFT_ACTIONS}')
    columns[col_name] = Column(col_name, col_type, treatment, buckets, drift)

  label_raw = _require(raw, 'label', source)
  label = _require(label_raw, 'column', source, 'label.')
  classes = tuple(str(c) for c in _require(label_raw, 'classes', source, 'label.'))
  label_rule = None
  if label_raw.get('derive'):
    # A binary label computed from numbers, e.g. the taxi example's "tip above
    # 20% of the fare": derive: {column: tips, greater_than: 0.2, times: fare}.
    derive = label_raw['derive']
    rule_column = _require(derive, 'column', source, 'label.derive.')
    times = derive.get('times')
    _names_exist([rule_column] + ([times] if times else []), columns,
                 'label.derive', source)
    for used in [rule_column] + ([times] if times else []):
      if columns[used].type == 'string':
        raise DatasetSpecError(f'{source}: label.derive uses {used!r}, a string column')
    if len(classes) != 2:
      raise DatasetSpecError(
          f'{source}: a derived label is binary: label.classes lists the class '
          f'when the rule is false, then when it is true')
    label_rule = (rule_column, float(derive.get('greater_than', 0.0)), times)
    if columns[rule_column].treatment != 'exclude':
      raise DatasetSpecError(
          f'{source}: {rule_column!r} defines the label, so it must be excluded '
          f'from the model inputs')
  elif label not in columns:
    raise DatasetSpecError(f'{source}: label.column {label!r} is not in `columns`')
  if len(classes) < 2 or len(set(classes)) != len(classes):
    raise DatasetSpecError(
        f'{source}: label.classes must list at least two distinct classes, '
        f'got {list(classes)}')
  rare_class = label_raw.get('rare_class')
  if rare_class is not None and str(rare_class) not in classes:
    raise DatasetSpecError(
        f'{source}: label.rare_class {rare_class!r} is not one of {list(classes)}')
  class_weighting = label_raw.get('class_weighting', 'none')
  if class_weighting not in CLASS_WEIGHTINGS:
    raise DatasetSpecError(
        f'{source}: label.class_weighting {class_weighting!r}; '
        f'expected one of {CLASS_WEIGHTINGS}')

  input_raw = _require(raw, 'input', source)
  pattern = _require(input_raw, 'pattern', source, 'input.')

  protected = tuple(raw.get('protected_attributes') or ())
  tags = tuple(raw.get('tags') or ())
  _names_exist(protected, columns, 'protected_attributes', source)
  _names_exist(tags, columns, 'tags', source)
  used_as_input = [
      n for n in protected if columns[n].treatment != 'exclude'
  ]
  if used_as_input and not raw.get('allow_protected_inputs', False):
    raise DatasetSpecError(
        f'{source}: protected attributes {used_as_input} are model inputs; set '
        f'their treatment to exclude (or allow_protected_inputs: true on purpose)')

  crosses = tuple(
      tuple(c) for c in ((raw.get('slices') or {}).get('crosses') or ()))
  for cross in crosses:
    if len(cross) != 2:
      raise DatasetSpecError(f'{source}: slices.crosses entries are pairs, got {cross}')
    _names_exist(cross, columns, 'slices.crosses', source)

  labelers = raw.get('labelers') or {}
  id_column = raw.get('id_column')
  if id_column is not None:
    _names_exist([id_column], columns, 'id_column', source)
    if columns[id_column].treatment != 'exclude':
      raise DatasetSpecError(f'{source}: id_column {id_column!r} must be excluded')

  splits = {k: int(v) for k, v in (raw.get('splits') or {}).items()
            if k in ('train', 'eval', 'test')}
  splits = splits or {'train': 8, 'eval': 2}
  if 'train' not in splits or 'eval' not in splits or min(splits.values()) <= 0:
    raise DatasetSpecError(
        f'{source}: splits need positive train and eval sizes, got {splits}')

  stratify_below_rows = (raw.get('splits') or {}).get('stratify_below_rows', 10000)
  if isinstance(stratify_below_rows, bool) or not isinstance(
      stratify_below_rows, int) or stratify_below_rows < 0:
    raise DatasetSpecError(
        f'{source}: splits.stratify_below_rows must be a whole number >= 0, '
        f'got {stratify_below_rows!r}')

  spec = DatasetSpec(
      name=str(name),
      source=source,
      columns=tuple(columns.values()),
      label=label,
      classes=classes,
      label_rule=label_rule,
      rare_class=None if rare_class is None else str(rare_class),
      class_weighting=class_weighting,
      input_pattern=pattern,
      default_root=input_raw.get('default_root'),
      id_column=id_column,
      protected_attributes=protected,
      tags=tags,
      slice_crosses=crosses,
      labeler_pattern=labelers.get('pattern'),
      labeler_columns=tuple(labelers.get('columns') or ()),
      splits=splits,
      stratify_below_rows=stratify_below_rows,
      training=dict(raw.get('training') or {}),
      evaluation=dict(raw.get('evaluation') or {}),
      raw=raw,
      validation=_parse_validation(raw.get('validation'), source),
  )
  if not spec.features():
    raise DatasetSpecError(f'{source}: no model inputs: every column is excluded')
  from description import monitoring  # pylint: disable=g-import-not-at-top
  monitoring.of(spec)  # A bad `monitoring:` section fails at load, like any other field.
  return spec


_VALIDATION_FIELDS = ('drift_default', 'default_thresholds', 'label_drift')
_THRESHOLD_FIELDS = ('categorical_linf', 'numeric_jsd')
_LABEL_DRIFT_FIELDS = {
    'action': 'label_drift_action', 'threshold': 'label_drift_threshold',
    'min_z': 'label_drift_min_z', 'bins': 'label_drift_bins',
    'min_bin_rows': 'label_drift_min_bin_rows', 'max_rows': 'label_drift_max_rows'}


def _unknown_fields(raw: Dict[str, Any], known, where: str, source: str) -> None:
  unknown = sorted(set(raw) - set(known))
  if unknown:
    raise DatasetSpecError(
        f'{source}: unknown field(s) {where}{unknown}; expected some of {sorted(known)}')


def _number(value: Any, where: str, source: str, low: float, high: float,
            integer: bool = False) -> float:
  ok = not isinstance(value, bool) and isinstance(value, (int, float))
  if integer:
    ok = ok and float(value).is_integer()
  if not ok or not low <= value <= high:
    kind = 'a whole number' if integer else 'a number'
    raise DatasetSpecError(
        f'{source}: {where} must be {kind} in [{low}, {high}], got {value!r}')
  return int(value) if integer else float(value)


def _parse_validation(raw: Any, source: str) -> ValidationPolicy:
  """The optional `validation` section; every field is checked and named."""
  if raw is None:
    return ValidationPolicy()
  if not isinstance(raw, dict):
    raise DatasetSpecError(f'{source}: `validation` must be a mapping')
  _unknown_fields(raw, _VALIDATION_FIELDS, 'validation.', source)
  values: Dict[str, Any] = {}
  if 'drift_default' in raw:
    if raw['drift_default'] not in DRIFT_ACTIONS:
      raise DatasetSpecError(
          f'{source}: validation.drift_default is {raw["drift_default"]!r}; '
          f'expected one of {DRIFT_ACTIONS}')
    values['drift_default'] = raw['drift_default']
  thresholds = raw.get('default_thresholds') or {}
  if not isinstance(thresholds, dict):
    raise DatasetSpecError(f'{source}: validation.default_thresholds must be a mapping')
  _unknown_fields(thresholds, _THRESHOLD_FIELDS, 'validation.default_thresholds.', source)
  for key in _THRESHOLD_FIELDS:
    if key in thresholds:
      values[key] = _number(thresholds[key], f'validation.default_thresholds.{key}',
                            source, 0.0, 1.0)
  label = raw.get('label_drift') or {}
  if not isinstance(label, dict):
    raise DatasetSpecError(f'{source}: validation.label_drift must be a mapping')
  _unknown_fields(label, _LABEL_DRIFT_FIELDS, 'validation.label_drift.', source)
  where = 'validation.label_drift.'
  if 'action' in label:
    if label['action'] not in DRIFT_ACTIONS:
      raise DatasetSpecError(
          f'{source}: {where}action is {label["action"]!r}; expected one of {DRIFT_ACTIONS}')
    values['label_drift_action'] = label['action']
  limits = {'threshold': (0.0, 1.0, False), 'min_z': (0.0, 100.0, False),
            'bins': (2, 100, True), 'min_bin_rows': (1, 10**9, True),
            'max_rows': (1, 10**12, True)}
  for key, (low, high, integer) in limits.items():
    if key in label:
      values[_LABEL_DRIFT_FIELDS[key]] = _number(label[key], where + key, source,
                                                low, high, integer)
  return ValidationPolicy(**values)
