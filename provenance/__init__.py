"""Provenance and review of pipeline runs, read from ML Metadata (layer 3).

  lineage      what a model was built from (upstream) and what was built from
               a span, a file or an artifact (downstream: the blast radius);
               nodes.py holds the answers' dataclasses, sources.py the input
               files and their fingerprint
  experiments  the experiment table: one row per pipeline run
  record       writes the code version and hyperparameters onto a run's
               executions
  evaluation   TFMA metrics as flat rows; per-slice fairness gaps
  data         TFDV statistics, anomalies and drift as rows
  report       one self-contained HTML report per pipeline run, through the
               `reports` kit (run_report.html.j2); report_run.py (the run and
               the section registry), report_data / report_model /
               report_after.py (the sections), views.py (tables, files and charts
               as plain data for the run_*.html.j2 templates)
  finish       after a local run: annotate, store key metrics, write the report
               (local_runner.py calls finish.finish_run)

Store access goes through metadata/ (connection, values, store). Nothing here
imports pipeline/ or components/. Command line:
`python -m cli.provenance {model,blast-radius,runs,report} --help`.
MLMD is the only store: nothing here keeps a second record of a run.
"""
