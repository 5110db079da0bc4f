"""Run report sections about the model's evaluation: sliced metrics, fairness, per class, blessing."""

import dataclasses
from typing import Optional

from provenance import evaluation as evaluation_lib
from provenance import fragments
from provenance.report_run import Run, of_type, section


def _rows(run: Run, artifacts):
  return run.metric_rows(artifacts[-1].uri)


@section('evaluation', 'Evaluation: sliced metrics', of_type('ModelEvaluation'))
def _evaluation(run: Run, artifacts) -> str:
  rows = _rows(run, artifacts)
  rare = run.rare_class_id
  rare_name = run.spec.rare_class if run.spec else 'rare class'
  parts = [f'<p>{fragments.esc(artifacts[-1].label)} (<code>{fragments.esc(artifacts[-1].uri)}</code>). '
           f'Recall, precision and AUC are one-vs-rest for the rare class '
           f'<b>{fragments.esc(rare_name)}</b> (class id {fragments.esc(rare)}).</p>']
  comparison = evaluation_lib.baseline_comparison(rows, rare)
  if comparison:
    parts.append('<h3>Candidate against the baseline (last blessed model)</h3>')
    parts.append(fragments.table(comparison, ['metric', 'candidate', 'baseline', 'diff'],
                        formats={'metric': fragments.esc},
                        row_class=lambda r: 'bad' if (r['diff'] or 0) < -0.01 else ''))
  columns = run.spec.slice_columns if run.spec else []
  table = evaluation_lib.sliced_table(rows, rare, columns,
                                      run.positives(artifacts[-1].uri))
  overall = table[0]['accuracy'] if table else None
  parts.append('<h3>Slices</h3>')
  parts.append(fragments.table(
      table, ['slice', 'examples', 'positives', 'accuracy', 'recall', 'precision', 'auc'],
      formats={'slice': fragments.esc, 'accuracy': fragments.bar, 'recall': fragments.bar, 'examples': fragments.count,
               'positives': fragments.count},
      row_class=lambda r: ('overall' if r['slice'] == 'overall' else
                           'warn' if (overall is not None and r['accuracy'] is not None and
                                      r['accuracy'] < overall - 0.05) else ''),
      headers={'positives': f'{rare_name} examples', 'recall': f'recall ({rare_name})', 'precision': f'precision ({rare_name})',
               'auc': f'AUC ({rare_name})'}))
  parts.append('<p class="note">Amber: accuracy more than 5 points below overall. '
               f'"-": no {fragments.esc(rare_name)} example in the slice, so its recall and AUC '
               'are undefined.</p>')
  return ''.join(parts)


@section('fairness', 'Fairness gaps across protected attributes', of_type('ModelEvaluation'))
def _fairness(run: Run, artifacts) -> Optional[str]:
  if not run.spec or not run.spec.protected_attributes:
    return None
  rows = _rows(run, artifacts)
  rare = run.rare_class_id
  threshold = float(run.spec.evaluation.get('fairness_gap_threshold',
                                            evaluation_lib.DEFAULT_GAP_THRESHOLD))
  gaps = evaluation_lib.fairness_gaps(rows, run.spec.protected_attributes, rare, threshold,
                                      positives=run.positives(artifacts[-1].uri))
  flagged = [g for g in gaps if g.flagged]
  table = [dict(dataclasses.asdict(g), small=', '.join(g.slices_too_small)) for g in gaps]
  parts = [
      f'<p>Per protected attribute, the largest difference (max minus min) of a '
      f'metric across its slices, for the rare class <b>{fragments.esc(run.spec.rare_class)}</b> '
      f'(accuracy: all classes). Gaps above <b>{threshold:.2f}</b> are highlighted. '
      f'Left out (and listed): slices with fewer than {evaluation_lib.MIN_SLICE_EXAMPLES} '
      f'examples, and for recall and false negative rates, slices with fewer than '
      f'{evaluation_lib.MIN_CLASS_EXAMPLES} {fragments.esc(run.spec.rare_class)} examples: their '
      f'rates swing by chance.</p>',
      f'<p>{fragments.badge(not flagged, "no gap above the threshold", f"{len(flagged)} gap(s) above {threshold:.2f}")}</p>',
      fragments.table(table, ['attribute', 'metric', 'gap', 'worst', 'worst_value', 'best',
                     'best_value', 'slices_used', 'small'],
             formats={'attribute': fragments.esc, 'metric': fragments.esc, 'worst': fragments.esc, 'best': fragments.esc,
                      'small': fragments.esc, 'slices_used': str},
             headers={'small': 'left out (small)', 'slices_used': 'slices'},
             row_class=lambda r: 'bad' if r['flagged'] else ''),
  ]
  own = evaluation_lib.candidate(rows)
  overall_recall = evaluation_lib.value(own, 'recall', class_id=rare)
  charts = []
  for attribute in run.spec.protected_attributes:
    items = [(evaluation_lib.slice_label(s).split('=', 1)[1],
              evaluation_lib.value(own, 'recall', s, class_id=rare))
             for s in evaluation_lib.slices_of(own, attribute)]
    worst = [g.worst.split('=', 1)[1] for g in flagged
             if g.attribute == attribute and g.metric == 'recall']
    charts.append(fragments.svg_bars(items, overall_recall,
                            f'{attribute}: recall of {run.spec.rare_class} (dashed: overall)',
                            highlight=worst))
  parts.append('<div class="charts">' + ''.join(charts) + '</div>')
  return ''.join(parts)


