"""The production loop, simulated month by month (python -m cli.loop, make loop).

  plan        the months: what the world does, where the training data comes
              from, and what the system should decide (the expected call)
  world       the generated world (data.generator, one span per month) split
              into each month's labelled data and its live traffic, and the
              descriptions the loop trains with
  server      a real model server process (cli.serve on loopback, admin token)
  traffic     a month's requests to that server, keyed by application id
  alarm       the live-quality alert rules (monitoring.rules) evaluated by
              promtool on the figures cli.labels exported
  month_result what a month did, what it should have done, whether they agree
  simulation  one month after another: labels, alarm, harvest, pipeline,
              traffic; each decision with its ML Metadata lineage id
  table       the closing table, as text, JSON and an HTML page

Every step runs the project's own commands as processes (local_runner.py,
cli.serve, cli.labels, cli.harvest, data.generator, data.delayed_labels), as an
operator would. Layer: above span_runs, below cli.
"""
