"""The commented YAML of a drafted description (see description/draft.py).

Written by hand rather than by yaml.dump so that every guess sits as a
comment beside the field it explains.
"""

import json
import math
import os
import re
from typing import List, Sequence

import yaml

# Fewer rows than this: too few to learn or evaluate a class (flagged for
# review; never proposed as the rare class).
MIN_CLASS_ROWS = 30


def _scalar(value: str) -> str:
  """A YAML scalar that reads back as this exact string (no, on, 1e3 are not)."""
  if re.fullmatch(r'[A-Za-z_][A-Za-z0-9_.-]*', value) and yaml.safe_load(value) == value:
    return value
  return json.dumps(value)


def _flow(values: Sequence[str]) -> str:
  return '[' + ', '.join(_scalar(v) for v in values) + ']'


def dataset_name(path: str) -> str:
  stem = os.path.splitext(os.path.basename(os.path.abspath(path)))[0]
  return re.sub(r'[^a-z0-9_]+', '_', stem.lower()).strip('_') or 'dataset'


def _columns_section(columns: Sequence) -> List[str]:
  width = max(len(_scalar(c.name)) for c in columns) + 1
  lines = []
  for c in columns:
    fields = f'type: {c.type + ",":<7} treatment: {c.treatment}'
    if c.buckets:
      fields += f', buckets: {c.buckets}'
    line = f'  {_scalar(c.name) + ":":<{width}} {{{fields}}}'
    if c.notes:
      line = f'{line:<70}  # ' + '; '.join(c.notes)
    lines.append(line)
  return lines


def _label_section(label) -> List[str]:
  total = sum(label.counts.values())
  counts = ', '.join(f'{k} {v} ({v / total:.1%})' for k, v in label.counts.items())
  lines = ['label:', f'  column: {_scalar(label.column)}',
           f'  # In the sample: {counts}.',
           '  # The order defines the class ids the model predicts (most frequent first).',
           f'  classes: {_flow(label.classes)}']
  tiny = [k for k, n in label.counts.items() if n < MIN_CLASS_ROWS]
  if tiny:
    lines.insert(2, f'  # REVIEW: {tiny} have under {MIN_CLASS_ROWS} rows: too few to learn '
                 f'or evaluate; merge or drop them upstream.')
  if label.missing:
    lines.insert(2, f'  # REVIEW: {label.missing} sampled rows have no label; the CSV '
                 f'checks reject unlabeled training rows: drop them first.')
  if label.rare_class is not None:
    lines += [f'  # The least frequent class with {MIN_CLASS_ROWS}+ rows, well under an '
              'even share: its recall is',
              '  # reported per slice (and can be gated, see evaluation).',
              f'  rare_class: {_scalar(label.rare_class)}']
  ratio = max(label.counts.values()) / min(label.counts.values())
  lines += [f'  # Largest class / smallest: {ratio:.1f}x. none | inverse_frequency | '
            f'sqrt_inverse_frequency', f'  class_weighting: {label.class_weighting}']
  return lines


def _evaluation_section(label) -> List[str]:
  majority = label.classes[0]
  share = label.counts[majority] / sum(label.counts.values())
  lines = ['evaluation:', '  # A candidate is blessed only if it passes all of these.',
           f'  # Always predicting {majority!r} scores {share:.2f}: do at least as well.',
           f'  min_accuracy: {math.floor(share * 100) / 100:.2f}',
           '  # Against the last blessed model: accuracy may not drop by more than this.',
           '  max_accuracy_drop: 0.01']
  if label.rare_class is not None:
    lines += ['  # No floor yet for the rare class\'s recall: set the one you need '
              '(the default data uses 0.30).', '  min_rare_class_recall: 0.0']
  return lines + ['  fairness_thresholds: [0.5]']


def render(sample, columns: Sequence, label,
           name: str, command: str) -> str:
  """The commented YAML description of a draft.Sample's draft.ColumnDrafts and
  draft.LabelDraft."""
  sampled = len(sample.frame)
  origin = (f'all {sampled:,} rows' if sampled >= sample.total_rows
            else f'a random sample of {sampled:,} of {sample.total_rows:,} rows')
  ids = [c.name for c in columns if c.role == 'id']
  protected = [c.name for c in columns if c.role == 'protected']
  personal = [c.name for c in columns if c.role == 'personal']
  lines = [
      f'# Drafted from the data by `{command}`,',
      f'# from {origin} of {len(sample.files)} file(s). Every guess is a comment:',
      '# read them, change what is wrong, then run',
      '#   python local_runner.py --description THIS_FILE',
      '# (field reference: data/descriptions/credit_risk.yaml, description/__init__.py)',
  ]
  if personal:
    lines.append(f'# REVIEW personal data: {personal} (excluded from the model).')
  lines += [f'name: {_scalar(name)}', f'summary: {json.dumps("Drafted from " + os.path.basename(sample.files[0]))}',
            '', 'input:', '  # Where the CSVs are; --data-root overrides it.',
            f'  default_root: {json.dumps(sample.data_root)}',
            ('  # Relative to the data root; {SPAN} is a span number (the latest unless '
             '--span).' if '{SPAN}' in sample.pattern
             else '  # Relative to the data root: one snapshot, no spans.'),
            f'  pattern: {json.dumps(sample.pattern)}', '']
  if ids:
    lines += ['# Unique per row in the sample: the key of a row (joins labels and request',
              '# logs), never a feature.', f'id_column: {_scalar(ids[0])}', '']
  lines += _label_section(label)
  lines += ['', '# type: int | float | string, as the values parse.',
            '# treatment: scale (z-score, missing -> mean plus an indicator), vocabulary',
            '# (ids, one out-of-vocabulary bucket), bucketize (quantiles), exclude.',
            'columns:'] + _columns_section(columns)
  lines += ['', '# Slices for fairness analysis, never model inputs.',
            f'protected_attributes: {_flow(protected)}',
            '# Metadata columns (channel, branch, ...) to slice errors by, never inputs.',
            'tags: []', '',
            '# Relative sizes of the splits. Below stratify_below_rows rows, splits are',
            '# stratified by label.',
            'splits: {train: 8, eval: 2, stratify_below_rows: 10000}', '',
            '# The default dataset\'s settings; early stopping ends training sooner.',
            'training:', '  epochs: 20', '  batch_size: 256', '  hidden_units: [64, 32]',
            '  learning_rate: 0.002', '  early_stopping_patience: 3', '']
  lines += _evaluation_section(label)
  return '\n'.join(lines) + '\n'
