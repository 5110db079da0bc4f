"""The human-level performance report: tables, rendering, and the CLI.

Pure pandas on top of analysis/ (no TensorFlow, no TFX), so the CLI starts
in a couple of seconds and the report can be rebuilt from DataFrames in
tests. The TFX component (components/human_level/component.py) reads the
examples, the labelers file and the models' predictions, then calls
build_report() and write_report().

Where the numbers come from:
  * HLP and agreement: every labeled example of the span, whatever its split.
    A labeler's accuracy does not depend on which split a row landed in, and
    the labeled sample is small (5% of rows by default), so using all of it
    gives tighter per-slice estimates.
  * The model's metric (accuracy), each slice's share of the data, error
    analysis and baselines: the evaluation split only (the Evaluator's; the
    Trainer fits on train and only early-stops on eval; pass
    example_split='test' to the component for a split no step has seen).
  * Slices with fewer than `min_slice_examples` labeled examples, or as few
    evaluation examples, are not ranked: their HLP or model accuracy is too
    noisy to set a target (they are listed with the reason instead).

CLI (prints the tables of the latest HumanLevelPerformance artifact):
  python -m analysis.hlp_report --mlmd work/credit_risk/metadata.sqlite
  python -m analysis.hlp_report --artifact-dir <uri> [--table what_to_work_on]
"""

import argparse
import dataclasses
import datetime
import html
import json
import math
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis import agreement
from analysis import baselines
from analysis import error_analysis
from analysis import human_level
from analysis import report_tables

ARTIFACT_TYPE = 'HumanLevelPerformance'
REPORT_JSON = 'hlp_report.json'
REPORT_HTML = 'hlp_report.html'
FORMAT_VERSION = 1

TRUTH = '__truth__'  # ground-truth label column added to the frames
PREDICTION = '__prediction__'
MISSING_VALUE = '(missing)'  # slice value of rows where the slice column is empty
CROSS_SEPARATOR = ' x '
DEFAULT_MIN_SLICE_EXAMPLES = 30
MAX_DISAGREEMENTS_STORED = 500
HUMAN_SYSTEM = 'human labelers (pooled)'


class HlpDataError(ValueError):
  """The labelers file or the examples cannot be joined or analysed; says why."""


# ---------------------------------------------------------------------------
# Inputs: the frames the report is built from.
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# The report.
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TableSpec:
  key: str
  title: str
  percent: Sequence[str] = ()
  # Columns shown in text/HTML (None: all); JSON always keeps every column.
  display: Optional[Sequence[str]] = None
  max_rows: Optional[int] = None  # text/HTML only


def _labeler_accuracy_columns(labelers):
  return [f'{l}_accuracy' for l in labelers]


