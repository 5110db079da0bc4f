"""TFDV statistics, anomalies and span-to-span drift as plain rows.

Shared by the HTML run report and notebooks/data_validation.ipynb, so the two
cannot disagree. TFDV is imported inside the functions: the lineage commands
must not pay for TensorFlow.
"""

import math
import os
from typing import Dict, List, Optional, Tuple

from provenance import lineage as lineage_lib

# Drift is measured for every feature; above these it is flagged. L-infinity
# distance for categorical features, Jensen-Shannon divergence for numeric
# ones, as TFDV's drift comparators define them.
CATEGORICAL_DRIFT_THRESHOLD = 0.1
NUMERIC_DRIFT_THRESHOLD = 0.1
STATISTICS_FILE = 'FeatureStats.pb'
ANOMALIES_FILE = 'SchemaDiff.pb'


def splits(uri: str) -> List[str]:
  """Split names of a statistics or anomalies artifact, train first."""
  found = sorted(n[len('Split-'):] for n in os.listdir(uri) if n.startswith('Split-'))
  return sorted(found, key=lambda s: (s != 'train', s != 'eval', s))


def split_dirs(uri: str) -> List[Tuple[str, str]]:
  """(label, directory) of every split of an anomalies artifact.

  ExampleValidator writes Split-<name>; comparisons of two statistics
  (DistributionValidator) write SplitPair-<current>_<baseline>.
  """
  found = []
  for name in sorted(os.listdir(uri)):
    if name.startswith('Split-'):
      found.append((name[len('Split-'):], name))
    elif name.startswith('SplitPair-'):
      current, _, baseline = name[len('SplitPair-'):].partition('_')
      found.append((f'{current} against the baseline {baseline}', name))
  return sorted(found, key=lambda t: (not t[0].startswith('train'), t[0]))


def load_statistics(uri: str, split: str):
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_stats_binary(os.path.join(uri, f'Split-{split}', STATISTICS_FILE))


def load_anomalies(uri: str, split: str, directory: Optional[str] = None):
  """The anomalies of `split`, or of a split_dirs() `directory`."""
  # Not exported at tfdv's top level in 1.16.
  from tensorflow_data_validation.utils import anomalies_util  # pylint: disable=g-import-not-at-top
  return anomalies_util.load_anomalies_binary(
      os.path.join(uri, directory or f'Split-{split}', ANOMALIES_FILE))


def load_schema(uri: str):
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_schema_text(os.path.join(uri, 'schema.pbtxt'))


def num_examples(statistics) -> int:
  return int(statistics.datasets[0].num_examples) if statistics.datasets else 0


