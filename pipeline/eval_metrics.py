"""Keras metrics for TFMA, updated without AutoGraph.

TFMA runs a Keras metric's update_state eagerly on batches of examples, and
Keras converts update_state with AutoGraph on every fresh metric object: on
the taxi data that conversion was 2 s of the Evaluator's 11 s, for code that
has no Python control flow over tensors to convert. Same class name and
metric name as Keras', so blessing thresholds and reports read it unchanged.
"""

import tensorflow as tf


class SparseCategoricalAccuracy(tf.keras.metrics.SparseCategoricalAccuracy):
  """tf.keras' SparseCategoricalAccuracy, its update not converted by AutoGraph."""

  @tf.autograph.experimental.do_not_convert
  def update_state(self, y_true, y_pred, sample_weight=None):
    return super().update_state(y_true, y_pred, sample_weight=sample_weight)
