"""How the human-level performance report is shown: which tables, text, and the page's data.

Pure Python over the report dict (analysis/hlp_report.py builds it): the
terminal text of `python -m cli.hlp_report`, and `page(report)`, the plain
values reports/templates/hlp_report.html.j2 renders (the component writes
that page; the run report embeds its tables through hlp_tables.html.j2).
"""

import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from analysis import report_tables
from analysis.hlp_report import BLESSED_MODEL_COLUMN, REPORT_JSON

# Columns drawn with a bar behind the number, so the ranking reads at a glance.
_BAR_COLUMNS = ('potential', 'fraction_of_errors')


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
                ('model', 'hlp', 'gap', 'share', 'potential', BLESSED_MODEL_COLUMN),
                ('rank', 'slice', 'n_eval', 'n_labeled', 'model', 'hlp', 'gap',
                 'share', 'potential', 'model_above_hlp', BLESSED_MODEL_COLUMN), 30),
      TableSpec('not_ranked', 'Slices not ranked', ('model', 'hlp', BLESSED_MODEL_COLUMN),
                ('slice', 'n_eval', 'n_labeled', 'model', 'hlp', BLESSED_MODEL_COLUMN,
                 'reason')),
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


def _is_number(value) -> bool:
  return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
      value, (bool, np.bool_))


def _bar_widths(frame: pd.DataFrame) -> Dict[str, List[float]]:
  """Per _BAR_COLUMNS column, each cell's share (0-100) of the column's largest value."""
  bars = {}
  for column in _BAR_COLUMNS:
    if column in frame.columns:
      numbers = pd.to_numeric(frame[column], errors='coerce')
      top = numbers.max()
      if top and top > 0:
        bars[column] = (100 * numbers / top).fillna(0.0).tolist()
  return bars


def html_table(frame: pd.DataFrame, percent: Sequence[str] = ()) -> Dict[str, Any]:
  """A table for the template: cells formatted by report_tables (missing -> "-"),
  numbers flagged for right alignment, bar widths on _BAR_COLUMNS."""
  shown = report_tables.format_table(frame, [c for c in percent if c in frame.columns])
  bars = _bar_widths(frame)
  rows = []
  for i in range(len(frame)):
    rows.append([{'text': shown[column].iloc[i],
                  'numeric': _is_number(frame[column].iloc[i]),
                  'bar': bars[column][i] if column in bars else None}
                 for column in frame.columns])
  return {'columns': [str(c) for c in frame.columns], 'rows': rows}


def _note_of(report: Dict[str, Any], key: str) -> Optional[str]:
  notes = report['notes']
  return {'what_to_work_on': notes.get('what_to_work_on'),
          'hlp_by_slice': notes.get('samples'),
          'class_pairs': notes.get('borderline'),
          'baselines': notes.get('baselines')}.get(key)


def html_tables(report: Dict[str, Any]) -> List[Dict[str, Any]]:
  """Every table in reading order, as hlp_tables.html.j2 shows it."""
  found = []
  for spec in table_specs(report):
    frame = table_frame(report, spec.key, display=True)
    shown = frame.head(spec.max_rows * 4) if spec.max_rows else frame
    found.append({'title': spec.title, 'empty': frame.empty,
                  'table': None if frame.empty else html_table(shown, spec.percent),
                  'note': None if frame.empty else _note_of(report, spec.key),
                  'more': len(frame) - len(shown)})
  return found


def page(report: Dict[str, Any]) -> Dict[str, Any]:
  """What reports.render('hlp_report.html.j2', **page(report)) needs."""
  return {'title': f"Human-level performance: {report['meta']['dataset']}",
          'headline': '\n'.join(headline_lines(report)),
          'tables': html_tables(report), 'report_json': REPORT_JSON}
