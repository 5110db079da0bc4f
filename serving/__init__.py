"""Model serving: a TensorFlow-Serving-compatible REST server with progressive delivery.

Modules (see serving/README.md): server (ModelServer, the facade), http_app
(Tornado listeners and limits), request_body, admin (bearer-token admin API),
config (Limits), predictor (predict path, request log, shadow), router
(labels, canary, lease, shadow, blue-green, rejection), routing_store (the
durable routing state), model_store and contract (loading, smoke test),
status, metrics, request_log, rest_codec, responses. Command line: cli/serve.py.
"""
