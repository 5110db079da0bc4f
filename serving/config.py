"""The model server's limits: every bound on what one request or the whole
server may consume, in one place, with the defaults the CLI documents.

  max_body_bytes            larger bodies get 413 (chunked bodies too)
  max_instances             instances per predict request; more -> 413
  max_json_depth            nesting of the JSON body; deeper -> 400
  max_concurrent_requests   predicts admitted at once (computing or waiting for
                            one of `worker_threads`); more -> 503 with
                            Retry-After (the client should back off and retry)
  worker_threads            threads that parse and predict (TensorFlow runs
                            its own op threads inside each call)
  batch_max_rows            predicts of one version that arrive while its model
                            call runs are merged into the next call, up to this
                            many rows (1 = one call per request; see
                            serving/batching.py)
  request_deadline_seconds  reading the body, and answering once it is read,
                            each bounded by this; past it -> 503
  idle_connection_seconds   a keep-alive connection (or a client dribbling its
                            request headers) is closed after this
  allow_non_finite          NaN / Infinity literals in a body are treated as
                            missing values (null) instead of refused with 400
  drain_seconds             at shutdown, how long in-flight requests may finish
  ready_grace_seconds       at shutdown, /readyz says 503 this long before the
                            listener closes (a load balancer's probe interval)
"""

import dataclasses

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
  max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
  max_instances: int = 10000
  max_json_depth: int = 64
  max_concurrent_requests: int = 512
  worker_threads: int = 16
  batch_max_rows: int = 32
  request_deadline_seconds: float = 30.0
  idle_connection_seconds: float = 60.0
  allow_non_finite: bool = False
  retry_after_seconds: int = 1
  drain_seconds: float = 10.0
  ready_grace_seconds: float = 0.0

  def __post_init__(self):
    for name in ('max_body_bytes', 'max_instances', 'max_json_depth',
                 'max_concurrent_requests', 'worker_threads', 'batch_max_rows'):
      if int(getattr(self, name)) < 1:
        raise ValueError(f'Limits.{name} must be at least 1, got {getattr(self, name)}')
    for name in ('request_deadline_seconds', 'idle_connection_seconds'):
      if float(getattr(self, name)) <= 0:
        raise ValueError(f'Limits.{name} must be positive, got {getattr(self, name)}')
