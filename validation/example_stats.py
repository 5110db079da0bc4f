"""In-memory TFDV statistics of tf.Examples, computed as StatisticsGen does.

For data that is not an ExampleGen output (serving requests, a request log)
or too small to be worth a Beam pipeline: the same decoder (tf.Example ->
Arrow) and the same statistics generators, with the schema given so that,
e.g., categorical ints get value counts like in the pipeline.
"""

from typing import Iterable, Optional

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tfx_bsl.coders import example_coder

from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2


def statistics(examples: Iterable[tf.train.Example],
               schema: Optional[schema_pb2.Schema] = None
               ) -> statistics_pb2.DatasetFeatureStatisticsList:
  serialized = [e.SerializeToString() for e in examples]
  if not serialized:
    raise ValueError('no examples to compute statistics of')
  record_batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(serialized)
  options = tfdv.StatsOptions(schema=schema) if schema is not None else tfdv.StatsOptions()
  return stats_impl.generate_statistics_in_memory(record_batch, options)
