"""Three fixed costs of Beam 2.74 that our in-process runs pay per transform
or per bundle, removed without changing what Beam computes.

Every Beam component (StatisticsGen, Transform, Evaluator, ...) builds a Beam
graph of hundreds of transforms in Python before any row moves, then runs it
stage by stage as bundles; on small data these fixed costs are most of the
component's time.

Construction. Two pure computations repeat for every transform, though their
answers cannot change:
- `PipelineOptions.view_as(cls)` builds a new argparse parser for `cls` and
  parses the pipeline's flags again on every call, and Beam calls it per
  applied transform (`Pipeline._apply_internal`, `_infer_result_type`) and per
  type-consistency check (`typehints.is_consistent_with` asks TypeOptions
  whether to use beartype, apache_beam/typehints/typehints.py). A view holds
  no values of its own: it reads and writes the options' shared
  `_all_options`, so one view per (options, class) is the same view.
- `typehints.decorators.get_signature(f)` runs `inspect.signature`, and Beam
  calls it for every method of every DoFn (`userstate.get_dofn_specs` wraps
  each in a MethodWrapper) and again per DoFn parameter lookup. Cached per
  Python function, and per "bound or not" because a bound method's signature
  drops its first parameter. This assumes what inspect.signature reads
  (`__signature__`, `__wrapped__`, `__defaults__`, annotations) is not
  reassigned after a function is first used; Beam, TFX, TFT, TFMA and TFDV
  set them only when a function is made.

Bundles. Each bundle starts a state-sampler thread (it attributes time to
the running step for Beam's metrics) and joins it at the end; the thread
sleeps in steps growing to `sampling_period_ms`, 200 ms by default
(apache_beam/runners/worker/statesampler_fast.pyx, `stop` "may have to wait up
to sampling_period_ms"), so every bundle waited on average half a step: 0.9 s
of a taxi run, in Transform's many short stages most. Sampled every 20 ms
instead, a bundle waits at most 20 ms; the thread wakes 50 times a second,
without the GIL.

Measured on the taxi run (2 cores; medians of 3 alternating runs; the
benchmarks/README section "Beam's fixed costs"): 39.3 s -> 37.2 s with the
option views cached, -> 35.6 s with the signatures too (Transform 9.4 ->
7.4 s, Evaluator 5.0 -> 4.3 s), 35.5 s -> 34.3 s with the sampling period.

apply() patches the imported Beam modules in this process and is idempotent;
the caches hold their keys weakly (an options object or function no longer
used is dropped with its entry).
Beam's worker processes (multi_processing mode, big data) are not patched;
their bundles are long, so the sampler's wait is small there. Graphs and
results are unchanged: both caches return what the uncached call returned.
"""

import functools
import inspect
import types
import weakref
from typing import Any, Callable, Dict

# Milliseconds between a bundle's state samples (Beam's default is 200).
SAMPLING_PERIOD_MS = 20

_APPLIED = False


def _cached_view_as(view_as: Callable) -> Callable:
  views: 'weakref.WeakKeyDictionary[Any, Dict[type, Any]]' = weakref.WeakKeyDictionary()

  @functools.wraps(view_as)
  def cached(self, cls):
    per_class = views.get(self)
    if per_class is None:
      per_class = views[self] = {}
    view = per_class.get(cls)
    if view is None:
      view = per_class[cls] = view_as(self, cls)
    return view

  return cached


def _cached_signature(get_signature: Callable) -> Callable:
  signatures: 'weakref.WeakKeyDictionary[Any, Dict[bool, Any]]' = weakref.WeakKeyDictionary()

  @functools.wraps(get_signature)
  def cached(func):
    bound = isinstance(func, types.MethodType)
    key = func.__func__ if bound else func
    # Plain Python functions only: they compare by identity, so a cache hit
    # is the same function. Callable objects, partials and builtins go through.
    if not isinstance(key, types.FunctionType):
      return get_signature(func)
    per_kind = signatures.get(key)
    if per_kind is None:
      per_kind = signatures[key] = {}
    signature = per_kind.get(bound)
    if signature is None:
      signature = per_kind[bound] = get_signature(func)
    return signature

  return cached


def apply() -> None:
  """Installs the caches and the sampling period (once per process)."""
  global _APPLIED
  if _APPLIED:
    return
  # pylint: disable=g-import-not-at-top
  from apache_beam.options import pipeline_options
  from apache_beam.runners.worker import statesampler
  from apache_beam.transforms import core, ptransform, util
  from apache_beam.typehints import decorators
  # pylint: enable=g-import-not-at-top
  pipeline_options.PipelineOptions.view_as = _cached_view_as(
      pipeline_options.PipelineOptions.view_as)
  signature = _cached_signature(decorators.get_signature)
  # Each of these modules imported the function by name.
  for module in (decorators, core, ptransform, util):
    module.get_signature = signature
  # BundleProcessor constructs its StateSampler without a period: the
  # argument's default is the one place to change it. Checked by name, so a
  # Beam whose constructor changed keeps its own default.
  init = statesampler.StateSampler.__init__
  if list(inspect.signature(init).parameters)[-1:] == ['sampling_period_ms'] and \
      len(init.__defaults__ or ()) == 1:
    init.__defaults__ = (SAMPLING_PERIOD_MS,)
  _APPLIED = True
