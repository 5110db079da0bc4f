"""Training/serving skew: serving data against the training data's statistics.

  python -m cli.skew --serving requests.csv --work-dir work
  python -m cli.skew --request-log serving/logs --work-dir work
  python -m cli.skew --serving requests.csv \
      --statistics <ExampleStatistics uri> [--examples <Examples uri>]

Serving data is a CSV of prediction requests (the columns of the schema's
SERVING environment: the model inputs and the id) or the model server's
request log (serving/request_log.py: one JSON line per predicted instance,
its "inputs" and "request_key"). The training side is found in ML Metadata
under --work-dir: the statistics, and the examples they describe, of the
data the latest pushed model was trained on (its lineage: Pusher <- Trainer
<- Transform <- ExampleGen -> StatisticsGen); without a pushed model, the
latest span the data gate passed.

Three kinds of skew, as TFDV names them, reported in the terminal and as
HTML (--report-dir, default: next to the metadata):

* schema skew: the serving data against the curated schema in the SERVING
  environment (missing or unexpected columns, types, domains, ranges), plus
  cells of the CSV that do not parse as their declared type (file, line,
  column);
* distribution skew: each column's distribution in serving against training,
  with the schema's skew_comparator thresholds (L-infinity / Jensen-Shannon);
* feature skew: for requests whose id also appears in the training data, the
  share whose values differ from the training example's (TFDV's
  DetectFeatureSkew): different code computing the same feature.

The command line is cli/skew.py.
"""

import csv
import os
import tempfile
from typing import Dict, List, Optional, Tuple

import apache_beam as beam
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.api import validation_api
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from tensorflow_data_validation.skew.protos import feature_skew_results_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import schema_pb2

import description
from metadata import connection
from metadata import walks
from validation import csv_checks
from validation import example_stats
from validation import report as vr

SCHEMA_SKEW, DISTRIBUTION_SKEW, FEATURE_SKEW = (
    'schema skew', 'distribution skew', 'feature skew')
SERVING = 'SERVING'
TRAINING_SPLIT = 'train'
# Values that differ only beyond this many decimals (float32 round trips) match.
FLOAT_DIGITS = 4


# --- serving data -> tf.Examples ---------------------------------------------------
def _feature(kind: Optional[str], value) -> Tuple[Optional[tf.train.Feature], str]:
  """(feature, problem): a cell in its declared type, or why it is not."""
  if value is None or value == '':
    return None, ''
  if kind == 'int':
    try:
      return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)])), ''
    except (TypeError, ValueError):
      return None, f'{value!r} is not an integer'
  if kind == 'float':
    try:
      number = float(value)
    except (TypeError, ValueError):
      return None, f'{value!r} is not a number'
    if number != number or number in (float('inf'), float('-inf')):
      return None, f'{value!r} is not a finite number'
    return tf.train.Feature(float_list=tf.train.FloatList(value=[number])), ''
  return tf.train.Feature(bytes_list=tf.train.BytesList(
      value=[str(value).encode('utf-8')])), ''


def _example(row: Dict[str, object], types: Dict[str, str], where: str,
             problems: List[csv_checks.Problem], line: Optional[int]):
  feature = {}
  for name, value in row.items():
    f, problem = _feature(types.get(name, 'string'), value)
    if problem:
      problems.append(csv_checks.Problem(where, line, name, problem))
    elif f is not None:
      feature[name] = f
  return tf.train.Example(features=tf.train.Features(feature=feature))


def examples_from_csv(path: str, spec: description.DatasetSpec,
                      problems: List[csv_checks.Problem]) -> List[tf.train.Example]:
  """Leniently: a cell that does not parse is a schema-skew problem, not a crash."""
  types = {c.name: c.type for c in spec.columns}
  redactor = description.redactor(spec)  # personal data never becomes an example
  examples = []
  with fileio.open(path, 'r') as f:
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader, [])]
    for row in reader:
      if not row:
        continue
      if len(row) != len(header):
        problems.append(csv_checks.Problem(
            path, reader.line_num, None,
            f'{len(row)} field(s) where the header has {len(header)}'))
        continue
      examples.append(_example(redactor.apply(dict(zip(header, row))), types, path,
                               problems, reader.line_num))
  return examples


