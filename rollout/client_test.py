"""The canary lease keeper renews while a step runs and stops with it."""

import time

from rollout.client import CanaryLease


class _FakeClient:

  def __init__(self):
    self.calls = []

  def set_canary(self, version, weight, lease_seconds=None):
    self.calls.append((time.monotonic(), version, weight, lease_seconds))
    return {'routing': {'generation': len(self.calls)}}

  def close(self):
    pass


def test_lease_is_renewed_until_stopped_then_left_to_expire():
  client = _FakeClient()
  lease = CanaryLease(client, 7, lease_seconds=0.3).start()
  lease.hold(25.0)
  time.sleep(0.55)
  lease.stop()
  renewals = len(client.calls)
  assert renewals >= 4  # the hold, then about every 0.1 s
  assert all(c[1:] == (7, 25.0, 0.3) for c in client.calls)
  time.sleep(0.3)
  assert len(client.calls) == renewals  # a dead controller renews nothing
