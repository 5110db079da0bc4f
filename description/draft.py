"""A first dataset description drafted from the data itself.

Writing the description column by column is the slowest step of the first
hour with a new CSV. `draft()` reads a sample of the rows and proposes every
field; each guess is written as a YAML comment beside it, so the user reads
why and changes what is wrong. The result validates (description.parse) and
runs as it is.

Heuristics, in the order they apply to a column:
  the --label column            -> excluded (the label); classes by count
  one value (or none)           -> excluded: constant, nothing to learn
  personal data, by header or by value (names, e-mails, phones, birth
  dates, addresses)             -> excluded until reviewed
  protected attribute by header -> excluded, proposed for fairness slices
  dates                         -> excluded (derive parts if they matter)
  near-unique strings or ints   -> excluded as probable ids; a unique one is
                                   proposed as id_column
  strings                       -> vocabulary (mostly distinct ones: excluded)
  ints: few values spread apart -> vocabulary (codes such as 12/24/36)
        wide range              -> bucketize (quantiles, no linearity assumed)
  other numbers                 -> scale
"""

import dataclasses
import glob
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
import yaml

import description
from description import draft_yaml
from description import spans

DEFAULT_SAMPLE_ROWS = 100_000
SPAN_PATTERN = 'span-{SPAN}/*.csv'
# A label with more distinct values than this is not a class label.
MAX_CLASSES = 20
MIN_CLASS_ROWS = draft_yaml.MIN_CLASS_ROWS
NEAR_UNIQUE = 0.9
# Ints with at most this many values, covering under half their range: codes.
MAX_CODES = 20
WIDE_INT_VALUES = 100
BUCKETS = 10
# Strings with more distinct values than this share of rows (and than
# MIN_FREE_TEXT values) look like free text, not categories.
FREE_TEXT_SHARE = 0.5
MIN_FREE_TEXT = 100
# A value pattern marks a column when at least this share of its values match.
PATTERN_SHARE = 0.8
MAX_PROTECTED_VALUES = 20

_PII_HEADERS = {
    'name': 'names', 'firstname': 'names', 'lastname': 'names', 'surname': 'names',
    'fullname': 'names', 'email': 'e-mail addresses', 'emailaddress': 'e-mail addresses',
    'phone': 'phone numbers', 'telephone': 'phone numbers', 'tel': 'phone numbers',
    'phonenumber': 'phone numbers', 'mobilenumber': 'phone numbers',
    'dob': 'dates of birth', 'birth': 'dates of birth', 'birthday': 'dates of birth',
    'birthdate': 'dates of birth',
    'address': 'addresses', 'street': 'addresses', 'ssn': 'national ids',
    'passport': 'national ids', 'ip': 'IP addresses'}
_PROTECTED_HEADERS = {'gender', 'sex', 'ethnicity', 'race', 'religion', 'age',
                      'nationality', 'disability', 'marital'}
_PII_VALUES = (
    ('e-mail addresses', re.compile(r'^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$')),
    ('phone numbers', re.compile(r'^\+?\(?\d[\d\s().-]{6,}\d$')),
    ('names', re.compile(r"^[A-Z][a-z'-]+( [A-Z]\.?)?( [A-Z][a-z'-]+)+$")),
)
_DATE = re.compile(r'^(\d{4})-(\d{1,2})-(\d{1,2})([ T].*)?$|^(\d{1,2})/(\d{1,2})/(\d{4})$')
_INT = re.compile(r'^[+-]?\d+$')


class DraftError(ValueError):
  """The data cannot be drafted from; the message names the file and column."""


@dataclasses.dataclass(frozen=True)
class Sample:
  """Rows read as text (empty string = missing) and where they came from."""
  frame: pd.DataFrame
  total_rows: int
  files: Tuple[str, ...]
  data_root: str
  pattern: str


@dataclasses.dataclass(frozen=True)
class ColumnDraft:
  name: str
  type: str
  treatment: str
  buckets: int = 0
  notes: Tuple[str, ...] = ()
  # input | label | id | constant | personal | protected | excluded
  role: str = 'input'


