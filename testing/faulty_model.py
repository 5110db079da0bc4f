"""Bad candidates for rollout drills: wrap any contract SavedModel with a fault.

The wrapper loads a model version that satisfies the serving contract (a toy
model from `testing.toy_model` or a real pushed model) and re-exports its
`serving_default` with one injected fault, still as a real SavedModel that
loads, passes the server's smoke test and serves:

  'majority'  always predicts one class (the majority class of the data):
              plausible probabilities, useless model
  'slow'      answers like the original, `delay_ms` later (an in-graph sleep,
              so it costs wall time, not CPU)
  'flaky'     answers like the original but fails on about `error_fraction`
              of the inputs (chosen by a hash of one numeric input), like a
              model that breaks on values it never saw; rows of zeros or
              missing values, which the smoke test sends, always work

    python -m testing.faulty_model --base DIR/1 --out DIR/2 --fault slow
"""

import argparse
import os
import sys
from typing import Optional, Sequence

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

FAULTS = ('majority', 'slow', 'flaky')


def write_faulty_model(base_dir: str, out_dir: str, fault: str, *,
                       classes: Optional[Sequence[str]] = None, majority_class: int = 0,
                       delay_ms: float = 50.0, error_fraction: float = 0.15,
                       hash_input: Optional[str] = None) -> str:
  """Writes `out_dir` (a version directory) wrapping `base_dir`; returns it.

  classes: the class names in class-id order (needed by 'majority').
  hash_input: the float input whose value decides where 'flaky' fails
    (default: the first float input by name).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from tensorflow.python.data.experimental.ops import testing as data_testing

  if fault not in FAULTS:
    raise ValueError(f'unknown fault {fault!r}; one of {FAULTS}')
  if fault == 'majority' and not classes:
    raise ValueError("fault 'majority' needs the class names")
  if not 0 < error_fraction < 1:
    raise ValueError('error_fraction must be in (0, 1)')
  base = tf.saved_model.load(base_dir)
  inner = base.signatures['serving_default']
  _, input_spec = inner.structured_input_signature
  float_inputs = sorted(n for n, s in input_spec.items() if s.dtype == tf.float32)
  if fault == 'flaky':
    hash_input = hash_input or (float_inputs[0] if float_inputs else None)
    if hash_input not in float_inputs:
      raise ValueError(f"fault 'flaky' needs a float input; got {hash_input!r} "
                       f"(float inputs: {float_inputs})")
  buckets = 1000
  bad_buckets = int(round(error_fraction * buckets))

  class Faulty(tf.Module):

    def __init__(self):
      super().__init__()
      self.base = base  # tracked, so the original's variables and tables are saved
      if classes:
        self.class_names = tf.constant(list(classes))

    @tf.function(input_signature=[input_spec])
    def serve(self, features):
      outputs = dict(self.base.signatures['serving_default'](**features))
      if fault == 'majority':
        n = tf.shape(outputs['class_ids'])[0]
        k = len(classes)
        # Most of the mass on one class, a little spread: probabilities that
        # look like a model's, an argmax that never changes.
        probs = tf.one_hot(majority_class, k) * 0.9 + 0.1 / k
        outputs['probabilities'] = tf.tile(probs[tf.newaxis, :], [n, 1])
        outputs['class_ids'] = tf.fill([n], tf.constant(majority_class, tf.int64))
        outputs['classes'] = tf.fill([n], self.class_names[majority_class])
      elif fault == 'slow':
        # One get_next: get_single_element() would also fetch the end of
        # the dataset, and the sleep transformation sleeps before that too.
        done = iter(data_testing.sleep(int(delay_ms * 1000))(
            tf.data.Dataset.from_tensors(tf.constant(0)))).get_next()
        with tf.control_dependencies([done]):
          outputs = {k: tf.identity(v) for k, v in outputs.items()}
      elif fault == 'flaky':
        x = features[hash_input]
        bucket = tf.strings.to_hash_bucket_fast(tf.strings.as_string(x), buckets)
        bad = (bucket < bad_buckets) & tf.math.is_finite(x) & tf.not_equal(x, 0.0)
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(bad)),
            ['injected fault: the candidate fails on this input'])
        with tf.control_dependencies([check]):
          outputs = {k: tf.identity(v) for k, v in outputs.items()}
      return outputs

  module = Faulty()
  tf.saved_model.save(module, out_dir, signatures={'serving_default': module.serve})
  return out_dir


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog='python -m testing.faulty_model',
                              description=__doc__.split('\n')[0])
  p.add_argument('--base', required=True, help='a model version directory')
  p.add_argument('--out', required=True, help='the new version directory')
  p.add_argument('--fault', required=True, choices=FAULTS)
  p.add_argument('--classes', help='comma-separated class names (for majority)')
  p.add_argument('--majority-class', type=int, default=0)
  p.add_argument('--delay-ms', type=float, default=50.0)
  p.add_argument('--error-fraction', type=float, default=0.15)
  args = p.parse_args(argv)
  write_faulty_model(args.base, args.out, args.fault,
                     classes=args.classes.split(',') if args.classes else None,
                     majority_class=args.majority_class, delay_ms=args.delay_ms,
                     error_fraction=args.error_fraction)
  print(args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
