"""Scores both taxi models on one eval split with one label rule (untimed).

The reference's Evaluator, as shipped, computes BinaryAccuracy and the example
count only, no AUC; ours computes AUC for class "yes" (one-vs-rest, 1,000
thresholds). So that the AUCs compare like with like, this script, run after
both pipelines finished and outside their timing:

  1. finds the CSV rows both pipelines held out for evaluation. Both split
     2:1 by a hash of the serialized example, but the examples differ in
     encoding (ours declares e.g. trip_seconds a float, CsvExampleGen infers
     int64), so the splits differ too. Rows are matched by their values
     (numbers compared as floats), and only rows in both eval splits, which
     neither model trained on, are scored; counts are printed;
  2. labels those rows with the reference's rule (tips > 0.2 x fare, in
     float32, missing values read as 0, as its preprocessing_fn computes it);
  3. scores each model on its own pipeline's encoding of those rows with its
     own signature (the reference's `serving_default` -> `outputs`, ours'
     `serving_examples` -> `probabilities[:, yes]`), and computes the exact ROC
     AUC (ranks, ties halved) and accuracy at 0.5 with the same code for both;
  4. also reads what each Evaluator itself wrote (ours: AUC and accuracy;
     the reference: binary_accuracy), overall slice, candidate model.

  python benchmarks/score_auc.py --reference-examples URI --reference-model URI \\
      --ours-examples URI --ours-model URI [--ours-evaluation URI] \\
      [--reference-evaluation URI] --json out.json
"""

import argparse
import glob
import hashlib
import json
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402

BATCH = 1024


def read_split(examples_uri: str, split: str = 'eval'):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(examples_uri, f'Split-{split}', '*')))
  if not files:
    raise SystemExit(f'no Split-{split} under {examples_uri}')
  return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def multiset_digest(records) -> str:
  """Order-free digest of the examples (canonical, deterministic serialization)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  canonical = (tf.train.Example.FromString(r).SerializeToString(deterministic=True)
               for r in records)
  digest = hashlib.sha256()
  for h in sorted(hashlib.sha1(r).digest() for r in canonical):
    digest.update(h)
  return digest.hexdigest()[:16]


def row_key(record: bytes) -> tuple:
  """A CSV row's values, whatever types the pipeline gave its columns."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  features = tf.train.Example.FromString(record).features.feature
  key = []
  for name in sorted(features):
    kind = features[name].WhichOneof('kind')
    values = list(getattr(features[name], kind).value) if kind else []
    if kind in ('float_list', 'int64_list'):
      values = [float(v) for v in values]
    key.append((name, tuple(values)))
  # A column absent from one encoding and empty in the other is the same row.
  return tuple(item for item in key if item[1])


def held_out_by_both(ref_records, our_records):
  """(reference records, our records) of the same rows, in the same order."""
  ours_by_key = {}
  for record in our_records:
    ours_by_key.setdefault(row_key(record), []).append(record)
  ref_matched, ours_matched = [], []
  for record in ref_records:
    same = ours_by_key.get(row_key(record))
    if same:
      ref_matched.append(record)
      ours_matched.append(same.pop())
  return ref_matched, ours_matched


def _value(feature) -> float:
  kind = feature.WhichOneof('kind')
  values = getattr(feature, kind).value if kind else []
  return float(values[0]) if len(values) else 0.0


def reference_labels(records):
  """tips > 0.2 * fare in float32, as the reference's preprocessing_fn computes it."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  labels, fare_missing = [], 0
  for r in records:
    example = tf.train.Example.FromString(r)
    feats = example.features.feature
    fare = _value(feats['fare']) if 'fare' in feats else 0.0
    tips = _value(feats['tips']) if 'tips' in feats else 0.0
    fare_missing += ('fare' not in feats or not _has_value(feats['fare']))
    labels.append(int(np.float32(tips) > np.float32(fare) * np.float32(0.2)))
  return labels, fare_missing


def _has_value(feature) -> bool:
  kind = feature.WhichOneof('kind')
  return bool(kind and len(getattr(feature, kind).value))


def predict(model_uri: str, records, signature: str, output: str, column: int):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_uri, 'Format-Serving')
  loaded = tf.saved_model.load(path if os.path.isdir(path) else model_uri)
  fn = loaded.signatures[signature]
  scores = []
  for i in range(0, len(records), BATCH):
    out = fn(examples=tf.constant(records[i:i + BATCH]))[output].numpy()
    scores.append(out.reshape(out.shape[0], -1)[:, column])
  return np.concatenate(scores)


def evaluator_metrics(evaluation_uri):
  """Overall-slice scalars the Evaluator wrote for the candidate model."""
  if not evaluation_uri:
    return {}
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  found = {}
  for metrics in tfma.load_metrics(evaluation_uri):
    if metrics.slice_key.single_slice_keys:
      continue
    for entry in metrics.metric_keys_and_values:
      key = entry.key
      if key.is_diff or key.model_name not in ('', 'candidate'):
        continue
      kind = entry.value.WhichOneof('type')
      if kind == 'double_value':
        number = entry.value.double_value.value
      elif kind == 'bounded_value':
        number = entry.value.bounded_value.value.value
      else:
        continue
      name = key.name
      if key.sub_key.HasField('class_id'):
        name += f'[class {key.sub_key.class_id.value}]'
      found[name] = number
  return found


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--reference-examples', required=True)
  p.add_argument('--reference-model', required=True)
  p.add_argument('--reference-evaluation')
  p.add_argument('--ours-examples', required=True)
  p.add_argument('--ours-model', required=True)
  p.add_argument('--ours-evaluation')
  p.add_argument('--ours-positive-class', type=int, default=1,
                 help='column of "yes" in our probabilities (classes: [no, yes])')
  p.add_argument('--json')
  args = p.parse_args(argv)
  import numpy as np  # pylint: disable=g-import-not-at-top

  ref_records = read_split(args.reference_examples)
  our_records = read_split(args.ours_examples)
  ref_digest, our_digest = multiset_digest(ref_records), multiset_digest(our_records)
  ref_scored, our_scored = held_out_by_both(ref_records, our_records)
  if not ref_scored:
    raise SystemExit('the two eval splits share no row: nothing to score')
  labels, fare_missing = reference_labels(ref_scored)
  result = {
      'eval_split': {
          'reference_examples': len(ref_records), 'ours_examples': len(our_records),
          'scored_examples': len(ref_scored),
          'reference_digest': ref_digest, 'ours_digest': our_digest,
          'identical': ref_digest == our_digest,
          'positives': int(sum(labels)), 'fare_missing': fare_missing,
          'label_rule': 'tips > 0.2 * fare in float32, missing read as 0 (the reference\'s)',
      },
  }
  ref_scores = predict(args.reference_model, ref_scored, 'serving_default', 'outputs', 0)
  our_scores = predict(args.ours_model, our_scored, 'serving_examples', 'probabilities',
                       args.ours_positive_class)
  labels_np = np.asarray(labels)
  for name, scores in (('reference', ref_scores), ('ours', our_scores)):
    result[name] = {
        'auc': common.auc_exact(labels_np, scores),
        'accuracy': float(np.mean((scores > 0.5) == labels_np.astype(bool))),
    }
  result['reference']['evaluator'] = evaluator_metrics(args.reference_evaluation)
  result['ours']['evaluator'] = evaluator_metrics(args.ours_evaluation)
  print(json.dumps(result, indent=2))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(result, f, indent=2)
  return 0


if __name__ == '__main__':
  sys.exit(main())