def _median(num_stats) -> Optional[float]:
  for histogram in num_stats.histograms:
    if histogram.type == histogram.QUANTILES and histogram.buckets:
      buckets = histogram.buckets
      return buckets[len(buckets) // 2].low_value
  return num_stats.median if num_stats.median else None


def feature_rows(statistics) -> List[Dict[str, object]]:
  """One row per feature: type, missing share, and numeric or categorical summary."""
  if not statistics.datasets:
    return []
  dataset = statistics.datasets[0]
  total = dataset.num_examples or 1
  rows = []
  for feature in dataset.features:
    name = '.'.join(feature.path.step) or feature.name
    kind = feature.WhichOneof('stats')
    row = {'feature': name, 'type': _TYPE_NAMES.get(feature.type, str(feature.type))}
    if kind == 'num_stats':
      stats = feature.num_stats
      common = stats.common_stats
      row.update(mean=stats.mean, std_dev=stats.std_dev, min=stats.min,
                 median=_median(stats), max=stats.max, zeros=stats.num_zeros / total)
    elif kind == 'string_stats':
      stats = feature.string_stats
      common = stats.common_stats
      top = stats.top_values[0] if stats.top_values else None
      row.update(unique=stats.unique, top=top.value if top else None,
                 top_share=(top.frequency / total) if top else None)
    else:
      common = None
    missing = 0
    if common is not None:
      missing = common.num_missing
      # CsvExampleGen writes an empty field as an empty value list, which
      # TFDV counts as present; for single-valued features count it here.
      if common.max_num_values <= 1:
        missing += common.num_non_missing - common.tot_num_values
    row['missing'] = missing / total
    rows.append(row)
  return rows


_TYPE_NAMES = {0: 'INT', 1: 'FLOAT', 2: 'STRING', 3: 'BYTES', 4: 'STRUCT'}


def anomaly_rows(anomalies) -> List[Dict[str, str]]:
  rows = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    rows.append({'feature': feature, 'severity': _severity(info.severity),
                 'anomaly': info.short_description, 'description': info.description})
  for info in anomalies.dataset_anomaly_info.reason if anomalies.HasField(
      'dataset_anomaly_info') else []:
    rows.append({'feature': '(dataset)', 'severity': _severity(
        anomalies.dataset_anomaly_info.severity), 'anomaly': info.short_description,
                 'description': info.description})
  return rows


def _severity(value) -> str:
  return {0: 'UNKNOWN', 1: 'WARNING', 2: 'ERROR'}.get(int(value), str(value))


def drift_rows(current, previous, schema,
               categorical_threshold: float = CATEGORICAL_DRIFT_THRESHOLD,
               numeric_threshold: float = NUMERIC_DRIFT_THRESHOLD) -> List[Dict[str, object]]:
  """TFDV's drift measure of every feature between two statistics.

  Works on a copy of the schema: the comparators a curated schema declares
  are kept (their thresholds are the pipeline's), every other feature gets
  one with the default thresholds, so every feature gets a number.
  """
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = type(schema).FromString(schema.SerializeToString())
  for feature in schema.feature:
    if feature.HasField('drift_comparator'):
      continue
    if feature.type == schema_pb2.BYTES:
      feature.drift_comparator.infinity_norm.threshold = categorical_threshold
    else:
      feature.drift_comparator.jensen_shannon_divergence.threshold = numeric_threshold
  return drift_rows_of(tfdv.validate_statistics(current, schema, previous_statistics=previous))


def drift_rows_of(anomalies) -> List[Dict[str, object]]:
  """The drift measurements an Anomalies proto carries, largest first."""
  rows = []
  for info in anomalies.drift_skew_info:
    for m in info.drift_measurements:
      measure = ('L-infinity' if m.type == m.L_INFTY else
                 'Jensen-Shannon' if m.type == m.JENSEN_SHANNON_DIVERGENCE else str(m.type))
      rows.append({'feature': '.'.join(info.path.step), 'measure': measure,
                   'value': m.value, 'threshold': m.threshold,
                   'drifted': bool(not math.isnan(m.value) and m.value > m.threshold)})
  return sorted(rows, key=lambda r: -r['value'])


def raw_statistics(lin: lineage_lib.Lineage, span: Optional[int] = None) -> List[lineage_lib.ArtifactInfo]:
  """StatisticsGen outputs (statistics of the data as read), oldest first.

  Transform's pre/post-transform statistics are ExampleStatistics too; they
  are told apart by the producer's output key.
  """
  found = []
  for artifact in lin.describe(a.id for a in lin.store.artifacts_of_type('ExampleStatistics')):
    if artifact.output_key != 'statistics' or artifact.producer is None:
      continue
    if span is None or statistics_span(lin, artifact) == span:
      found.append(artifact)
  return found


def statistics_span(lin: lineage_lib.Lineage, statistics: lineage_lib.ArtifactInfo) -> Optional[int]:
  for event in lin.store.inputs(statistics.producer.id):
    examples = lin.describe([event.artifact_id])[0]
    if examples.span is not None:
      return examples.span
  return None


def previous_span_statistics(lin: lineage_lib.Lineage, span: int) -> Optional[lineage_lib.ArtifactInfo]:
  """The newest statistics of the newest span before `span`, if any."""
  earlier = [(statistics_span(lin, a), a.id, a) for a in raw_statistics(lin)]
  earlier = [t for t in earlier if t[0] is not None and t[0] < span]
  return max(earlier, key=lambda t: (t[0], t[1]))[2] if earlier else None


def spans_with_statistics(lin: lineage_lib.Lineage) -> Dict[int, lineage_lib.ArtifactInfo]:
  """Span -> its newest raw statistics."""
  found: Dict[int, lineage_lib.ArtifactInfo] = {}
  for artifact in raw_statistics(lin):
    span = statistics_span(lin, artifact)
    if span is not None:
      found[span] = artifact
  return dict(sorted(found.items()))
