"""A month's live traffic: every application sent to the server as a request
keyed by its application id (X-Request-Key), so the delayed labels join."""

import concurrent.futures
import urllib.parse
from typing import Dict, List, Mapping

from rollout import client as client_lib
from rollout import replay
from rollout.ledger import send_row


def send(url: str, model: str, admin_token: str, rows: List[Mapping[str, str]], spec,
         concurrency: int = 4) -> Dict[str, int]:
  """Sends `rows`; returns counts per serving version and of failed requests."""
  client = client_lib.ServerClient(url, model, admin_token=admin_token)
  stable = client.routing()['routing']['labels'].get('stable')
  if stable is None:
    raise RuntimeError(f'{url} has no stable version to serve traffic')
  inputs = client.signature_inputs(int(stable))
  replay_rows = replay.rows_from_dicts(rows, spec)
  path = f'/v1/models/{urllib.parse.quote(model)}:predict'
  counts: Dict[str, int] = {}

  def one(chunk):
    out = []
    try:
      for row in chunk:
        out.append(send_row(client, path, row, inputs))
    finally:
      client.close()
    return out

  chunks = [replay_rows[i::concurrency] for i in range(concurrency)]
  with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
    for records in pool.map(one, chunks):
      for rec in records:
        key = 'failed' if rec.error or rec.status != 200 else f'version {rec.version}'
        counts[key] = counts.get(key, 0) + 1
  return counts
