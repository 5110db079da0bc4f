"""The frames the human-level performance report is built from.

The labelers file (one row per labeled example, one column per labeler) read
and checked, joined to the examples by id; the ground truth and slice values
prepared the same way for both frames. Every error (HlpDataError) names the
file, the column and the offending values.
"""

import math
import os
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

TRUTH = '__truth__'  # ground-truth label column added to the frames
PREDICTION = '__prediction__'
MISSING_VALUE = '(missing)'  # slice value of rows where the slice column is empty
CROSS_SEPARATOR = ' x '


class HlpDataError(ValueError):
  """The labelers file or the examples cannot be joined or analysed; says why."""


def cross_name(columns: Sequence[str]) -> str:
  return CROSS_SEPARATOR.join(columns)


def slice_columns(spec) -> List[str]:
  """Protected attributes, tags, then the declared crosses (as derived columns)."""
  return list(spec.slice_columns) + [cross_name(c) for c in spec.slice_crosses]


def ground_truth(frame: pd.DataFrame, spec) -> pd.Series:
  """The label as a class name (str), also for labels derived by a rule."""
  if spec.label_rule:
    column, factor, times = spec.label_rule
    value = pd.to_numeric(frame[column], errors='coerce')
    bound = factor * (pd.to_numeric(frame[times], errors='coerce') if times else 1.0)
    truth = pd.Series(np.where(value > bound, spec.classes[1], spec.classes[0]),
                      index=frame.index, dtype=object)
    return truth.where(value.notna() & (bound.notna() if times else True))
  values = frame[spec.label]
  return values.astype(object).where(values.isna(), values.astype(str))


def prepare_frame(frame: pd.DataFrame, spec) -> pd.DataFrame:
  """Adds TRUTH and the cross columns; slice values become strings.

  Strings throughout because slice values are compared across frames (the
  labeled sample and the eval split) and written to JSON; an empty slice
  value gets its own slice, MISSING_VALUE, rather than vanishing.
  """
  frame = frame.copy()
  missing = [c for c in list(spec.slice_columns) + [c for cross in spec.slice_crosses
                                                     for c in cross]
             if c not in frame.columns]
  if missing:
    raise HlpDataError(f'the examples lack slice column(s) {sorted(set(missing))} '
                       f'named in the dataset description {spec.source}')
  for column in spec.slice_columns:
    frame[column] = _as_slice_values(frame[column])
  for cross in spec.slice_crosses:
    parts = [_as_slice_values(frame[c]) for c in cross]
    frame[cross_name(cross)] = parts[0].str.cat(parts[1:], sep=CROSS_SEPARATOR)
  frame[TRUTH] = ground_truth(frame, spec)
  return frame


def _as_slice_values(values: pd.Series) -> pd.Series:
  def text(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
      return MISSING_VALUE
    if isinstance(v, bytes):
      return v.decode('utf-8', 'replace')
    if isinstance(v, float) and v.is_integer():
      return str(int(v))  # an int column read as float because of a gap
    return str(v)
  return pd.Series([text(v) for v in values.tolist()], index=values.index, dtype=object)


def read_labelers_file(path: str, spec, span: Optional[int], exists=os.path.exists,
                       open_fn=open) -> pd.DataFrame:
  """The labelers CSV: the id column and one column per labeler, as strings.

  exists/open_fn: tf.io.gfile's in the component, so the file may be remote.
  """
  where = f'{path} (span {span})' if span is not None else path
  if not exists(path):
    raise HlpDataError(
        f'labelers file not found: {where}. The dataset description '
        f'{spec.source} declares labelers.pattern {spec.labeler_pattern!r} under '
        f'the data root; the examples of span {span} have no labels there.')
  try:
    with open_fn(path) as f:
      labels = pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[''])
  except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
    raise HlpDataError(f'cannot read labelers file {where}: {e}') from e
  needed = [spec.id_column] + list(spec.labeler_columns)
  absent = [c for c in needed if c not in labels.columns]
  if absent:
    raise HlpDataError(
        f'labelers file {where} lacks column(s) {absent} (it has '
        f'{list(labels.columns)}; the description expects {needed})')
  labels = labels[needed]
  if labels[spec.id_column].isna().any():
    raise HlpDataError(f'labelers file {where}: {int(labels[spec.id_column].isna().sum())} '
                       f'row(s) have an empty {spec.id_column}')
  duplicated = labels[spec.id_column][labels[spec.id_column].duplicated()]
  if len(duplicated):
    raise HlpDataError(
        f'labelers file {where}: {len(duplicated)} duplicated {spec.id_column} '
        f'value(s), e.g. {duplicated.head(5).tolist()}; one row per example, one '
        f'column per labeler')
  known = set(spec.classes)
  for column in spec.labeler_columns:
    unknown = sorted(set(labels[column].dropna()) - known)
    if unknown:
      raise HlpDataError(
          f'labelers file {where}: column {column!r} holds label(s) {unknown[:10]} '
          f'that are not classes of the description {list(spec.classes)}')
  return labels


def join_labels(examples: pd.DataFrame, labels: pd.DataFrame, spec, where: str,
                max_unjoined_fraction: float = 0.0) -> pd.DataFrame:
  """The labeled examples: example columns plus the labelers' columns.

  Every id of the labelers file must be an example of the span, or the file
  belongs to another span or dataset; up to `max_unjoined_fraction` of
  unmatched ids are tolerated (and counted in the report).
  """
  id_column = spec.id_column
  example_ids = examples[id_column].astype(str)
  if example_ids.duplicated().any():
    dup = example_ids[example_ids.duplicated()].head(5).tolist()
    raise HlpDataError(f'the examples hold duplicated {id_column} values, e.g. {dup}: '
                       f'labels cannot be joined to them unambiguously')
  matched = labels[id_column].isin(set(example_ids))
  unmatched = labels.loc[~matched, id_column]
  if len(labels) and (len(unmatched) / len(labels) > max_unjoined_fraction or
                      len(unmatched) == len(labels)):
    raise HlpDataError(
        f'{len(unmatched)} of {len(labels)} {id_column} value(s) in the labelers file '
        f'{where} match no example of the span, e.g. {unmatched.head(5).tolist()} '
        f'(examples have ids like {example_ids.head(3).tolist()}). Is it the labelers '
        f'file of another span?')
  joined = examples.assign(**{id_column: example_ids}).merge(
      labels[matched], on=id_column, how='inner', validate='one_to_one')
  joined.attrs['unjoined_ids'] = int(len(unmatched))
  return joined
