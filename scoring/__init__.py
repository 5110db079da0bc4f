"""Batch scoring: a CSV (or a directory of CSVs, of any size) through a pushed model.

  versions.py   which version scores: the rollout's stable one, else the newest,
                or one named by the caller
  rows.py       the input files: refused on a broken header before anything is
                written, cut into byte ranges, read into batches and rejects
  predict.py    a batch of rows through the model's raw-value signature into
                output CSV lines
  job.py        the Beam pipeline joining them, its output files and counts

The command is `python -m cli.score` (cli/score.py).
"""