def examples_from_request_log(directory: str, spec: description.DatasetSpec,
                              problems: List[csv_checks.Problem], **filters
                              ) -> List[tf.train.Example]:
  """The request log's instances: their inputs, keyed by the request key."""
  from serving import request_log  # pylint: disable=g-import-not-at-top
  types = {c.name: c.type for c in spec.columns}
  examples = []
  for record in request_log.read_records(directory, **filters):
    inputs = dict(record.get('inputs') or {})
    inputs = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v)
              for k, v in inputs.items()}
    if spec.id_column and spec.id_column not in inputs and record.get('request_key'):
      inputs[spec.id_column] = record['request_key']
    where = f'{directory} (request {record.get("request_id", "?")})'
    examples.append(_example(inputs, types, where, problems, None))
  return examples


# --- the training side, from ML Metadata ---------------------------------------------
def training_artifacts(metadata_path: str):
  """(ExampleStatistics, Examples or None, how they were found)."""
  if not os.path.exists(metadata_path):
    raise LookupError(f'no ML Metadata at {metadata_path}: run the pipeline '
                      f'(--work-dir) or pass --statistics')
  store = connection.open_store(metadata_path)
  found = walks.trained_on(store)
  how = 'the data the latest pushed model was trained on'
  if found is None:
    found = walks.last_passed(store)
    how = 'the latest span that passed data validation (no pushed model found)'
  if found is None:
    raise LookupError(f'no pushed model and no validated span in {metadata_path}')
  stats, examples = found.statistics, found.examples
  statistics = standard_artifacts.ExampleStatistics()
  statistics.set_mlmd_artifact(stats)
  raw = None
  if examples is not None:
    raw = standard_artifacts.Examples()
    raw.set_mlmd_artifact(examples)
  return statistics, raw, how


def artifact_at(cls, uri: str):
  """A TFX artifact of `cls` at a uri given by hand (its splits read from the directory)."""
  artifact = cls()
  artifact.uri = uri
  splits = sorted(d[len('Split-'):] for d in fileio.listdir(uri) if d.startswith('Split-'))
  artifact.split_names = artifact_utils.encode_split_names(splits)
  return artifact


def read_examples(examples, max_rows: int = 1_000_000) -> List[tf.train.Example]:
  files = []
  for split in artifact_utils.decode_split_names(examples.split_names):
    files += fileio.glob(os.path.join(
        artifact_utils.get_split_uri([examples], split), '*'))
  return [tf.train.Example.FromString(r.numpy()) for r in
          tf.data.TFRecordDataset(sorted(files), compression_type='GZIP').take(max_rows)]


# --- the three checks ---------------------------------------------------------------------
def serving_features(schema: schema_pb2.Schema) -> List[str]:
  return [f.name for f in schema.feature if SERVING not in f.not_in_environment]


def schema_skew(serving_stats, schema, problems: List[csv_checks.Problem]
                ) -> List[vr.Finding]:
  found = []
  anomalies = tfdv.validate_statistics(serving_stats, schema, environment=SERVING)
  for name, info in sorted(anomalies.anomaly_info.items()):
    for reason in info.reason:
      found.append(vr.Finding(SCHEMA_SKEW, name, vr.FOUND,
                              reason.description or reason.short_description))
  by_column: Dict[str, List[csv_checks.Problem]] = {}
  for p in problems:
    by_column.setdefault(p.column or '(row)', []).append(p)
  for column, listed in sorted(by_column.items()):
    first = listed[0]
    more = f' (and {len(listed) - 1} more)' if len(listed) > 1 else ''
    found.append(vr.Finding(SCHEMA_SKEW, column, vr.FOUND, f'{first}{more}'))
  return found


