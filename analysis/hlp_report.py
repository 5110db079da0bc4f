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

Here: the tables (build_report) and the JSON they are stored as. The input
frames: hlp_data.py; text and the data of the HTML page: hlp_view.py; the page
itself: reports/templates/hlp_report.html.j2; the command line:
python -m cli.hlp_report.
"""

import datetime
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis import agreement
from analysis import baselines
from analysis import disagreements as consistency
from analysis import error_analysis
from analysis import human_level
from analysis import report_tables
from analysis.hlp_data import (PREDICTION, TRUTH, HlpDataError, ground_truth, prepare_frame,
                               slice_columns)

REPORT_JSON = 'hlp_report.json'
REPORT_HTML = 'hlp_report.html'
FORMAT_VERSION = 1
DEFAULT_MIN_SLICE_EXAMPLES = 30
# A slice table's accuracy of the last blessed model (when there is one).
BLESSED_MODEL_COLUMN = 'blessed_model'
MAX_DISAGREEMENTS_STORED = 500
HUMAN_SYSTEM = 'human labelers (pooled)'


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


def _checked_labeled(labeled: pd.DataFrame, spec, labelers, use_ground_truth: bool):
  """(the labeled rows to score, how many rows were dropped); HlpDataError if none."""
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
  return labeled.reset_index(drop=True), n_labeled_rows - len(labeled)


def _checked_evaluation(evaluation: pd.DataFrame, spec, predictions) -> pd.DataFrame:
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
  return evaluation


def _tag_table(evaluation, hlp_table, spec, classes, min_slice_examples):
  """Error analysis by tag, with HLP from the (larger) labeled sample."""
  if not spec.tags:
    return None
  keys = ['slice_column', 'slice_value']
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
  return tag_table


def _system_table(evaluation, predictions, train, labeled, spec, labelers, classes,
                  use_ground_truth: bool) -> pd.DataFrame:
  """Baselines, the models and the pooled human labelers side by side."""
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
  return system_table


def _headline(hlp, overall, overall_agreement, ranking, system_table, disagreements,
              borderline) -> Dict[str, Any]:
  accuracy_of = dict(zip(system_table['system'], system_table['accuracy']))
  top = ranking.iloc[0] if len(ranking) else None
  return {
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


def _notes(hlp, labeled, evaluation, meta, borderline) -> Dict[str, str]:
  return {
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


def _meta(context, spec, hlp, labeled, evaluation, system_table, min_slice_examples,
          n_dropped) -> Dict[str, Any]:
  meta = dict(context or {})
  meta.update({
      'dataset': spec.name,
      'description': spec.source,
      'classes': list(spec.classes),
      'labelers': list(spec.labeler_columns),
      'label': spec.label,
      'slice_columns': slice_columns(spec),
      'tags': list(spec.tags),
      'basis': hlp.basis,
      'min_slice_examples': int(min_slice_examples),
      'n_eval': int(len(evaluation)),
      'n_labeled': int(len(labeled)),
      'n_labeled_rows_dropped': int(n_dropped),
      'systems': list(system_table['system']),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
  })
  return meta


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

  labeled, n_dropped = _checked_labeled(labeled, spec, labelers, use_ground_truth)

  evaluation = _checked_evaluation(evaluation, spec, predictions)

  # Human-level performance and agreement, per slice.
  hlp = human_level.human_level_performance(
      labeled, labelers, TRUTH if use_ground_truth else None, columns, classes)
  hlp_table = hlp.table.rename(columns={'n_examples': 'n_labeled'})
  agreement_by_slice = human_level.agreement_by_slice(labeled, labelers, columns, classes)
  pairwise = agreement.pairwise_cohen_kappa(labeled[labelers], classes)
  overall_agreement = human_level.safe_agreement(labeled[labelers], classes)

  # The model per slice, and the ranking.
  model_table = human_level.model_accuracy_by_slice(
      evaluation, TRUTH, PREDICTION, columns, classes).rename(columns={'n_examples': 'n_eval'})
  keys = ['slice_column', 'slice_value']
  merged = model_table.merge(hlp_table[keys + ['n_labeled', 'hlp', 'best_labeler']],
                             on=keys, how='outer')
  if baselines.BLESSED_MODEL in predictions:
    # The model the candidate would replace, on the same examples against the
    # same HLP: whether this model closed a slice's gap is read here, free of
    # the noise of comparing two spans' analyses.
    blessed = evaluation.assign(**{PREDICTION: np.asarray(
        predictions[baselines.BLESSED_MODEL], dtype=object)})
    blessed_table = human_level.model_accuracy_by_slice(
        blessed, TRUTH, PREDICTION, columns, classes)
    merged = merged.merge(blessed_table[keys + ['model']].rename(
        columns={'model': BLESSED_MODEL_COLUMN}), on=keys, how='left')
  merged['n_eval'] = merged['n_eval'].fillna(0).astype(int)
  merged['n_labeled'] = merged['n_labeled'].fillna(0).astype(int)
  merged['share'] = merged['n_eval'] / len(evaluation)
  overall = merged[merged['slice_column'] == human_level.OVERALL].iloc[0]
  ranking, not_ranked = rank_slices(
      merged[merged['slice_column'] != human_level.OVERALL].reset_index(drop=True),
      min_slice_examples)

  # Label consistency.
  ids = labeled[spec.id_column].tolist() if spec.id_column else None
  disagreements = consistency.disagreements(labeled[labelers], classes, ids=ids)
  if use_ground_truth and len(disagreements):
    truth_by_id = dict(zip(labeled[spec.id_column], labeled[TRUTH]))
    disagreements['ground_truth'] = [truth_by_id.get(e) for e in disagreements['example']]
  pairs = consistency.class_pair_confusion(labeled[labelers], classes)
  pairs = pairs.sort_values(['is_disagreement', 'count'], ascending=[False, False],
                            kind='mergesort').reset_index(drop=True)
  borderline = consistency.borderline_suggestion(pairs)

  tag_table = _tag_table(evaluation, hlp_table, spec, classes, min_slice_examples)

  system_table = _system_table(evaluation, predictions, train, labeled, spec, labelers,
                               classes, use_ground_truth)
  headline = _headline(hlp, overall, overall_agreement, ranking, system_table,
                       disagreements, borderline)
  meta = _meta(context, spec, hlp, labeled, evaluation, system_table, min_slice_examples,
               n_dropped)
  notes = _notes(hlp, labeled, evaluation, meta, borderline)
  tables = {
      'what_to_work_on': ranking,
      'not_ranked': not_ranked[['slice', 'slice_column', 'slice_value', 'n_eval', 'n_labeled',
                                'model', 'hlp', 'reason']
                               + [c for c in (BLESSED_MODEL_COLUMN,) if c in not_ranked]],
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


def write_json(report: Dict[str, Any], directory: str, open_fn=open) -> str:
  """Writes REPORT_JSON into `directory`; returns its path."""
  path = os.path.join(directory, REPORT_JSON)
  with open_fn(path, 'w') as f:
    f.write(json.dumps(report, indent=1, allow_nan=False))
  return path


def read_report(directory: str) -> Dict[str, Any]:
  path = os.path.join(directory, REPORT_JSON)
  if not os.path.exists(path):
    raise FileNotFoundError(f'no {REPORT_JSON} in {directory}: not a human-level '
                            f'performance artifact')
  with open(path) as f:
    return json.load(f)
