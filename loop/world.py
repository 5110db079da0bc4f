"""The simulated world: one generated period per month, split in two.

Period p (the generator's span p) holds that month's applications. Half of
them, with outcomes, are the labelled data the warehouse hands the pipeline
(span p of the loop's data root, with the labelers' file of those rows); the
other half are live traffic: sent to the model server without outcomes, and
their labels (data.delayed_labels) arrive a month later. The halves share the
generator's ids, so labels, request log and harvested spans join on them.

The generator runs as its command (python -m data.generator) once per period
with the schedule so far: spans are independent streams, so period p is the
same whatever comes after it, and a slice to collect more of can be decided
after the month before it. Collecting more of a slice changes what the
warehouse labels, not who applies: the labelled half then comes from a second
generation of the period with the slice's share raised, the traffic from the
ordinary one (their ids cannot meet: one takes the odd rows, the other the
even ones).
"""

import copy
import csv
import os
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

import yaml

from pipeline import configs

COLLECTABLE = 'age_band'   # the slice column the generator can collect more of
# A band's share of the warehouse's labelled applications once collected on
# purpose (the generator's default shares are 10-32%).
COLLECTED_SHARE = 0.45
# Concept drift twice as far as the generator's default (debt-to-income's
# weight x4, credit score's x0.25): at the default, a model of the clean
# world lost 0.005 of live accuracy (0.774 -> 0.769 on 3000 labels), too
# little for any alarm to be right about; at 2 a clean model drops from 0.80
# to 0.71 and one trained on the drifted world scores 0.80 again.
CONCEPT_STRENGTH = 2.0
# The broken configuration's batch: larger than any span, so an epoch is one step.
DEGRADED_BATCH_SIZE = 1_000_000
DEGRADED_CONFIGURATION = ('one gradient step: batch size 1,000,000 (the whole span), '
                          '1 epoch')


def _run(args: List[str], log_path: str, timeout: float = 1800) -> subprocess.CompletedProcess:
  done = subprocess.run([sys.executable] + args, capture_output=True, text=True,
                        timeout=timeout, cwd=configs.REPO_ROOT,
                        env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
  with open(log_path, 'a') as f:
    f.write(f'$ {" ".join(args)}\n(exit {done.returncode})\n{done.stdout}\n{done.stderr}\n')
  return done


class World:
  """Generated periods under <root>/world, the loop's data root <root>/data."""

  def __init__(self, root: str, rows_per_month: int, seed: int, schedule: Dict[int, str],
               log_path: str):
    self.root = root
    self.rows = rows_per_month * 2  # half labelled data, half traffic
    self.seed = seed
    self.schedule = dict(schedule)
    self.slice_share: Dict[int, Tuple[str, float]] = {}  # period -> (age band, share)
    self.log_path = log_path
    self.data_root = os.path.join(root, 'data')
    self.labels_dir = os.path.join(root, 'labels')
    os.makedirs(os.path.join(self.data_root, 'labelers'), exist_ok=True)
    os.makedirs(self.labels_dir, exist_ok=True)

  def _period_dir(self, period: int, collected: bool = False) -> str:
    return os.path.join(self.root, 'world',
                        f'period-{period}' + ('-collected' if collected else ''))

  def _collected(self, period: int) -> bool:
    return period in self.slice_share

  def generate(self, period: int) -> None:
    self._generate(period, collected=False)
    if self._collected(period):
      self._generate(period, collected=True)

  def _generate(self, period: int, collected: bool) -> None:
    out = self._period_dir(period, collected)
    if os.path.exists(os.path.join(out, 'generation.json')):
      return
    sched = ','.join(f'{p}={s}' for p, s in sorted(self.schedule.items()) if p <= period)
    args = ['-m', 'data.generator', '--out', out, '--spans', str(period), '--rows',
            str(self.rows), '--seed', str(self.seed), '--quiet', '--overwrite',
            '--schedule', sched or f'{period}=clean',
            '--concept-strength', str(CONCEPT_STRENGTH)]
    if collected:
      band, share = self.slice_share[period]
      args += ['--age-band-share', f'{period}={band}:{share}']
    done = _run(args, self.log_path, timeout=600)
    if done.returncode != 0:
      raise RuntimeError(f'data.generator failed for period {period}: {done.stderr[-2000:]}')

  def _rows(self, period: int, collected: bool):
    path = os.path.join(self._period_dir(period, collected), f'span-{period}', 'data.csv')
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      return reader.fieldnames, list(reader)

  def _halves(self, period: int):
    """(fields, the warehouse's labelled rows, the traffic's rows)."""
    fields, rows = self._rows(period, collected=False)
    labelled = rows[0::2]
    if self._collected(period):
      labelled = self._rows(period, collected=True)[1][0::2]
    return fields, labelled, rows[1::2]

  def labelled_span(self, period: int) -> str:
    """Span `period` of the data root: the labelled half and its labelers' file."""
    fields, labelled, _ = self._halves(period)
    span_dir = os.path.join(self.data_root, f'span-{period}')
    os.makedirs(span_dir, exist_ok=True)
    _write_csv(os.path.join(span_dir, 'data.csv'), fields, labelled)
    self.copy_labelers(period, period, collected=self._collected(period))
    return span_dir

  def copy_labelers(self, period: int, span: int, collected: bool = False) -> None:
    """The labelers' answers of period `period` for the rows of span `span` (ids join;
    the labelers' sample covered the whole period, the span holds part of it)."""
    with open(os.path.join(self.data_root, f'span-{span}', 'data.csv'), newline='') as f:
      ids = {row['application_id'] for row in csv.DictReader(f)}
    with open(os.path.join(self._period_dir(period, collected), 'labelers',
                           f'span-{period}.csv'), newline='') as f:
      reader = csv.DictReader(f)
      fields, rows = reader.fieldnames, [r for r in reader if r['application_id'] in ids]
    _write_csv(os.path.join(self.data_root, 'labelers', f'span-{span}.csv'), fields, rows)

  def traffic(self, period: int) -> List[Dict[str, str]]:
    """The live half of period `period` as the loan system sends it: no outcome."""
    _, _, live = self._halves(period)
    return live

  def labels_file(self, period: int, description_path: str) -> str:
    """The delayed labels of the traffic of `period` (python -m data.delayed_labels)."""
    fields, _, live = self._halves(period)
    live_csv = os.path.join(self.labels_dir, f'.traffic-{period}.csv')
    _write_csv(live_csv, fields, live)
    out = os.path.join(self.labels_dir, f'period-{period}.csv')
    done = _run(['-m', 'data.delayed_labels', '--span-csv', live_csv, '--out', out,
                 '--description', description_path], self.log_path, timeout=600)
    os.remove(live_csv)  # it holds the applicants' personal data
    if done.returncode != 0:
      raise RuntimeError(f'data.delayed_labels failed: {done.stderr[-2000:]}')
    return out


def _write_csv(path: str, fields, rows) -> None:
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=fields, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)


