"""Beam's memoised construction: same answers, same pipeline results."""

import functools

import apache_beam as beam
from apache_beam.options import pipeline_options
from apache_beam.runners.worker import statesampler
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils import counters
from apache_beam.transforms import core
from apache_beam.transforms import userstate
from apache_beam.typehints import decorators

from pipeline import beam_speedups

# The session applies them (conftest.py), as local_runner does.


def test_apply_is_idempotent():
  view_as = pipeline_options.PipelineOptions.view_as
  signature = decorators.get_signature
  beam_speedups.apply()
  assert pipeline_options.PipelineOptions.view_as is view_as
  assert decorators.get_signature is signature
  # Every module that imported the function by name uses the cached one.
  assert core.get_signature is signature
  assert not hasattr(view_as.__wrapped__, '__wrapped__')


def test_bundles_sample_their_state_every_20_ms():
  sampler = statesampler.StateSampler('step', counters.CounterFactory())
  assert sampler.sampling_period_ms == beam_speedups.SAMPLING_PERIOD_MS == 20
  # An explicit period still wins.
  assert statesampler.StateSampler('step', counters.CounterFactory(), 500).sampling_period_ms == 500


def test_one_view_per_options_and_class_sharing_values():
  options = pipeline_options.PipelineOptions(
      ['--direct_num_workers=3', '--runner=FnApiRunner'])
  direct = options.view_as(pipeline_options.DirectOptions)
  assert options.view_as(pipeline_options.DirectOptions) is direct
  assert direct.direct_num_workers == 3
  assert options.view_as(pipeline_options.StandardOptions).runner == 'FnApiRunner'
  # A value set through one view is what every view and the options read.
  direct.direct_num_workers = 5
  assert options.view_as(pipeline_options.DirectOptions).direct_num_workers == 5
  assert options.get_all_options()['direct_num_workers'] == 5
  # Another options object has its own views and values.
  other = pipeline_options.PipelineOptions(['--direct_num_workers=2'])
  assert other.view_as(pipeline_options.DirectOptions) is not direct
  assert other.view_as(pipeline_options.DirectOptions).direct_num_workers == 2
  assert options.view_as(pipeline_options.DirectOptions).direct_num_workers == 5


class _Adder:

  def add(self, x, y=2):
    return x + y


def _first(a, b, *rest, c=1):
  return a


def test_signatures_are_the_uncached_ones():
  uncached = decorators.get_signature.__wrapped__
  cases = [_first, _Adder.add, _Adder().add, functools.partial(_first, 1), len, str.strip,
           lambda z: z]
  for func in cases:
    assert decorators.get_signature(func) == uncached(func), func
    assert decorators.get_signature(func) == uncached(func), func  # from the cache
  # Cached: the same Signature object again, for a function and a bound method
  # (a new bound-method object each time), not for callables of other kinds.
  assert decorators.get_signature(_first) is decorators.get_signature(_first)
  assert decorators.get_signature(_Adder().add) is decorators.get_signature(_Adder().add)
  assert decorators.get_signature(len) is not decorators.get_signature(len)
  # Bound and unbound forms of one function are cached apart.
  assert list(decorators.get_signature(_Adder().add).parameters) == ['x', 'y']
  assert list(decorators.get_signature(_Adder.add).parameters) == ['self', 'x', 'y']
  assert core.get_function_args_defaults(_first) == (['a', 'b'], [])
  assert core.get_function_args_defaults(_Adder().add) == (['x', 'y'], [2])

  # Two functions of one name (e.g. made by one factory) keep their own signatures.
  def make(n):
    if n:
      def f(a, b):
        return a
    else:
      def f(a):
        return a
    return f
  assert list(decorators.get_signature(make(1)).parameters) == ['a', 'b']
  assert list(decorators.get_signature(make(0)).parameters) == ['a']


class _CountPerKey(beam.DoFn):
  COUNT = userstate.ReadModifyWriteStateSpec('count', beam.coders.VarIntCoder())

  def process(self, element, count=beam.DoFn.StateParam(COUNT)):
    seen = (count.read() or 0) + 1
    count.write(seen)
    yield element[0], seen


def test_a_pipeline_with_stateful_and_plain_transforms_gives_the_same_results():
  # get_dofn_specs must still find the state spec through the cached signatures.
  assert userstate.is_stateful_dofn(_CountPerKey())
  assert not userstate.is_stateful_dofn(core.CallableWrapperDoFn(lambda x: [x]))
  options = pipeline_options.PipelineOptions(['--runner=FnApiRunner'])
  with beam.Pipeline(options=options) as p:
    pairs = p | beam.Create([('a', 1), ('b', 1), ('a', 1)])
    counts = pairs | 'count' >> beam.ParDo(_CountPerKey()) | beam.combiners.Top.PerKey(1)
    sums = pairs | beam.CombinePerKey(sum) | beam.Map(lambda kv, k=10: (kv[0], kv[1] * k))
    assert_that(counts, equal_to([('a', [2]), ('b', [1])]), label='counts')
    assert_that(sums, equal_to([('a', 20), ('b', 10)]), label='sums')


def test_signature_cache_holds_no_function_alive():
  import gc  # pylint: disable=g-import-not-at-top
  import weakref  # pylint: disable=g-import-not-at-top

  def temporary(a):
    return a
  decorators.get_signature(temporary)
  ref = weakref.ref(temporary)
  del temporary
  gc.collect()
  assert ref() is None
