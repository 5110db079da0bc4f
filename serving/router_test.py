"""Unit tests of the router: sticky split, shadow, atomic blue-green, rollback."""

import threading
import time

import pytest

from serving import router as router_lib
from serving.router import NoVersionError, Router, RoutingError, bucket_of

AVAILABLE = {1, 2, 3}


def make_router(available=AVAILABLE, **kw):
  return Router('credit_risk', lambda v: v in available,
                lambda: max(available) if available else None, **kw)


def test_no_stable_label_serves_latest_and_no_versions_raises():
  r = make_router()
  d = r.route('k')
  assert (d.version, d.role) == (3, router_lib.LATEST)
  with pytest.raises(NoVersionError):
    make_router(available=set()).route('k')


def test_sticky_split_matches_weight_and_is_deterministic():
  r = make_router()
  r.set_labels({'stable': 1})
  r.set_canary(2, 20)
  keys = [f'app-{i}' for i in range(10000)]
  first = [r.route(k).version for k in keys]
  share = sum(v == 2 for v in first) / len(keys)
  assert abs(share - 0.20) < 0.015
  assert first == [r.route(k).version for k in keys]  # same key -> same version
  # A second router (another process / restart) assigns identically.
  r2 = make_router()
  r2.set_labels({'stable': 1})
  r2.set_canary(2, 20)
  assert first == [r2.route(k).version for k in keys]
  # Raising the weight only moves keys stable -> canary.
  r.set_canary_weight(50)
  second = [r.route(k).version for k in keys]
  assert all(b == 2 for a, b in zip(first, second) if a == 2)
  assert abs(sum(v == 2 for v in second) / len(keys) - 0.5) < 0.02
  assert r.route('app-1').role in ('stable', 'canary')


def test_weight_bounds_and_validation():
  r = make_router()
  r.set_labels({'stable': 1})
  with pytest.raises(RoutingError, match='set a canary version'):
    r.set_canary_weight(10)
  r.set_canary(2, 0)
  assert all(r.route(str(i)).version == 1 for i in range(500))
  r.set_canary_weight(100)
  assert all(r.route(str(i)).version == 2 for i in range(500))
  for bad in (-1, 100.5, 'ten', True):
    with pytest.raises(RoutingError):
      r.set_canary_weight(bad)
  with pytest.raises(RoutingError, match='not available'):
    r.set_labels({'stable': 99})
  with pytest.raises(RoutingError, match='invalid label'):
    r.set_labels({'a/b': 1})
  assert r.state.labels['stable'] == 1  # a refused change changes nothing


def test_shadow_is_reported_but_never_the_primary():
  r = make_router()
  r.set_labels({'stable': 1})
  r.set_shadow(3)
  d = r.route('k')
  assert d.version == 1 and d.shadow_version == 3
  r.set_shadow(None)
  assert r.route('k').shadow_version is None
  r.set_shadow(1)  # shadowing the primary itself is pointless -> no mirror
  assert r.route('k').shadow_version is None


def test_promote_abort_and_rollback():
  r = make_router()
  r.set_labels({'stable': 1})
  r.set_canary(2, 30)
  r.abort_canary()
  assert 'canary' not in r.state.labels and r.state.canary_weight == 0
  r.rollback()  # the abort is undone: canary at 30% again
  assert r.state.labels['canary'] == 2 and r.state.canary_weight == 30
  r.promote()  # the canary becomes stable
  s = r.state
  assert s.labels['stable'] == 2 and s.labels['previous'] == 1
  assert 'canary' not in s.labels and s.canary_weight == 0
  r.rollback()  # instant: back to stable 1; the rolled-back version gets no traffic
  assert dict(r.state.labels) == {'stable': 1} and r.state.canary_weight == 0
  assert all(r.route(str(i)).version == 1 for i in range(200))
  with pytest.raises(RoutingError, match='no version given'):
    make_router().promote()