def write_descriptions(out_dir: str, epochs: int, small: bool) -> Dict[str, str]:
  """The loop's descriptions: normal, degraded (a broken training configuration
  behind a lax gate), after_alarm (label drift warns: the alarm confirmed the
  concept changed, so the harvest's new label relationship is the point) and
  collected (drift warns: a span where one slice was collected on purpose)."""
  with open(configs.DEFAULT_DESCRIPTION) as f:
    raw = yaml.safe_load(f)
  raw['training'].update(epochs=epochs)
  if small:
    # Small months: fewer slices for the Evaluator, floors a 2-epoch model on a
    # few thousand rows can pass (the rare class has a dozen eval rows).
    raw['protected_attributes'], raw['tags'] = ['age_band'], []
    raw.pop('slices', None)
    raw['training'].update(early_stopping_patience=2)
    # A retrain on the serving model's own world scores within noise of it:
    # two such models disagreeing on ~10% of a 600-row eval split differ in
    # accuracy with an SE of ~0.013, so the default 0.01 tolerance refuses an
    # equally good model about one time in five (a CI run's month 6 was).
    # 0.03 is over 2 SE; a real regression (month 4's, 0.5 below) is still
    # refused.
    raw['evaluation'].update(min_accuracy=0.6, min_rare_class_recall=0.0,
                             fairness_thresholds=[0.5], max_accuracy_drop=0.03)
  variants = {'normal': raw}
  degraded = copy.deepcopy(raw)
  # Broken, yet it passes the Trainer's sanity check and a lax gate: a batch
  # as large as the span and one epoch, so the model takes a single gradient
  # step and serves what is nearly its random initialisation (on span 4 of
  # the small run: accuracy 0.31 on the eval split, 44% of cases called a
  # default against 2% of the labels). The sanity check fits its own 128-example batch
  # for up to 600 steps, so it still passes, as it would for this mistake.
  degraded['training'].update(epochs=1, batch_size=DEGRADED_BATCH_SIZE)
  degraded['evaluation'].update(min_accuracy=0.05, min_rare_class_recall=0.0,
                                max_accuracy_drop=1.0)
  variants['degraded'] = degraded
  after_alarm = copy.deepcopy(raw)
  # The alarm confirmed the outcome's relation to the inputs changed, so the
  # harvest's new class rates and label relationship are what it must learn;
  # the inputs still have to pass the gate.
  after_alarm['validation']['label_drift']['action'] = 'warn'
  after_alarm['columns'][after_alarm['label']['column']]['drift'] = 'warn'
  variants['after_alarm'] = after_alarm
  collected = copy.deepcopy(raw)
  # More of one age band on purpose: the inputs that go with age (employment
  # years and type, a thin credit file) and the class rates move because the
  # mix was changed deliberately; the gate reports the moves as warnings.
  collected['validation']['drift_default'] = 'warn'
  collected['validation']['label_drift']['action'] = 'warn'
  variants['collected'] = collected
  paths = {}
  os.makedirs(out_dir, exist_ok=True)
  for name, content in variants.items():
    paths[name] = os.path.join(out_dir, f'{name}.yaml')
    with open(paths[name], 'w') as f:
      yaml.safe_dump(content, f, sort_keys=False)
  return paths


def top_slice(hlp_json: Optional[dict]) -> Optional[Dict[str, object]]:
  """The first row of the error analysis's what-to-work-on table."""
  rows = ((hlp_json or {}).get('tables') or {}).get('what_to_work_on') or []
  return rows[0] if rows else None


def slice_gap(hlp_json: Optional[dict], column: str, value: str,
              model: str = 'model') -> Optional[float]:
  """HLP minus a model's accuracy on one slice of a HumanLevelPerformance
  report: `model` is the new model's column, or hlp_report.BLESSED_MODEL_COLUMN
  for the model it would replace (on the same examples, against the same HLP)."""
  for table in ('what_to_work_on', 'not_ranked'):
    for row in ((hlp_json or {}).get('tables') or {}).get(table) or []:
      if row.get('slice_column') == column and str(row.get('slice_value')) == value:
        if row.get('hlp') is None or row.get(model) is None:
          return None
        return float(row['hlp']) - float(row[model])
  return None
