"""Delayed ground truth: labels joined to the request log, live quality per
served version, and the next span harvested from what production saw.

  labels    read label files keyed by the description's id_column (partial,
            repeated, conflicting), with counts of everything skipped
  join      request-log records x labels -> labelled predictions per version
  quality   accuracy, per-class precision/recall/F1, per slice, Wilson CIs
  export    the figures as Prometheus metrics (a textfile, bounded labels)
  record    the figures (and harvests) in ML Metadata, linked to the pushes
  harvest   labelled requests -> the next span's CSV plus a row manifest
  period    [since, until) from dates, times or epochs
  skipped   counts of what was left out, with reasons and examples

Every reader counts what it skipped and why (`Skipped`); nothing is dropped
without a count and a reason the commands print.
"""