def table_specs(report: Dict[str, Any]) -> List[TableSpec]:
  """The tables in reading order, with how to show each."""
  labelers = report['meta']['labelers']
  classes = report['meta']['classes']
  kappa_columns = [c for c in (report['tables'].get('agreement_by_slice') or [{}])[0]
                   if c.startswith('kappa ')]
  return [
      TableSpec('what_to_work_on', 'What to work on: gap to HLP x share of data',
                ('model', 'hlp', 'gap', 'share', 'potential'),
                ('rank', 'slice', 'n_eval', 'n_labeled', 'model', 'hlp', 'gap',
                 'share', 'potential', 'model_above_hlp'), 30),
      TableSpec('not_ranked', 'Slices not ranked', ('model', 'hlp'),
                ('slice', 'n_eval', 'n_labeled', 'model', 'hlp', 'reason')),
      TableSpec('hlp_by_slice', 'Human-level performance per slice',
                ['hlp', 'best_labeler'] + _labeler_accuracy_columns(labelers),
                ['slice_column', 'slice_value', 'n_labeled', 'basis', 'hlp',
                 'best_labeler'] + _labeler_accuracy_columns(labelers)),
      TableSpec('agreement_by_slice', 'Inter-annotator agreement per slice', (),
                ['slice_column', 'slice_value', 'n_labeled', 'fleiss_kappa',
                 'krippendorff_alpha', 'mean_pairwise_cohen_kappa'] + kappa_columns),
      TableSpec('agreement_pairwise', "Pairwise Cohen's kappa (all labeled examples)",
                ('observed_agreement',)),
      TableSpec('class_pairs', 'Which classes labelers confuse (pairs of labels on one example)',
                ('share_of_disagreements',)),
      TableSpec('disagreements', 'Examples where labelers disagree, most disagreement first',
                ('plurality_share',), None, 25),
      TableSpec('error_analysis_by_tag', 'Error analysis by tag (evaluation split)',
                ('fraction_of_errors', 'error_rate', 'fraction_of_data', 'model_accuracy',
                 'hlp_accuracy', 'gap', 'potential'),
                ('tag', 'n_examples', 'n_errors', 'fraction_of_errors', 'error_rate',
                 'fraction_of_data', 'model_accuracy', 'hlp_accuracy', 'n_labeled', 'gap',
                 'potential')),
      TableSpec('baselines', 'Baselines, the last blessed model and the new model',
                ['accuracy', 'macro_f1'] + [f'recall_{c}' for c in classes] +
                [f'precision_{c}' for c in classes],
                ['system', 'n_examples', 'accuracy', 'macro_f1'] +
                [f'recall_{c}' for c in classes] + [f'precision_{c}' for c in classes]),
  ]


def _safe_agreement(labels: pd.DataFrame, classes) -> Dict[str, float]:
  try:
    return agreement.agreement_summary(labels, classes)
  except ValueError:
    # Too few pairable labels in a small slice: undefined, not an error.
    return {'fleiss_kappa': np.nan, 'krippendorff_alpha': np.nan,
            'mean_pairwise_cohen_kappa': np.nan}


def _agreement_by_slice(labeled: pd.DataFrame, labelers, columns, classes) -> pd.DataFrame:
  def row(slice_column, slice_value, frame):
    summary = _safe_agreement(frame[labelers], classes)
    result = {'slice_column': slice_column, 'slice_value': slice_value,
              'n_labeled': len(frame),
              'fleiss_kappa': summary['fleiss_kappa'],
              'krippendorff_alpha': summary['krippendorff_alpha'],
              'mean_pairwise_cohen_kappa': summary['mean_pairwise_cohen_kappa']}
    pairs = agreement.pairwise_cohen_kappa(frame[labelers], classes)
    for a, b, kappa in zip(pairs['labeler_a'], pairs['labeler_b'], pairs['kappa']):
      result[f'kappa {a}~{b}'] = kappa
    return result
  rows = [row(human_level.OVERALL, human_level.ALL, labeled)]
  for column in columns:
    for value, positions in human_level.slice_groups(labeled[column]):
      rows.append(row(column, value, labeled.iloc[positions]))
  return pd.DataFrame(rows)


def rank_slices(slices: pd.DataFrame, min_examples: int = DEFAULT_MIN_SLICE_EXAMPLES):
  """(ranking, not_ranked) from one row per slice.

  slices columns: slice_column, slice_value, model, hlp, share, n_eval,
  n_labeled (NaN model/hlp where the slice is absent from one of the two
  samples). The ranking is human_level.gap_analysis: gap = max(hlp - model,
  0), potential = gap x share, ranked by potential, ties sharing a rank.
  """
  slices = slices.copy()
  slices.insert(0, 'slice', [f'{c}={v}' for c, v in zip(slices['slice_column'],
                                                          slices['slice_value'])])
  reasons = []
  for model, hlp, n_labeled, n_eval in zip(slices['model'], slices['hlp'],
                                           slices['n_labeled'], slices['n_eval']):
    if pd.isna(model) or not n_eval:
      reasons.append('no example in the evaluation split')
    elif pd.isna(hlp) or not n_labeled:
      reasons.append('no labeled example')
    elif n_labeled < min_examples:
      reasons.append(f'only {int(n_labeled)} labeled example(s) (< {min_examples}): '
                     f'HLP too noisy to rank')
    elif n_eval < min_examples:
      reasons.append(f'only {int(n_eval)} evaluation example(s) (< {min_examples}): '
                     f'model accuracy too noisy to rank')
    else:
      reasons.append('')
  slices['reason'] = reasons
  ranked = slices[slices['reason'] == ''].drop(columns='reason')
  not_ranked = slices[slices['reason'] != ''].reset_index(drop=True)
  if len(ranked):
    ranking = human_level.gap_analysis(ranked.reset_index(drop=True))
    first = ['rank', 'slice', 'slice_column', 'slice_value']
    ranking = ranking[first + [c for c in ranking.columns if c not in first]]
  else:
    ranking = pd.DataFrame(columns=['rank', 'slice', 'slice_column', 'slice_value', 'model',
                                    'hlp', 'share', 'gap', 'potential', 'model_above_hlp'])
  return ranking, not_ranked