@section('per-class', 'Per-class metrics (overall)', of_type('ModelEvaluation'))
def _per_class(run: Run, artifacts) -> Optional[str]:
  if not run.spec:
    return None
  table = evaluation_lib.per_class(_rows(run, artifacts), run.spec.classes)
  rare = run.rare_class_id
  confusion = run.confusion(artifacts[-1].uri).get(evaluation_lib.OVERALL, {})
  for row in table:
    row['examples'] = sum(n for (a, _), n in confusion.items() if a == row['class_id'])
  parts = [fragments.table(table, ['class', 'class_id', 'examples', 'precision', 'recall', 'f1_score',
                          'auc', 'calibration'],
                  formats={'class': fragments.esc, 'class_id': str, 'recall': fragments.bar, 'examples': fragments.count},
                  row_class=lambda r: 'rare' if r['class_id'] == rare else ''),
           '<p class="note">One-vs-rest per class. Calibration is mean prediction over '
           'mean label (1 is calibrated).</p>']
  if confusion:
    classes = run.spec.classes
    matrix = []
    for a, actual in enumerate(classes):
      row = {'actual': actual}
      for p, predicted in enumerate(classes):
        row[predicted] = confusion.get((a, p), 0.0)
      matrix.append(row)
    parts.append('<h3>Confusion matrix (rows: actual, columns: predicted, argmax)</h3>' +
                 fragments.table(matrix, ['actual'] + list(classes),
                        formats=dict({'actual': fragments.esc}, **{c: fragments.count for c in classes})))
  return ''.join(parts)


@section('blessing', 'Blessing', of_type('ModelBlessing'))
def _blessing(run: Run, artifacts) -> str:
  blessing = artifacts[-1]
  blessed = bool(blessing.properties.get('blessed'))
  parts = [f'<p>{fragments.badge(blessed, "BLESSED", "NOT BLESSED")} {fragments.esc(blessing.label)} for '
           f'Model {fragments.esc(blessing.properties.get("current_model_id", "?"))}'
           + (f', baseline Model {fragments.esc(blessing.properties["baseline_model_id"])}'
              if blessing.properties.get('baseline_model_id') else ', no baseline yet')
           + '.</p>']
  evaluations = run.of_type('ModelEvaluation')
  if evaluations:
    import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
    try:
      result = tfma.load_validation_result(evaluations[-1].uri)
    except Exception:  # pylint: disable=broad-except
      result = None
    failures = []
    if result is not None:
      for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
          failures.append({'slice': evaluation_lib.slice_label(
              evaluation_lib._slice_of(per_slice.slice_key)),  # pylint: disable=protected-access
                           'metric': failure.metric_key.name,
                           'class_id': (failure.metric_key.sub_key.class_id.value
                                        if failure.metric_key.sub_key.HasField('class_id') else None),
                           'value': failure.metric_value.double_value.value,
                           'message': failure.message})
    if failures:
      parts.append('<h3>Failed thresholds</h3>' + fragments.table(
          failures, ['slice', 'metric', 'class_id', 'value', 'message'],
          formats={'slice': fragments.esc, 'metric': fragments.esc, 'message': fragments.esc,
                   'class_id': lambda v: '-' if v is None else str(v)},
          row_class=lambda r: 'bad'))
    elif result is not None:
      parts.append('<p>Every threshold of the EvalConfig passed.</p>')
  return ''.join(parts)
