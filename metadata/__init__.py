"""The one ML Metadata access layer (layer 1: imports nothing of ours but itself).

  connection   open_store(target, writable=False): a SQLite path, grpc://HOST:PORT
               (Kubeflow's metadata service) or mysql://USER:PASS@HOST:PORT/DB
  values       typed reads: property_value / int_property / json_property,
               properties_of, event_key, INPUT_EVENTS / OUTPUT_EVENTS
  walks        lineage walks several layers ask: last_passed / latest_passed
               (the latest span the data gate passed), trained_on (the data
               behind the latest pushed model), latest_artifact
  automation   policy_of_version / policy_of_model: the AutomationPolicy (the
               band) recorded with the model pushed as a serving version
  store        Store: a cached read view for provenance's lineage questions
  run_summary  what a run did (components, times, key artifacts)
  artifacts    the project's custom artifact types
"""
