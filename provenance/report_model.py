"""Run report sections about the model's evaluation: sliced metrics, fairness, per class, blessing."""

import dataclasses
from typing import Optional

import reports
from provenance import evaluation as evaluation_lib
from provenance import views
from provenance.report_run import Run, of_type, section


def _rows(run: Run, artifacts):
  return run.metric_rows(artifacts[-1].uri)


@section('evaluation', 'Evaluation: sliced metrics', of_type('ModelEvaluation'))
def _evaluation(run: Run, artifacts) -> str:
  rows = _rows(run, artifacts)
  rare = run.rare_class_id
  rare_name = run.spec.rare_class if run.spec else 'rare class'
  comparison = evaluation_lib.baseline_comparison(rows, rare)
  columns = run.spec.slice_columns if run.spec else []
  table = evaluation_lib.sliced_table(rows, rare, columns,
                                      run.positives(artifacts[-1].uri))
  overall = table[0]['accuracy'] if table else None
  return reports.render(
      'run_evaluation.html.j2', label=artifacts[-1].label, uri=artifacts[-1].uri,
      rare=rare, rare_name=rare_name,
      comparison=comparison and views.table(
          comparison, ['metric', 'candidate', 'baseline', 'diff'],
          row_class=lambda r: 'bad' if (r['diff'] or 0) < -0.01 else ''),
      slices=views.table(
          table, ['slice', 'examples', 'positives', 'accuracy', 'recall', 'precision', 'auc'],
          kinds={'accuracy': 'bar', 'recall': 'bar', 'examples': 'count', 'positives': 'count'},
          row_class=lambda r: ('overall' if r['slice'] == 'overall' else
                               'warn' if (overall is not None and r['accuracy'] is not None and
                                          r['accuracy'] < overall - 0.05) else ''),
          headers={'positives': f'{rare_name} examples', 'recall': f'recall ({rare_name})',
                   'precision': f'precision ({rare_name})', 'auc': f'AUC ({rare_name})'}))


@section('fairness', 'Fairness gaps across protected attributes', of_type('ModelEvaluation'))
def _fairness(run: Run, artifacts) -> Optional[str]:
  if not run.spec or not run.spec.protected_attributes:
    return None
  rows = _rows(run, artifacts)
  rare = run.rare_class_id
  threshold = run.spec.evaluation.fairness_gap_threshold
  if threshold is None:
    threshold = evaluation_lib.DEFAULT_GAP_THRESHOLD
  gaps = evaluation_lib.fairness_gaps(rows, run.spec.protected_attributes, rare, threshold,
                                      positives=run.positives(artifacts[-1].uri))
  flagged = [g for g in gaps if g.flagged]
  table = [dict(dataclasses.asdict(g), small=', '.join(g.slices_too_small)) for g in gaps]
  own = evaluation_lib.candidate(rows)
  overall_recall = evaluation_lib.value(own, 'recall', class_id=rare)
  charts = []
  for attribute in run.spec.protected_attributes:
    items = [(evaluation_lib.slice_label(s).split('=', 1)[1],
              evaluation_lib.value(own, 'recall', s, class_id=rare))
             for s in evaluation_lib.slices_of(own, attribute)]
    worst = [g.worst.split('=', 1)[1] for g in flagged
             if g.attribute == attribute and g.metric == 'recall']
    charts.append(views.svg_bars(items, overall_recall,
                                 f'{attribute}: recall of {run.spec.rare_class} (dashed: overall)',
                                 highlight=worst))
  return reports.render(
      'run_fairness.html.j2', rare_name=run.spec.rare_class, threshold=threshold,
      min_slice=evaluation_lib.MIN_SLICE_EXAMPLES, min_class=evaluation_lib.MIN_CLASS_EXAMPLES,
      flagged=len(flagged), charts=charts,
      gaps=views.table(table, ['attribute', 'metric', 'gap', 'worst', 'worst_value', 'best',
                               'best_value', 'slices_used', 'small'],
                       kinds={'slices_used': 'text'},
                       headers={'small': 'left out (small)', 'slices_used': 'slices'},
                       row_class=lambda r: 'bad' if r['flagged'] else ''))


@section('per-class', 'Per-class metrics (overall)', of_type('ModelEvaluation'))
def _per_class(run: Run, artifacts) -> Optional[str]:
  if not run.spec:
    return None
  table = evaluation_lib.per_class(_rows(run, artifacts), run.spec.classes)
  rare = run.rare_class_id
  confusion = run.confusion(artifacts[-1].uri).get(evaluation_lib.OVERALL, {})
  for row in table:
    row['examples'] = sum(n for (a, _), n in confusion.items() if a == row['class_id'])
  matrix = None
  if confusion:
    classes = run.spec.classes
    matrix = views.table(
        [dict({'actual': actual}, **{predicted: confusion.get((a, p), 0.0)
                                     for p, predicted in enumerate(classes)})
         for a, actual in enumerate(classes)],
        ['actual'] + list(classes), kinds={c: 'count' for c in classes})
  return reports.render(
      'run_per_class.html.j2', confusion=matrix,
      classes=views.table(table, ['class', 'class_id', 'examples', 'precision', 'recall',
                                  'f1_score', 'auc', 'calibration'],
                          kinds={'class_id': 'text', 'recall': 'bar', 'examples': 'count'},
                          row_class=lambda r: 'rare' if r['class_id'] == rare else ''))


@section('blessing', 'Blessing', of_type('ModelBlessing'))
def _blessing(run: Run, artifacts) -> str:
  blessing = artifacts[-1]
  result = None
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
  return reports.render(
      'run_blessing.html.j2', blessed=bool(blessing.properties.get('blessed')),
      label=blessing.label, model_id=blessing.properties.get('current_model_id', '?'),
      baseline_id=blessing.properties.get('baseline_model_id'),
      validated=result is not None,
      failures=failures and views.table(
          failures, ['slice', 'metric', 'class_id', 'value', 'message'],
          kinds={'class_id': 'dash'}, row_class=lambda r: 'bad'))