def _pooled_human_row(labeled: pd.DataFrame, labelers, classes) -> Optional[Dict]:
  truth = np.repeat(labeled[TRUTH].to_numpy(dtype=object), len(labelers))
  given = labeled[list(labelers)].to_numpy(dtype=object).reshape(-1)
  present = ~pd.isna(given)
  if not present.any():
    return None
  return baselines.system_metrics(HUMAN_SYSTEM, truth[present], given[present], classes)


def _records(table: Optional[pd.DataFrame]) -> List[Dict]:
  return [] if table is None else report_tables.to_records(table)


def _json_float(value) -> Optional[float]:
  if value is None:
    return None
  value = float(value)
  return None if math.isnan(value) else value


def build_report(
    spec,
    labeled: pd.DataFrame,
    evaluation: pd.DataFrame,
    predictions: Dict[str, Sequence[str]],
    train: Optional[pd.DataFrame] = None,
    use_ground_truth: bool = True,
    min_slice_examples: int = DEFAULT_MIN_SLICE_EXAMPLES,
    context: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
  """Every table of the report, JSON-ready.

  spec: the DatasetSpec. labeled: the labeled examples (join_labels output:
  example columns + labeler columns). evaluation: the evaluation split's
  examples. predictions: system name -> predicted class names for the
  evaluation rows, at least baselines.NEW_MODEL, optionally
  baselines.BLESSED_MODEL. train: training-split examples for the majority
  and logistic-regression baselines (None: those rows are left out).
  use_ground_truth: False scores labelers by leave-one-out agreement
  instead of against the label (when the label is not objective truth).
  """
  if baselines.NEW_MODEL not in predictions:
    raise ValueError(f'predictions must include {baselines.NEW_MODEL!r}')
  labelers = list(spec.labeler_columns)
  classes = list(spec.classes)
  columns = slice_columns(spec)
  if len(labelers) < 2:
    raise HlpDataError(f'{spec.source}: HLP needs at least 2 labeler columns, the '
                       f'description lists {labelers}')

  labeled = prepare_frame(labeled, spec)
  n_labeled_rows = len(labeled)
  labeled = labeled[labeled[labelers].notna().any(axis=1)]
  if not use_ground_truth:
    # Leave-one-out agreement needs another labeler on the same example.
    labeled = labeled[labeled[labelers].notna().sum(axis=1) >= 2]
  elif labeled[TRUTH].isna().any():
    bad = labeled.loc[labeled[TRUTH].isna(), spec.id_column].head(5).tolist()
    raise HlpDataError(f'{int(labeled[TRUTH].isna().sum())} labeled example(s) have no '
                       f'ground-truth label ({spec.label}), e.g. {bad}')
  if labeled.empty:
    raise HlpDataError('no labeled example left to score (every row of the labelers file '
                       'is empty, or none has 2 labels for agreement)')
  labeled = labeled.reset_index(drop=True)

  evaluation = prepare_frame(evaluation, spec)
  if evaluation.empty:
    raise HlpDataError('the evaluation split has no example')
  if evaluation[TRUTH].isna().any():
    raise HlpDataError(f'{int(evaluation[TRUTH].isna().sum())} evaluation example(s) have no '
                       f'label ({spec.label})')
  for system, predicted in predictions.items():
    if len(predicted) != len(evaluation):
      raise ValueError(f'{system}: {len(predicted)} predictions for {len(evaluation)} '
                       f'evaluation examples')
  evaluation[PREDICTION] = np.asarray(predictions[baselines.NEW_MODEL], dtype=object)

  # Human-level performance and agreement, per slice.
  hlp = human_level.human_level_performance(
      labeled, labelers, TRUTH if use_ground_truth else None, columns, classes)
  hlp_table = hlp.table.rename(columns={'n_examples': 'n_labeled'})
  agreement_by_slice = _agreement_by_slice(labeled, labelers, columns, classes)
  pairwise = agreement.pairwise_cohen_kappa(labeled[labelers], classes)
  overall_agreement = _safe_agreement(labeled[labelers], classes)

  # The model per slice, and the ranking.
  model_table = human_level.model_accuracy_by_slice(
      evaluation, TRUTH, PREDICTION, columns, classes).rename(columns={'n_examples': 'n_eval'})
  keys = ['slice_column', 'slice_value']
  merged = model_table.merge(hlp_table[keys + ['n_labeled', 'hlp', 'best_labeler']],
                             on=keys, how='outer')
  merged['n_eval'] = merged['n_eval'].fillna(0).astype(int)
  merged['n_labeled'] = merged['n_labeled'].fillna(0).astype(int)
  merged['share'] = merged['n_eval'] / len(evaluation)
  overall = merged[merged['slice_column'] == human_level.OVERALL].iloc[0]
  ranking, not_ranked = rank_slices(
      merged[merged['slice_column'] != human_level.OVERALL].reset_index(drop=True),
      min_slice_examples)

  # Label consistency.
  ids = labeled[spec.id_column].tolist() if spec.id_column else None
  disagreements = agreement.disagreements(labeled[labelers], classes, ids=ids)
  if use_ground_truth and len(disagreements):
    truth_by_id = dict(zip(labeled[spec.id_column], labeled[TRUTH]))
    disagreements['ground_truth'] = [truth_by_id.get(e) for e in disagreements['example']]
  pairs = agreement.class_pair_confusion(labeled[labelers], classes)
  pairs = pairs.sort_values(['is_disagreement', 'count'], ascending=[False, False],
                            kind='mergesort').reset_index(drop=True)
  borderline = agreement.borderline_suggestion(pairs)

  # Error analysis by tag, with HLP from the (larger) labeled sample.
  tag_table = None
  if spec.tags:
    tag_table = error_analysis.error_analysis_by_tag(
        evaluation, TRUTH, PREDICTION, tag_columns=list(spec.tags), classes=classes)
    tag_hlp = hlp_table.set_index(keys)
    hlp_values, n_values = [], []
    for column, value in zip(tag_table['tag_column'], tag_table['tag_value']):
      found = (column, value) in tag_hlp.index
      n = int(tag_hlp.loc[(column, value), 'n_labeled']) if found else 0
      n_values.append(n)
      hlp_values.append(float(tag_hlp.loc[(column, value), 'hlp'])
                        if found and n >= min_slice_examples else np.nan)
    tag_table['hlp_accuracy'] = hlp_values
    tag_table['n_labeled'] = n_values
    raw_gap = tag_table['hlp_accuracy'] - tag_table['model_accuracy']
    # Same rule as the ranking: no gap from a handful of evaluation examples.
    raw_gap = raw_gap.where(tag_table['n_examples'] >= min_slice_examples)
    tag_table['gap'] = raw_gap.clip(lower=0.0)  # NaN stays NaN
    tag_table['potential'] = tag_table['gap'] * tag_table['fraction_of_data']

  # Baselines side by side.
  y_true = evaluation[TRUTH].to_numpy(dtype=object)
  rows = []
  if train is not None and len(train):
    train = train.copy()
    train[TRUTH] = ground_truth(train, spec)
    train = train[train[TRUTH].notna()]
    categorical = [c.name for c in spec.features('vocabulary')]
    numeric = [c.name for c in spec.features('scale') + spec.features('bucketize')]
    rows += baselines.baseline_table(
        train, evaluation, TRUTH, classes, categorical, numeric).to_dict(orient='records')
  for system in (baselines.BLESSED_MODEL, baselines.NEW_MODEL):
    if system in predictions:
      rows.append(baselines.system_metrics(
          system, y_true, np.asarray(predictions[system], dtype=object), classes))
  if use_ground_truth:
    human = _pooled_human_row(labeled, labelers, classes)
    if human is not None:
      rows.append(human)
  per_class = [f'{m}_{c}' for c in classes for m in ('precision', 'recall', 'f1')]
  system_table = pd.DataFrame(rows, columns=['system', 'n_examples', 'accuracy', 'macro_f1'] +
                              per_class)

  accuracy_of = dict(zip(system_table['system'], system_table['accuracy']))
  top = ranking.iloc[0] if len(ranking) else None
  headline = {
      'basis': hlp.basis,
      'hlp': _json_float(overall['hlp']),
      'best_labeler': _json_float(overall['best_labeler']),
      'model_accuracy': _json_float(overall['model']),
      'gap': _json_float(max(overall['hlp'] - overall['model'], 0.0)),
      'fleiss_kappa': _json_float(overall_agreement['fleiss_kappa']),
      'krippendorff_alpha': _json_float(overall_agreement['krippendorff_alpha']),
      'mean_pairwise_cohen_kappa': _json_float(overall_agreement['mean_pairwise_cohen_kappa']),
      'top_slice': None if top is None else str(top['slice']),
      'top_potential': None if top is None else _json_float(top['potential']),
      'majority_accuracy': _json_float(accuracy_of.get(baselines.MAJORITY)),
      'linear_accuracy': _json_float(accuracy_of.get(baselines.LINEAR)),
      'blessed_model_accuracy': _json_float(accuracy_of.get(baselines.BLESSED_MODEL)),
      'n_disagreements': int(len(disagreements)),
      'borderline_suggestion': borderline,
  }
  meta = dict(context or {})
  meta.update({
      'dataset': spec.name,
      'description': spec.source,
      'classes': classes,
      'labelers': labelers,
      'label': spec.label,
      'slice_columns': columns,
      'tags': list(spec.tags),
      'basis': hlp.basis,
      'min_slice_examples': int(min_slice_examples),
      'n_eval': int(len(evaluation)),
      'n_labeled': int(len(labeled)),
      'n_labeled_rows_dropped': int(n_labeled_rows - len(labeled)),
      'systems': list(system_table['system']),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
  })
  notes = {
      'hlp': hlp.note,
      'samples': (
          f'HLP and agreement: {len(labeled)} labeled example(s) from every split of the '
          f'span. Model accuracy, shares, error analysis and baselines: the '
          f'{meta.get("split", "evaluation")} split ({len(evaluation)} examples).'),
      'what_to_work_on': (
          'potential = max(HLP - model, 0) x share of data: the overall accuracy gained if '
          'the slice reached HLP. Slices of different columns overlap, so do not add '
          'potentials across columns.'),
      'baselines': (
          f'Every row but "{HUMAN_SYSTEM}" is measured on the evaluation split; the human '
          f'row pools every label of every labeler on the labeled sample.'),
      'borderline': borderline,
  }
  tables = {
      'what_to_work_on': ranking,
      'not_ranked': not_ranked[['slice', 'slice_column', 'slice_value', 'n_eval', 'n_labeled',
                                'model', 'hlp', 'reason']],
      'hlp_by_slice': hlp_table,
      'agreement_by_slice': agreement_by_slice,
      'agreement_pairwise': pairwise,
      'class_pairs': pairs,
      'disagreements': disagreements.head(MAX_DISAGREEMENTS_STORED),
      'error_analysis_by_tag': tag_table,
      'baselines': system_table,
  }
  return {
      'format_version': FORMAT_VERSION,
      'meta': meta,
      'headline': headline,
      'notes': notes,
      'tables': {k: _records(v) for k, v in tables.items()},
  }


# ---------------------------------------------------------------------------
# Output: files, text, HTML.
# ---------------------------------------------------------------------------
def write_report(report: Dict[str, Any], directory: str, open_fn=open) -> Dict[str, str]:
  """Writes REPORT_JSON and REPORT_HTML into `directory`; returns their paths."""
  paths = {'json': os.path.join(directory, REPORT_JSON),
           'html': os.path.join(directory, REPORT_HTML)}
  with open_fn(paths['json'], 'w') as f:
    f.write(json.dumps(report, indent=1, allow_nan=False))
  with open_fn(paths['html'], 'w') as f:
    f.write(render_html(report))
  return paths


def read_report(directory: str) -> Dict[str, Any]:
  path = os.path.join(directory, REPORT_JSON)
  if not os.path.exists(path):
    raise FileNotFoundError(f'no {REPORT_JSON} in {directory}: not a {ARTIFACT_TYPE} artifact')
  with open(path) as f:
    return json.load(f)


def table_frame(report: Dict[str, Any], key: str, display: bool = False) -> pd.DataFrame:
  records = report['tables'].get(key) or []
  frame = pd.DataFrame.from_records(records)
  if display and len(frame):
    spec = next(t for t in table_specs(report) if t.key == key)
    if spec.display:
      frame = frame[[c for c in spec.display if c in frame.columns]]
  return frame


def _percent(value) -> str:
  return '-' if value is None else f'{100 * value:.2f}%'


def _number(value) -> str:
  return '-' if value is None else f'{value:.3f}'


def headline_lines(report: Dict[str, Any]) -> List[str]:
  h, m = report['headline'], report['meta']
  where = f"span {m.get('span', '?')}, {m.get('split', 'eval')} split"
  lines = [
      f"Human-level performance: {m['dataset']} ({where}; {m['n_labeled']} labeled, "
      f"{m['n_eval']} evaluation examples)",
      f"  HLP {_percent(h['hlp'])} (best labeler {_percent(h['best_labeler'])}), "
      f"model {_percent(h['model_accuracy'])}, gap {_percent(h['gap'])}  [basis: {h['basis']}]",
      f"  agreement: Fleiss' kappa {_number(h['fleiss_kappa'])}, Krippendorff's alpha "
      f"{_number(h['krippendorff_alpha'])}, mean pairwise Cohen's kappa "
      f"{_number(h['mean_pairwise_cohen_kappa'])}",
  ]
  if h['top_slice']:
    lines.append(f"  work on first: {h['top_slice']} (potential {_percent(h['top_potential'])})")
  if h.get('borderline_suggestion'):
    lines.append(f"  label consistency: {h['borderline_suggestion']}")
  lines.append(f"  {report['notes']['hlp']}")
  return lines


def table_text(spec: TableSpec, frame: pd.DataFrame) -> str:
  """One table as fixed-width text, display columns only, percentages as such."""
  if frame.empty:
    return f'{spec.title}\n  (none)'
  if spec.display:
    frame = frame[[c for c in spec.display if c in frame.columns]]
  shown = frame.head(spec.max_rows) if spec.max_rows else frame
  text = report_tables.to_text(shown, [c for c in spec.percent if c in shown.columns],
                               title=spec.title)
  if len(shown) < len(frame):
    text += f'\n  ... {len(frame) - len(shown)} more in {REPORT_JSON}'
  return text


def render_text(report: Dict[str, Any], keys: Optional[Sequence[str]] = None) -> str:
  parts = ['\n'.join(headline_lines(report))]
  for spec in table_specs(report):
    if not keys or spec.key in keys:
      parts.append(table_text(spec, table_frame(report, spec.key, display=True)))
  return '\n\n'.join(parts)


# Also for a page that embeds render_html_fragment().
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.analysis-table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
table.analysis-table th, table.analysis-table td { padding: 0.25em 0.6em; text-align: left;
  border-bottom: 1px solid #ddd; white-space: nowrap; }
table.analysis-table th { background: #f3f3f3; }
table.analysis-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; max-width: 60em; }
.headline { background: #f7f7ff; padding: 0.8em 1.2em; border-left: 4px solid #557; }
"""

# Columns drawn with a bar behind the number, so the ranking reads at a glance.
_BAR_COLUMNS = ('potential', 'fraction_of_errors')


def _is_number(value) -> bool:
  return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
      value, (bool, np.bool_))


def html_table(frame: pd.DataFrame, percent: Sequence[str] = (), title: Optional[str] = None) -> str:
  """An HTML table: numbers right-aligned, text left, bars on _BAR_COLUMNS.

  Cells are formatted by report_tables.format_table (missing -> "-") and
  escaped.
  """
  shown = report_tables.format_table(frame, [c for c in percent if c in frame.columns])
  bars = {}
  for column in _BAR_COLUMNS:
    if column in frame.columns:
      values = pd.to_numeric(frame[column], errors='coerce')
      top = values.max()
      if top and top > 0:
        bars[column] = (values / top).fillna(0.0).tolist()
  head = ''.join(f'<th>{html.escape(str(c))}</th>' for c in frame.columns)
  rows = []
  for i in range(len(frame)):
    cells = []
    for column in frame.columns:
      text = html.escape(shown[column].iloc[i])
      if not _is_number(frame[column].iloc[i]):
        cells.append(f'<td>{text}</td>')
        continue
      style = ''
      if column in bars:
        width = 100 * bars[column][i]
        style = (f' style="background: linear-gradient(to left, #c9d6f2 {width:.0f}%, '
                 f'transparent {width:.0f}%)"')
      cells.append(f'<td class="num"{style}>{text}</td>')
    rows.append('<tr>' + ''.join(cells) + '</tr>')
  heading = f'<h3>{html.escape(title)}</h3>\n' if title else ''
  return (f'{heading}<table class="analysis-table"><thead><tr>{head}</tr></thead>'
          f'<tbody>\n' + '\n'.join(rows) + '\n</tbody></table>')


def render_html_fragment(report: Dict[str, Any]) -> str:
  """The report's tables as an HTML fragment (for a larger report or notebook)."""
  parts = ['<div class="headline"><pre>' + html.escape('\n'.join(headline_lines(report))) +
           '</pre></div>']
  notes = report['notes']
  for spec in table_specs(report):
    frame = table_frame(report, spec.key, display=True)
    if frame.empty:
      parts.append(f'<h3>{html.escape(spec.title)}</h3><p class="note">(none)</p>')
      continue
    shown = frame.head(spec.max_rows * 4) if spec.max_rows else frame
    parts.append(html_table(shown, spec.percent, title=spec.title))
    note = {'what_to_work_on': notes.get('what_to_work_on'),
            'hlp_by_slice': notes.get('samples'),
            'class_pairs': notes.get('borderline'),
            'baselines': notes.get('baselines')}.get(spec.key)
    if note:
      parts.append(f'<p class="note">{html.escape(note)}</p>')
    if len(shown) < len(frame):
      parts.append(f'<p class="note">... {len(frame) - len(shown)} more rows in '
                   f'{REPORT_JSON}</p>')
  return '\n'.join(parts)


def render_html(report: Dict[str, Any]) -> str:
  title = f"Human-level performance: {report['meta']['dataset']}"
  return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
          f'</title><style>{CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n'
          f'{render_html_fragment(report)}\n</body></html>\n')


def mlmd_properties(report: Dict[str, Any]) -> Dict[str, Any]:
  """Key numbers for the output artifact's custom properties (None: left out)."""
  h, m = report['headline'], report['meta']
  values = {
      'hlp': h['hlp'], 'best_labeler': h['best_labeler'],
      'model_accuracy': h['model_accuracy'], 'gap_to_hlp': h['gap'],
      'fleiss_kappa': h['fleiss_kappa'], 'krippendorff_alpha': h['krippendorff_alpha'],
      'mean_pairwise_cohen_kappa': h['mean_pairwise_cohen_kappa'],
      'top_slice': h['top_slice'], 'top_potential': h['top_potential'],
      'majority_accuracy': h['majority_accuracy'], 'linear_accuracy': h['linear_accuracy'],
      'blessed_model_accuracy': h['blessed_model_accuracy'],
      'borderline_suggestion': h['borderline_suggestion'],
      'basis': h['basis'], 'n_labeled': m['n_labeled'], 'n_eval': m['n_eval'],
      'n_disagreements': h['n_disagreements'],
  }
  return {k: v for k, v in values.items() if v is not None}


# ---------------------------------------------------------------------------
# Finding the latest artifact in ML Metadata, and the CLI.
# ---------------------------------------------------------------------------
def latest_artifact_uri(metadata_path: str, pipeline_name: Optional[str] = None) -> str:
  """The URI of the newest live HumanLevelPerformance artifact in an MLMD SQLite store."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  if not os.path.exists(metadata_path):
    raise FileNotFoundError(f'no metadata store at {metadata_path}')
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  store = metadata_store.MetadataStore(config)
  artifacts = [a for a in store.get_artifacts_by_type(ARTIFACT_TYPE)
               if a.state == metadata_store_pb2.Artifact.LIVE]
  if pipeline_name:
    context = store.get_context_by_type_and_name('pipeline', pipeline_name)
    in_pipeline = ({a.id for a in store.get_artifacts_by_context(context.id)}
                   if context else set())
    artifacts = [a for a in artifacts if a.id in in_pipeline]
  if not artifacts:
    scope = f' of pipeline {pipeline_name!r}' if pipeline_name else ''
    raise LookupError(f'no {ARTIFACT_TYPE} artifact{scope} in {metadata_path}: has the '
                      f'pipeline run with the HumanLevelAnalysis component?')
  return max(artifacts, key=lambda a: (a.create_time_since_epoch, a.id)).uri


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m analysis.hlp_report',
      description='Print the human-level performance tables of a pipeline run.')
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--mlmd', help='ML Metadata SQLite file: use its latest '
                      f'{ARTIFACT_TYPE} artifact')
  source.add_argument('--artifact-dir', help=f'a {ARTIFACT_TYPE} artifact directory')
  parser.add_argument('--pipeline', help='with --mlmd: only this pipeline')
  parser.add_argument('--table', action='append',
                      help='print only this table (repeatable); one of: ' +
                      ', '.join(t.key for t in table_specs(_EMPTY)))
  parser.add_argument('--format', choices=['text', 'html', 'json'], default='text')
  args = parser.parse_args(argv)
  try:
    directory = args.artifact_dir or latest_artifact_uri(args.mlmd, args.pipeline)
    report = read_report(directory)
  except (FileNotFoundError, LookupError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  known = {t.key for t in table_specs(report)}
  unknown = sorted(set(args.table or ()) - known)
  if unknown:
    print(f'error: unknown table(s) {unknown}; choose from {sorted(known)}', file=sys.stderr)
    return 2
  if args.format == 'json':
    selected = report if not args.table else {k: report['tables'][k] for k in args.table}
    print(json.dumps(selected, indent=1))
  elif args.format == 'html':
    print(render_html(report))
  else:
    print(f'artifact: {directory}\n')
    print(render_text(report, args.table))
  return 0


# Enough of a report for table_specs to list the table names in --help.
_EMPTY = {'meta': {'labelers': [], 'classes': []}, 'tables': {}}


if __name__ == '__main__':
  sys.exit(main())