@dataclasses.dataclass(frozen=True)
class Draft:
  text: str  # the commented YAML
  spec: description.DatasetSpec
  columns: Tuple[ColumnDraft, ...]


# --- reading --------------------------------------------------------------
def locate(path: str) -> Tuple[str, str, List[str]]:
  """(data root, input pattern, files to sample) for a CSV or a directory."""
  path = os.path.abspath(path)
  if os.path.isfile(path):
    return os.path.dirname(path), os.path.basename(path), [path]
  if not os.path.isdir(path):
    raise DraftError(f'{path}: no such file or directory')
  found = spans.spans(path, SPAN_PATTERN)
  if found:
    return path, SPAN_PATTERN, found[max(found)]
  files = sorted(glob.glob(os.path.join(path, '*.csv')))
  if not files:
    raise DraftError(f'{path}: no span-<N>/*.csv and no *.csv inside')
  return path, '*.csv', files


def _header(path: str) -> List[str]:
  import csv  # pylint: disable=g-import-not-at-top
  with open(path, newline='') as f:
    header = next(csv.reader(f), None)
  if not header:
    raise DraftError(f'{path}: empty file, no header line')
  blank = [i + 1 for i, n in enumerate(header) if not n.strip()]
  repeated = sorted({n for n in header if header.count(n) > 1})
  if blank or repeated:
    raise DraftError(f'{path}: header line: unnamed column(s) at position(s) {blank}, '
                     f'repeated name(s) {repeated}')
  return header


