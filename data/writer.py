"""Writing a generated dataset: spans of CSV chunks, labelers files, the record.

The whole dataset is written into a sibling staging directory and renamed
into place at the end, so readers never see a half-written dataset.
"""

import json
import os
import shutil
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from data import labelers
from data import personal
from data import process
from data import record
from data import rows as rows_lib
from data import sampling
from data.process import CLASSES
from data.process import LABELER_COLUMNS


def _log(msg: str) -> None:
  print(f'[data.generator] {msg}', file=sys.stderr, flush=True)


def _write_csv(frame: pd.DataFrame, handle, header: bool) -> None:
  frame.to_csv(handle, index=False, header=header, lineterminator='\n',
               na_rep='')


_OWN_ENTRY_PREFIXES = ('span-', 'labelers', 'generation.json')


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
  if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
    raise FileExistsError(f'{out_dir} exists and is not a directory')
  if os.path.isdir(out_dir):
    entries = sorted(os.listdir(out_dir))
    if entries and not overwrite:
      raise FileExistsError(
          f'refusing to write into non-empty directory {out_dir!r} '
          f'(contains {entries[:5]}); pass overwrite=True / --overwrite to '
          'replace a previously generated dataset')
    foreign = [e for e in entries if not e.startswith(_OWN_ENTRY_PREFIXES)]
    if foreign and 'generation.json' not in entries:
      raise FileExistsError(
          f'refusing to overwrite {out_dir!r}: it does not look like a '
          f'generated dataset (no generation.json; contains {foreign[:5]})')


def _rates(counts: np.ndarray) -> Dict[str, float]:
  total = max(int(counts.sum()), 1)
  return {c: round(float(counts[i]) / total, 6) for i, c in enumerate(CLASSES)}