_COMPARATOR_HIGH = {
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
}
_MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: 'L-infinity distance',
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE:
        'Jensen-Shannon divergence',
}


def distribution_skew(training_stats, serving_stats, schema):
  """(findings, comparisons) with the schema's skew comparators."""
  anomalies = tfdv.validate_statistics(training_stats, schema,
                                       serving_statistics=serving_stats)
  comparisons, findings = [], []
  for info in anomalies.drift_skew_info:
    name = '.'.join(info.path.step)
    for m in info.skew_measurements:
      comparisons.append(vr.Comparison(name, _MEASURES.get(m.type, str(m.type)),
                                       m.value, m.threshold, vr.FOUND))
  for c in comparisons:
    if c.drifted:
      findings.append(vr.Finding(
          DISTRIBUTION_SKEW, c.feature, vr.FOUND,
          'the serving distribution differs from training', c.measure, c.value,
          c.threshold, chart=vr.chart_for(c.feature, training_stats, serving_stats)))
  measured = {c.feature for c in comparisons}
  for name, info in anomalies.anomaly_info.items():
    for reason in info.reason:
      if reason.type in _COMPARATOR_HIGH and name not in measured:
        findings.append(vr.Finding(DISTRIBUTION_SKEW, name, vr.FOUND,
                                   reason.description))
  return findings, comparisons


def feature_skew(training: List[tf.train.Example], serving: List[tf.train.Example],
                 id_column: str, compared: List[str]):
  """(findings, requests matched): values that differ for the same id."""
  ignore = sorted({k for e in training + serving for k in e.features.feature}
                  - set(compared) - {id_column})
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'skew_results.tfrecord')
    with beam.Pipeline() as p:
      results, _ = ((p | 'Training' >> beam.Create(training),
                     p | 'Serving' >> beam.Create(serving))
                    | tfdv.DetectFeatureSkew(identifier_features=[id_column],
                                             features_to_ignore=ignore,
                                             float_round_ndigits=FLOAT_DIGITS))
      _ = results | validation_api.WriteFeatureSkewResultsToTFRecord(path)
    collected = [feature_skew_results_pb2.FeatureSkew.FromString(r.numpy())
                 for r in tf.data.TFRecordDataset(tf.io.gfile.glob(path + '*'))]
  findings, matched = [], 0
  for r in collected:
    compared_count = r.match_count + r.mismatch_count
    matched = max(matched, compared_count)
    if r.mismatch_count:
      share = r.mismatch_count / max(compared_count, 1)
      findings.append(vr.Finding(
          FEATURE_SKEW, r.feature_name, vr.FOUND,
          f'{r.mismatch_count} of {compared_count} requests found in the '
          f'training data ({share:.1%}) have a different value than training had '
          f'for the same {id_column}'))
  return findings, matched


def check(serving_examples, problems, training_statistics, training_examples,
          schema, spec: description.DatasetSpec, source: str) -> vr.Report:
  serving_stats = example_stats.statistics(serving_examples, schema)
  training_stats = stats_artifact_utils.load_statistics(
      training_statistics, TRAINING_SPLIT).proto()
  notes = [f'{len(serving_examples)} serving example(s) from {source}']
  findings = schema_skew(serving_stats, schema, problems)
  found, comparisons = distribution_skew(training_stats, serving_stats, schema)
  findings += found
  if training_examples is None or not spec.id_column:
    notes.append('feature skew not checked: no training examples or no id column')
  else:
    found, matched = feature_skew(read_examples(training_examples), serving_examples,
                                  spec.id_column, serving_features(schema))
    findings += found
    notes.append(f'feature skew: {matched} request(s) matched a training example '
                 f'by {spec.id_column}')
  return vr.Report(
      dataset=spec.name, span=None, files=[source], baseline_span=None,
      findings=findings, comparisons=comparisons, notes=notes,
      title=(f'Training/serving skew of {spec.name}: '
             f'{"none found" if not findings else f"{len(findings)} finding(s)"}'))