def read_sample(path: str, sample_rows: int = DEFAULT_SAMPLE_ROWS,
                seed: int = 0) -> Sample:
  """About `sample_rows` rows drawn uniformly from the data, all as text."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  from pyarrow import csv as pa_csv  # pylint: disable=g-import-not-at-top
  data_root, pattern, files = locate(path)
  header = _header(files[0])
  total = spans.count_rows(files)
  if total == 0:
    raise DraftError(f'{", ".join(files)}: no data rows under the header')
  keep = min(1.0, sample_rows / total)
  rng = np.random.default_rng(seed)
  parts = []
  convert = pa_csv.ConvertOptions(
      column_types={n: pa.string() for n in header}, strings_can_be_null=False,
      quoted_strings_can_be_null=False)
  for file in files:
    if _header(file) != header:
      raise DraftError(f'{file}: its header differs from {files[0]}\'s')
    try:
      reader = pa_csv.open_csv(file, convert_options=convert)
      for batch in reader:
        frame = batch.to_pandas()
        parts.append(frame if keep >= 1.0 else frame[rng.random(len(frame)) < keep])
    except pa.ArrowInvalid as e:
      raise DraftError(f'{file}: not readable as CSV: {e}') from e
  frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=header)
  return Sample(frame[header], total, tuple(files), data_root, pattern)


# --- one column -----------------------------------------------------------
def _tokens(header: str) -> List[str]:
  spaced = re.sub(r'([a-z])([A-Z])', r'\1 \2', header)
  return [t for t in re.split(r'[^a-z0-9]+', spaced.lower()) if t]


def value_counts(values: pd.Series) -> pd.Series:
  """Distinct present values (stripped) -> rows holding them.

  Every check below runs once per distinct value, weighted by its rows, not
  once per row: a 100,000-row sample of a category column is a few values.
  """
  counts = values.value_counts(sort=False)
  counts.index = counts.index.str.strip()
  counts = counts.groupby(level=0).sum()
  return counts[counts.index != '']


def _share(counts: pd.Series, regex: 're.Pattern') -> float:
  """The share of rows whose value matches."""
  if not len(counts):
    return 0.0
  return float(counts[counts.index.str.match(regex)].sum() / counts.sum())


def personal_data(name: str, counts: Optional[pd.Series]) -> Optional[str]:
  """What personal data the column seems to hold (by header, then text values)."""
  tokens = _tokens(name)
  joined = ''.join(tokens)
  # Other *_name columns (company_name) are judged by their values.
  for key in [joined] + [t for t in tokens if t != 'name']:
    if key in _PII_HEADERS:
      return f'{_PII_HEADERS[key]} (by its header)'
  if {'first', 'last', 'full', 'given', 'family'} & set(tokens) and 'name' in tokens:
    return 'names (by its header)'
  if counts is None or len(counts) < max(2, 0.2 * counts.sum()):
    return None  # A category, not one value per person.
  if _share(counts, _DATE) >= PATTERN_SHARE:
    return None  # Dates look like phone numbers; birth dates are judged later.
  for kind, regex in _PII_VALUES:
    if _share(counts, regex) >= PATTERN_SHARE:
      return f'{kind} (by its values)'
  return None


def _date_years(counts: pd.Series) -> Optional[Tuple[int, int]]:
  if _share(counts, _DATE) < PATTERN_SHARE:
    return None
  found = counts.index.to_series().str.extract(_DATE)
  years = pd.to_numeric(found[0].fillna(found[6]), errors='coerce').dropna()
  return (int(years.min()), int(years.max())) if len(years) else None


def _numbers(counts: pd.Series) -> np.ndarray:
  return pd.to_numeric(counts.index.to_series(), errors='coerce').to_numpy(dtype=float)


def _numeric_type(counts: pd.Series) -> Tuple[Optional[str], List[str]]:
  """int | float | None, and (some of) the values that are not finite numbers."""
  bad = counts.index[~np.isfinite(_numbers(counts))]
  if len(bad):
    return None, list(bad[:3])
  return ('int' if counts.index.str.match(_INT).all() else 'float'), []


def draft_column(name: str, values: pd.Series, label: str) -> ColumnDraft:
  present = value_counts(values)
  rows, count, distinct = len(values), int(present.sum()), len(present)
  notes = []
  if count < rows:
    notes.append(f'{rows - count} of {rows} missing' if rows - count < rows / 100
                 else f'{(rows - count) / rows:.0%} missing')
  col_type, not_numbers = _numeric_type(present) if count else (None, [])
  if col_type is None:
    col_type = 'string'
    if not_numbers and len(not_numbers) < 3 and (
        present[np.isfinite(_numbers(present))].sum() > 0.95 * count):
      notes.append(f'mostly numbers, but not {not_numbers}: if those mean "missing", '
                   f'empty the cells and make it float')

  def excluded(role, why):
    return ColumnDraft(name, col_type, 'exclude', 0, tuple([why] + notes), role)

  if name == label:
    return excluded('label', 'the label')
  if distinct <= 1:
    return excluded('constant', 'constant in the sample: nothing to learn')
  pii = personal_data(name, present if col_type == 'string' else None)
  if pii:
    return excluded('personal', f'REVIEW: looks like personal data, {pii}; '
                    f'excluded from the model until you decide')
  if set(_tokens(name)) & _PROTECTED_HEADERS:
    if distinct <= MAX_PROTECTED_VALUES:
      return excluded('protected', 'protected attribute (by its header): a fairness '
                      'slice, not a model input')
    return excluded('excluded', f'protected attribute (by its header) with {distinct} '
                    f'values: bucket it into bands to slice by it')
  if col_type == 'string':
    years = _date_years(present)
    if years:
      why = (f'dates ({years[0]}-{years[1]}); REVIEW: may be dates of birth'
             if years[1] < 2015 and years[0] > 1900 and years[1] - years[0] > 15
             else f'dates ({years[0]}-{years[1]})')
      return excluded('personal' if 'birth' in why else 'excluded',
                      why + '; derive month/weekday columns if they matter')
  if col_type in ('string', 'int') and count >= 20 and distinct >= NEAR_UNIQUE * count:
    unique = distinct == count == rows
    return excluded('id' if unique else 'excluded',
                    f'{distinct} distinct values in {count} rows: probably an id'
                    + (' (proposed as id_column)' if unique else ''))
  if col_type == 'string':
    if distinct > MIN_FREE_TEXT and distinct > FREE_TEXT_SHARE * count:
      return excluded('excluded', f'{distinct} distinct values in {count} rows: free '
                      f'text or ids, not categories')
    return ColumnDraft(name, col_type, 'vocabulary', 0,
                       tuple([f'{distinct} categories'] + notes))
  if col_type == 'int':
    ints = pd.to_numeric(present.index.to_series()).astype('int64')
    span = int(ints.max() - ints.min()) + 1
    if distinct <= MAX_CODES and distinct * 2 < span:
      return ColumnDraft(name, col_type, 'vocabulary', 0, tuple(
          [f'{distinct} values spread over {ints.min()}..{ints.max()}: codes, not '
           f'amounts'] + notes))
    if distinct >= WIDE_INT_VALUES:
      return ColumnDraft(name, col_type, 'bucketize', BUCKETS, tuple(
          [f'{distinct} values over {ints.min()}..{ints.max()}: quantile buckets, '
           f'no linear effect assumed'] + notes))
  return ColumnDraft(name, col_type, 'scale', 0, tuple(notes))


# --- the label --------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LabelDraft:  # pylint: disable=too-many-instance-attributes
  column: str
  type: str
  classes: Tuple[str, ...]  # most frequent first
  counts: Dict[str, int]
  missing: int
  rare_class: Optional[str]
  class_weighting: str


def draft_label(sample: Sample, column: str) -> LabelDraft:
  where = f'{sample.files[0]}: label column {column!r}'
  if column not in sample.frame.columns:
    raise DraftError(f'{where} is not in the header; columns: {list(sample.frame.columns)}')
  counts = value_counts(sample.frame[column])
  labeled = int(counts.sum())
  col_type, _ = _numeric_type(counts)
  if col_type == 'float':
    raise DraftError(
        f'{where} holds numbers with fractions (e.g. {counts.index[0]!r}): this pipeline '
        f'classifies. Pick a column of classes, or derive a binary label from a number '
        f'(label.derive, see data/descriptions/taxi.yaml)')
  if len(counts) > MAX_CLASSES or len(counts) < 2:
    raise DraftError(
        f'{where} has {len(counts)} distinct value(s) in {labeled} rows; a class '
        f'label needs 2..{MAX_CLASSES}')
  ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
  classes = tuple(str(k) for k, _ in ordered)
  learnable = [(k, n) for k, n in ordered if n >= MIN_CLASS_ROWS] or ordered
  smallest, largest = learnable[-1][1], learnable[0][1]
  rare = (str(learnable[-1][0]) if smallest / labeled < 1 / (2 * len(classes))
          else None)
  weighting = 'sqrt_inverse_frequency' if largest > 3 * smallest else 'none'
  return LabelDraft(column, col_type or 'string', classes,
                    {str(k): int(v) for k, v in ordered}, len(sample.frame) - labeled,
                    rare, weighting)


def draft(sample: Sample, label: str, name: Optional[str] = None,
          command: str = 'description.draft') -> Draft:
  """The description of `sample` with `label` as the label; validated."""
  label_draft = draft_label(sample, label)
  columns = tuple(draft_column(c, sample.frame[c], label) for c in sample.frame.columns)
  columns = tuple(dataclasses.replace(c, type=label_draft.type) if c.role == 'label'
                  else c for c in columns)
  # Only one id_column: further unique columns are excluded all the same.
  ids = [i for i, c in enumerate(columns) if c.role == 'id']
  columns = tuple(dataclasses.replace(c, role='excluded') if i in ids[1:] else c
                  for i, c in enumerate(columns))
  text = draft_yaml.render(sample, columns, label_draft, name or draft_yaml.dataset_name(
      sample.files[0] if sample.pattern != SPAN_PATTERN else sample.data_root), command)
  try:
    spec = description.parse(yaml.safe_load(text), source='<drafted description>')
  except description.DatasetSpecError as e:
    raise DraftError(f'{sample.files[0]}: the drafted description is not usable: {e}. '
                     f'Columns: ' + '; '.join(f'{c.name}: {c.treatment} ({", ".join(c.notes)})'
                                             for c in columns)) from e
  return Draft(text, spec, columns)


def draft_path(path: str, label: str, sample_rows: int = DEFAULT_SAMPLE_ROWS,
               name: Optional[str] = None, command: str = 'description.draft') -> Draft:
  return draft(read_sample(path, sample_rows), label, name, command)
