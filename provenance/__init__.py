"""Provenance and review of pipeline runs, read from ML Metadata.

  lineage      what a model was built from (upstream) and what was built from
               a span, a file or an artifact (downstream: the blast radius)
  experiments  the experiment table: one row per pipeline run
  record       writes the code version and hyperparameters onto a run's
               executions (called by local_runner.py after a run)
  evaluation   TFMA metrics as flat rows; per-slice fairness gaps
  report       one self-contained HTML report per pipeline run

Command line: `python -m cli.provenance {model,blast-radius,runs,report} --help`.
MLMD is the only store: nothing here keeps a second record of a run.
"""
