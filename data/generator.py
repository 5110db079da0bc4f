"""Synthetic credit-risk dataset generator (the pipeline's default dataset).

Deterministic, seeded and vectorised: the same seed and arguments give
byte-identical files. Every effect a production-ML practice should find is
planted on purpose and recorded in ``generation.json`` (see DATA_CARD.md):

* the label ``outcome`` (repaid / late / default, default <= 3%) comes from a
  latent risk score of the features plus noise, cut at ordinal thresholds;
* a genuinely weaker-signal slice: age_band "18-24" (thin credit files: the
  credit score is often missing and an unobserved factor adds label noise);
* a tag effect: channel "broker" reports income with extra noise;
* three labelers with known accuracies, errors on the late/default borderline;
* drift scenarios applied to the last span only (data drift, concept drift).

Layout written under ``out_dir``::

    span-<N>/data.csv          N = 1..spans (monthly spans, nothing else inside)
    labelers/span-<N>.csv      application_id,labeler_1,labeler_2,labeler_3
    generation.json            parameters and planted truths

One module per part: process (every planted parameter, the drift
scenarios), sampling (seeded streams, draws, ids), rows (one chunk of rows),
labelers, record (generation.json), writer (spans, staging, the swap into
place); this one is the command line and the names callers use.

CLI::

    python -m data.generator --out DIR --spans 3 --rows 20000 \
        --scenario clean|data_drift|concept_drift --seed 42 [--overwrite] \
        [--schedule 3=data_drift,5-7=concept_drift] [--age-band-share 7=18-24:0.45]
"""

import argparse
import json
import sys
from typing import Optional, Sequence

# The names the tests, the data card and the pipeline's fixtures use.
from data import process
from data.process import BASE_PARAMS  # pylint: disable=unused-import
from data.process import CLASSES  # pylint: disable=unused-import
from data.process import COLUMNS  # pylint: disable=unused-import
from data.process import DEFAULT_OUT
from data.process import FLOAT_COLUMNS  # pylint: disable=unused-import
from data.process import INT_COLUMNS  # pylint: disable=unused-import
from data.process import LABELER_COLUMNS  # pylint: disable=unused-import
from data.process import SCENARIOS
from data.process import TARGET_CLASS_RATES  # pylint: disable=unused-import
from data.process import span_process  # pylint: disable=unused-import
from data.rows import calibrate  # pylint: disable=unused-import
from data.rows import generate_rows  # pylint: disable=unused-import
from data.writer import generate


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m data.generator',
      description='Generate the synthetic credit-risk dataset '
                  '(see data/DATA_CARD.md).')
  parser.add_argument('--out', default=DEFAULT_OUT,
                      help=f'output directory (default: {DEFAULT_OUT})')
  parser.add_argument('--spans', type=int, default=3)
  parser.add_argument('--rows', type=int, default=20000,
                      help='rows per span (default: 20000)')
  parser.add_argument('--scenario', choices=SCENARIOS, default='clean')
  parser.add_argument('--seed', type=int, default=42)
  parser.add_argument('--labeler-fraction', type=float, default=0.05)
  parser.add_argument('--schedule', help='drift any spans instead of the last: '
                      'SPAN=SCENARIO or FIRST-LAST=SCENARIO, comma-separated, e.g. '
                      '3=data_drift,5-7=concept_drift (unnamed spans are clean)')
  parser.add_argument('--concept-strength', type=float, default=1.0,
                      help='concept drift\'s weight multipliers raised to this power '
                           '(default 1; 2 makes the same drift twice as far)')
  parser.add_argument('--age-band-share', help='collect more of one age band in some spans: '
                      'SPAN=BAND:SHARE or FIRST-LAST=BAND:SHARE, e.g. 7=18-24:0.45')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace an existing generated dataset')
  parser.add_argument('--quiet', action='store_true',
                      help='no progress on stderr')
  args = parser.parse_args(argv)
  try:
    schedule = process.parse_schedule(args.schedule) if args.schedule else None
    shares = {}
    for span, value in process.parse_schedule(args.age_band_share or '').items():
      band, sep, share = value.rpartition(':')
      if not sep:
        raise ValueError(f'--age-band-share: expected BAND:SHARE, got {value!r}')
      shares[span] = (band, float(share))
    summary = generate(args.out, spans=args.spans, rows_per_span=args.rows,
                       scenario=args.scenario, seed=args.seed,
                       labeler_fraction=args.labeler_fraction,
                       overwrite=args.overwrite, verbose=not args.quiet,
                       schedule=schedule, age_band_share=shares or None,
                       concept_strength=args.concept_strength)
  except (FileExistsError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(json.dumps(summary, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
