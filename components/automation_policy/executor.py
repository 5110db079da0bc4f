"""AutomationPolicy's executor: scores the eval split, chooses the band, records it.

The choice is analysis/automation_band.py's; the page,
reports/templates/automation_policy.html.j2.
"""

import json
import os
from typing import Any, Dict, List, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

import description
import reports
from analysis import automation_band

EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
BLESSING_KEY = 'model_blessing'
OUTPUT_KEY = 'policy'
POLICY_JSON = 'automation_policy.json'
POLICY_HTML = 'automation_policy.html'
BATCH = 1024
# Deferral rates the page shows the automated accuracy at, to help set targets.
CURVE_RATES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


class PolicyError(ValueError):
  """The model or the examples cannot give a policy; says which and why."""


def _signature(loaded, name: str, path: str):
  if name not in loaded.signatures:
    raise PolicyError(f'the model at {path} has no {name!r} signature (it has '
                      f'{sorted(loaded.signatures)}); see models/model.py make_signatures')
  return loaded.signatures[name]


def score(model: types.Artifact, examples: types.Artifact, split: str,
          spec: description.DatasetSpec) -> Tuple[np.ndarray, np.ndarray, int]:
  """(probabilities, label class ids, examples without a known label) of a split,
  both through the model's own signatures: serving_examples for what the server
  answers, transform_features for the label exactly as training saw it."""
  path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
  loaded = tf.saved_model.load(path)
  serve = _signature(loaded, 'serving_examples', path)
  transform = _signature(loaded, 'transform_features', path)
  uri = artifact_utils.get_split_uri([examples], split)
  files = sorted(tf.io.gfile.glob(os.path.join(uri, '*')))
  if not files:
    raise PolicyError(f'split {split!r} of {examples.uri} holds no file')
  compression = 'GZIP' if all(f.endswith('.gz') for f in files) else ''
  probabilities, labels = [], []
  for batch in tf.data.TFRecordDataset(files, compression_type=compression).batch(BATCH):
    probabilities.append(serve(examples=batch)['probabilities'].numpy())
    transformed = transform(examples=batch)
    if spec.transformed_label not in transformed:
      raise PolicyError(f'the model at {path} gives no {spec.transformed_label!r} for the '
                        f'{split} examples: do they hold the label column {spec.label!r}?')
    labels.append(transformed[spec.transformed_label].numpy().reshape(-1))
  if not probabilities:
    raise PolicyError(f'split {split!r} of {examples.uri} holds no example')
  probabilities, labels = np.concatenate(probabilities), np.concatenate(labels)
  known = labels >= 0  # -1: a label outside label.classes
  return probabilities[known], labels[known].astype(np.int64), int((~known).sum())


def curve(probabilities: np.ndarray, labels: np.ndarray, spec: description.DatasetSpec,
          max_deferral_rate: float) -> List[Dict[str, Any]]:
  """The automated accuracy and recall at a few deferral rates, least confident deferred."""
  confidence = np.sort(probabilities.max(axis=1))
  rows = []
  for rate in CURVE_RATES:
    if rate > max_deferral_rate:
      break
    threshold = float(confidence[min(int(rate * len(confidence)), len(confidence) - 1)])
    band = automation_band.measure_band(probabilities, labels, threshold,
                                        spec.automation.confidence_level, spec.rare_class_id)
    rows.append({'min_confidence': threshold, 'deferral_rate': band.deferral_rate,
                 'accuracy': band.accuracy, 'rare_class_recall': band.rare_class_recall})
  return rows


def policy(band: automation_band.Band, spec: description.DatasetSpec) -> Dict[str, Any]:
  """The MLMD properties of the policy (see metadata.artifacts.AutomationPolicy)."""
  found = {'blessed': 1, 'level': spec.automation.level, 'min_confidence': band.min_confidence,
           'expected_deferral_rate': band.deferral_rate,
           'expected_deferral_rate_low': band.deferral_interval[0],
           'expected_deferral_rate_high': band.deferral_interval[1],
           'expected_accuracy': band.accuracy,
           'expected_accuracy_low': band.accuracy_interval[0],
           'expected_accuracy_high': band.accuracy_interval[1],
           'confidence_level': band.confidence_level}
  if band.rare_class_recall is not None:
    found.update({'expected_rare_class_recall': band.rare_class_recall,
                  'expected_rare_class_recall_low': band.rare_class_recall_interval[0],
                  'expected_rare_class_recall_high': band.rare_class_recall_interval[1]})
  return found


def write(directory: str, document: Dict[str, Any]) -> None:
  tf.io.gfile.makedirs(directory)
  with tf.io.gfile.GFile(os.path.join(directory, POLICY_JSON), 'w') as f:
    json.dump(document, f, indent=1, sort_keys=True)
  with tf.io.gfile.GFile(os.path.join(directory, POLICY_HTML), 'w') as f:
    f.write(reports.render('automation_policy.html.j2', **document))


def _set_properties(artifact: types.Artifact, values: Dict[str, Any]) -> None:
  for key, value in values.items():
    if isinstance(value, int):
      artifact.set_int_custom_property(key, value)
    elif isinstance(value, float):
      artifact.set_float_custom_property(key, value)
    else:
      artifact.set_string_custom_property(key, str(value))


class Executor(base_executor.BaseExecutor):
  """Chooses the confidence band of the blessed model and records it with the model."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    spec = description.from_exec_property(exec_properties[description.EXEC_PROPERTY])
    if spec.automation is None:
      raise description.DatasetSpecError(f'{spec.source}: no automation section')
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    blessing = artifact_utils.get_single_instance(input_dict[BLESSING_KEY])
    output = artifact_utils.get_single_instance(output_dict[OUTPUT_KEY])
    split = exec_properties['example_split']
    context = {'title': f'Automation policy: {spec.name}', 'model_uri': model.uri,
               'split': split, 'level': spec.automation.level,
               'targets': _targets(spec)}
    if not model_utils.is_model_blessed(blessing):
      # Nothing will be pushed, so nothing will be served under a band.
      _set_properties(output, {'blessed': 0, 'model_uri': model.uri, 'split': split})
      write(output.uri, dict(context, blessed=False, band=None, curve=[], examples=0,
                                  unknown_labels=0))
      logging.info('AutomationPolicy: the model is not blessed; no band chosen')
      return
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    probabilities, labels, unknown = score(model, examples, split, spec)
    # UnreachableTarget stops the run here, before the Pusher: a model is never
    # served under a band that does not do what the description asks.
    band = automation_band.choose_band(probabilities, labels, spec.automation,
                                       spec.rare_class_id)
    properties = dict(policy(band, spec), model_uri=model.uri, split=split)
    _set_properties(output, properties)
    write(output.uri, dict(context, blessed=True, band=properties,
                           curve=curve(probabilities, labels, spec,
                                       spec.automation.max_deferral_rate),
                           examples=band.examples,
                           unknown_labels=unknown))
    logging.info('AutomationPolicy: automate iff confidence >= %.4f; expected deferral '
                 '%.1f%%, automated accuracy %.3f [%.3f, %.3f]', band.min_confidence,
                 100 * band.deferral_rate, band.accuracy, *band.accuracy_interval)


def _targets(spec: description.DatasetSpec) -> Dict[str, Any]:
  a = spec.automation
  return {'target_accuracy': a.target_accuracy,
          'target_rare_class_recall': a.target_rare_class_recall,
          'rare_class': spec.rare_class, 'max_deferral_rate': a.max_deferral_rate,
          'confidence_level': a.confidence_level}
