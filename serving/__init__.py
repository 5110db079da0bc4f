"""Model serving: a TensorFlow-Serving-compatible REST server with progressive delivery.

Modules:
  server       ModelServer (HTTP API, admin API, CLI: python -m serving.server)
  model_store  ModelStore / LoadedModel: loading, contract check, smoke test
  router       Router: labels, sticky canary split, shadow, blue-green, rollback
  monitoring   ServingMetrics: Prometheus software/input/output metrics
  request_log  RequestLog / RequestLogReader: JSON Lines log per model version
  rest_codec   TF Serving JSON <-> tensors
  toy_model    a SavedModel with the Trainer's serving contract (tests, benchmark)
"""