def test_rollback_drops_versions_that_were_unloaded():
  available = {1, 2}
  r = make_router(available=available)
  r.set_labels({'stable': 1})
  r.set_labels({'stable': 2, 'old': 1})
  r.set_labels({'old': None})
  available.discard(1)
  r.rollback()  # restores {'stable': 2, 'old': 1} minus the unloaded 1
  assert dict(r.state.labels) == {'stable': 2}


def test_blue_green_switch_is_atomic_under_concurrent_routing():
  r = make_router()
  r.set_labels({'stable': 1})
  r.set_canary(2, 50)
  states = {r.state.generation: r.state}
  stop = threading.Event()
  seen = []
  errors = []

  def reader(tid):
    i = 0
    while not stop.is_set() and i < 20000:
      key = f'{tid}-{i}'
      d = r.route(key)
      seen.append((key, d))
      i += 1

  threads = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
  for t in threads:
    t.start()
  deadline = time.monotonic() + 1.0
  flips = 0
  while time.monotonic() < deadline and flips < 400:
    s = r.promote(3 if flips % 2 == 0 else 1)
    states[s.generation] = s
    s = r.set_canary(2, 50)
    states[s.generation] = s
    flips += 1
  stop.set()
  for t in threads:
    t.join()
  assert flips > 10 and len(seen) > 1000
  for key, d in seen:
    s = states[d.generation]
    stable, canary = s.labels['stable'], s.labels.get('canary')
    want = canary if (canary is not None and s.canary_weight and
                      bucket_of(key, r.salt) < s.canary_weight * 100) else stable
    if d.version != want:
      errors.append((key, d, s))
  assert not errors, errors[:3]


def test_references():
  r = make_router()
  r.set_labels({'stable': 1, 'canary': 2})
  r.set_shadow(3)
  assert r.references(1) == ['stable'] and r.references(3) == ['shadow']


# ----------------------------------------------------------------- issue 14
def test_rejected_version_is_unroutable_until_named_again():
  r = make_router()
  r.set_labels({'stable': 1})
  r.set_canary(2, 50)
  r.reject(2, 'error_rate breach')
  assert r.state.labels == {'stable': 1} and r.state.canary_weight == 0
  assert r.is_rejected(2) and r.state.rejected[2] == 'error_rate breach'
  assert {r.route(f'k{i}').version for i in range(200)} == {1}
  r.rollback()  # undoing the rejection's swap must not bring the canary back
  assert r.is_rejected(2) and 'canary' not in r.state.labels
  r.set_canary(2, 10)  # on purpose
  assert not r.is_rejected(2)


def test_canary_lease_expires_to_zero_unless_renewed():
  r = make_router()
  r.set_labels({'stable': 1})
  r.set_canary(2, 100, lease_seconds=0.2)
  assert r.route('k').version == 2
  time.sleep(0.3)
  assert r.route('k').version == 1  # expired: weight counts as 0 at once
  assert r.expire_lease() and r.state.canary_weight == 0
  r.set_canary(2, 100, lease_seconds=5)
  r.set_canary(2, 100, lease_seconds=5)  # a renewal keeps it
  assert r.route('k').version == 2 and not r.expire_lease()


def test_persist_failure_refuses_the_change():
  from serving.router import PersistError  # pylint: disable=g-import-not-at-top
  saved = []

  def persist(state):
    if state.labels.get('stable') == 2:
      raise OSError(28, 'No space left on device')
    saved.append(state)

  r = make_router(persist=persist)
  r.set_labels({'stable': 1})
  with pytest.raises(PersistError, match='not made'):
    r.promote(2)
  assert r.state.labels == {'stable': 1} and saved[-1].labels == {'stable': 1}


@pytest.mark.parametrize('version', ['١', '٢٣', '1e3', '-1', True, 2**70, '9' * 40])
def test_versions_must_be_ascii_positive_integers(version):
  r = make_router()
  with pytest.raises(RoutingError):
    r.set_labels({'stable': version})
