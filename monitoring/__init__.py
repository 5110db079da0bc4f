"""Model monitoring: the live monitor over the request log, alert rules, dashboard.

  tail.py       follows the request log across rotation and restarts
  window.py     input and output metrics of a window of records
  baseline.py   a served version's training statistics, through ML Metadata
  drift.py      drift of every model input against them (TFDV, schema thresholds)
  history.py    window results, checkpoint and rejected lines on disk
  exporter.py   Prometheus metrics of the latest windows
  monitor.py    the loop that ties them together (python -m cli.monitor run)
  queries.py    the PromQL of every concern, shared by:
  rules.py      Prometheus alert rules from the description and the schema
  dashboard.py  the Grafana dashboard (grafanalib)
  thresholds.py thresholds proposed from quiet windows
  report.py     the HTML monitor report
"""