def generate(out_dir: str = process.DEFAULT_OUT, spans: int = 3,
             rows_per_span: int = 20000, scenario: str = 'clean',
             seed: int = 42, labeler_fraction: float = 0.05,
             overwrite: bool = False, verbose: bool = True,
             schedule: Optional[Dict[int, str]] = None,
             age_band_share: Optional[Dict[int, Tuple[str, float]]] = None,
             concept_strength: float = 1.0) -> Dict[str, Any]:
  """Writes the dataset under `out_dir`; returns a summary dict.

  `schedule` (span -> scenario) and `age_band_share` (span -> (age band,
  share)): see process.span_process.

  The whole dataset is written into a sibling staging directory and renamed
  into place at the end, so readers never see a half-written dataset.
  """
  if scenario not in process.SCENARIOS:
    raise ValueError(f'scenario must be one of {process.SCENARIOS}, got {scenario!r}')
  if int(spans) < 1 or int(rows_per_span) < 1:
    raise ValueError('spans and rows_per_span must be >= 1')
  if scenario != 'clean' and spans < 2 and schedule is None:
    raise ValueError(f'scenario {scenario!r} drifts the last span relative to '
                     'the previous one; it needs spans >= 2')
  if not 0.0 <= labeler_fraction <= 1.0:
    raise ValueError('labeler_fraction must be within [0, 1]')
  spans, rows_per_span, seed = int(spans), int(rows_per_span), int(seed)
  out_dir = os.path.abspath(out_dir)
  _prepare_out_dir(out_dir, overwrite)
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  staging = os.path.join(parent,
                         f'.{os.path.basename(out_dir)}.tmp-{os.getpid()}')
  if os.path.exists(staging):
    shutil.rmtree(staging)
  os.makedirs(os.path.join(staging, 'labelers'))
  t_start = time.time()
  span_records: List[Dict[str, Any]] = []
  try:
    for span in range(1, spans + 1):
      span_records.append(_write_span(staging, span, spans, rows_per_span,
                                      scenario, seed, labeler_fraction,
                                      verbose, schedule, age_band_share,
                                      concept_strength))
    meta = record.generation_record(spans, rows_per_span, scenario, seed,
                              labeler_fraction, span_records)
    if schedule is not None or age_band_share:
      meta['parameters']['schedule'] = {str(k): v for k, v in sorted((schedule or {}).items())}
      meta['parameters']['age_band_share'] = {
          str(k): list(v) for k, v in sorted((age_band_share or {}).items())}
    if concept_strength != 1.0:
      meta['parameters']['concept_strength'] = concept_strength
    with open(os.path.join(staging, 'generation.json'), 'w') as f:
      json.dump(meta, f, indent=2, sort_keys=False)
      f.write('\n')
    _swap_into_place(staging, out_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  seconds = time.time() - t_start
  if verbose:
    _log(f'wrote {spans} span(s) x {rows_per_span} rows to {out_dir} '
         f'in {seconds:.1f}s')
  counts = sum(np.array([r['class_counts'][c] for c in CLASSES])
               for r in span_records)
  return {
      'out_dir': out_dir,
      'generation_json': os.path.join(out_dir, 'generation.json'),
      'scenario': scenario,
      'seed': seed,
      'rows_total': int(sum(r['rows'] for r in span_records)),
      'class_rates': _rates(counts),
      'spans': [{
          'span': r['span'], 'month': r['month'], 'rows': r['rows'],
          'drifted': r['drifted'], 'class_rates': r['class_rates'],
          'data_csv': os.path.join(out_dir, r['data_csv']),
          'labelers_csv': os.path.join(out_dir, r['labelers']['path']),
          'labeled_rows': r['labelers']['rows'],
      } for r in span_records],
      'seconds': round(seconds, 2),
  }


def _swap_into_place(staging: str, out_dir: str) -> None:
  if os.path.isdir(out_dir) and not os.listdir(out_dir):
    os.rmdir(out_dir)
  if os.path.exists(out_dir):
    old = f'{staging}.old'
    if os.path.exists(old):
      shutil.rmtree(old)
    os.rename(out_dir, old)
    try:
      os.rename(staging, out_dir)
    except BaseException:
      os.rename(old, out_dir)  # put the previous dataset back
      raise
    shutil.rmtree(old)
  else:
    os.rename(staging, out_dir)


def _write_span(root: str, span: int, spans: int, rows: int, scenario: str,
                seed: int, labeler_fraction: float, verbose: bool,
                schedule: Optional[Dict[int, str]] = None,
                age_band_share: Optional[Dict[int, Tuple[str, float]]] = None,
                concept_strength: float = 1.0) -> Dict[str, Any]:
  p = process.span_process(process.BASE_PARAMS, scenario, span, spans, schedule,
                           age_band_share, concept_strength)
  active = process.scenario_of(scenario, span, spans, schedule)
  drifted = active != 'clean'
  span_dir = os.path.join(root, f'span-{span}')
  os.makedirs(span_dir)
  data_rel = os.path.join(f'span-{span}', 'data.csv')
  lab_rel = os.path.join('labelers', f'span-{span}.csv')
  n_labeled = int(round(labeler_fraction * rows))
  labeled = np.sort(sampling.rng_for(seed, span, sampling.STREAM_LABELER_SAMPLE).choice(
      rows, size=n_labeled, replace=False))
  counts = np.zeros(len(CLASSES), dtype=np.int64)
  weak_rows = 0
  lab_weak = 0
  t0 = time.time()
  with open(os.path.join(root, data_rel), 'w', newline='') as data_f, \
      open(os.path.join(root, lab_rel), 'w', newline='') as lab_f:
    lab_f.write(','.join(('application_id',) + LABELER_COLUMNS) + '\n')
    for chunk, start in enumerate(range(0, rows, process.CHUNK_ROWS)):
      n = min(process.CHUNK_ROWS, rows - start)
      out = rows_lib.generate_rows(p, sampling.rng_for(seed, span, sampling.STREAM_FEATURES, chunk), n,
                          span, start)
      frame = personal.with_personal_data(
          out['frame'], sampling.rng_for(seed, span, sampling.STREAM_PII, chunk))
      _write_csv(frame, data_f, header=chunk == 0)
      counts += np.bincount(out['outcome_idx'], minlength=len(CLASSES))
      weak_rows += int(out['weak'].sum())
      lo, hi = np.searchsorted(labeled, [start, start + n])
      local = labeled[lo:hi] - start
      if len(local):
        given = labelers.label_rows(sampling.rng_for(seed, span, sampling.STREAM_LABELS, chunk),
                           out['outcome_idx'][local], out['weak'][local])
        lab_weak += int(out['weak'][local].sum())
        names = np.array(CLASSES, dtype=object)
        lab = pd.DataFrame({'application_id':
                            out['frame']['application_id'].to_numpy()[local]})
        for j, col in enumerate(LABELER_COLUMNS):
          lab[col] = names[given[:, j]]
        _write_csv(lab, lab_f, header=False)
      if verbose:
        _log(f'span {span}/{spans} ({sampling.span_month(span)}'
             f'{", drifted: " + active if drifted else ""}): '
             f'{start + n}/{rows} rows ({time.time() - t0:.1f}s)')
  probs = labelers.labeler_probabilities()['accuracy']
  weak_share = lab_weak / n_labeled if n_labeled else 0.0
  expected = {name: round((1 - weak_share) * a['other'] +
                          weak_share * a[process.WEAK_SLICE['value']], 6)
              for name, a in probs.items()}
  return {
      'span': span,
      'month': sampling.span_month(span),
      'data_csv': data_rel,
      'rows': rows,
      'first_id': f'S{span:02d}-{1:07d}',
      'drifted': drifted,
      'scenario': active,
      'class_counts': {c: int(counts[i]) for i, c in enumerate(CLASSES)},
      'class_rates': _rates(counts),
      'weak_slice_rows': weak_rows,
      'labelers': {'path': lab_rel, 'rows': n_labeled,
                   'weak_slice_rows': lab_weak,
                   'expected_accuracy': expected},
  }

