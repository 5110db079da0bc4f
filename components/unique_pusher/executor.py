"""UniquePusher's executor: TFX's Pusher, except for a model already serving.

Why: the second run after a first blessing re-evaluates the same (cached)
Trainer output against itself, blesses it again, and TFX's Pusher copies it
to a new timestamped version, which CanaryRollout then canaries against
itself. Here the model's fingerprint (SHA-256 over saved_model.pb and the
variables, the files that define what the server computes) is compared with
every version already under the push destination; a match is recorded as not
pushed (`pushed` = 0, so CanaryRollout skips) with `duplicate_of_version`
naming the version that already serves it. The file system is the source of
truth, not ML Metadata, because that is what the model server loads.

With an `automation_policy` input, the push is TFX's filesystem push plus the
policy's automation_policy.json in the version directory, written before
saved_model.pb: the server (like TF Serving) takes saved_model.pb as the sign
that a version is complete, so it never loads the model without its band.
"""

import hashlib
import os
import time
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils

from serving import automation

FINGERPRINT_PROPERTY = 'model_fingerprint'
DUPLICATE_OF_PROPERTY = 'duplicate_of_version'
_DEFINING_FILES = ('saved_model.pb',)
_DEFINING_DIRS = ('variables',)
POLICY_KEY = 'automation_policy'


def model_fingerprint(model_dir: str) -> Optional[str]:
  """SHA-256 of a SavedModel's graph and variables; None if it has no graph."""
  if not fileio.exists(os.path.join(model_dir, 'saved_model.pb')):
    return None
  paths = [name for name in _DEFINING_FILES
           if fileio.exists(os.path.join(model_dir, name))]
  for directory in _DEFINING_DIRS:
    root = os.path.join(model_dir, directory)
    if fileio.isdir(root):
      for dirpath, _, files in fileio.walk(root):
        paths += [os.path.relpath(os.path.join(dirpath, f), model_dir) for f in files]
  digest = hashlib.sha256()
  for rel in sorted(paths):
    digest.update(rel.encode('utf-8') + b'\0')
    with fileio.open(os.path.join(model_dir, rel), 'rb') as f:
      digest.update(f.read())
    digest.update(b'\0')
  return digest.hexdigest()


def version_with_fingerprint(base_directory: str, fingerprint: str) -> Optional[str]:
  """The pushed version under `base_directory` holding the same model, if any."""
  if not fileio.isdir(base_directory):
    return None
  for version in sorted(fileio.listdir(base_directory)):
    version = version.rstrip('/')
    path = os.path.join(base_directory, version)
    if fileio.isdir(path) and model_fingerprint(path) == fingerprint:
      return version
  return None


class Executor(pusher_executor.Executor):
  """Pushes a blessed model unless the same model is already pushed."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    model_push = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      return
    fingerprint = model_fingerprint(self.GetModelPath(input_dict))
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
    base = (destination.filesystem.base_directory
            if destination.WhichOneof('destination') == 'filesystem' else '')
    duplicate = (version_with_fingerprint(base, fingerprint)
                 if base and fingerprint else None)
    if duplicate is not None:
      logging.info('Model %s is already pushed as version %s under %s: not pushed '
                   'again.', fingerprint, duplicate, base)
      self._MarkNotPushed(model_push)
      model_push.set_string_custom_property(DUPLICATE_OF_PROPERTY, duplicate)
    elif input_dict.get(POLICY_KEY) and base:
      policy = artifact_utils.get_single_instance(input_dict[POLICY_KEY])
      self._push_with_policy(self.GetModelPath(input_dict), base, model_push,
                             os.path.join(policy.uri, automation.POLICY_FILE))
    else:
      super().Do(input_dict, output_dict, exec_properties)
    if fingerprint:
      model_push.set_string_custom_property(FINGERPRINT_PROPERTY, fingerprint)

  def _push_with_policy(self, model_path: str, base: str, model_push: types.Artifact,
                        policy_file: str) -> None:
    """TFX's filesystem push (tfx/components/pusher/executor.py), plus the policy."""
    if not fileio.exists(policy_file):
      raise FileNotFoundError(f'the automation policy {policy_file} is missing: the '
                              f'AutomationPolicy component wrote no band for this model')
    version = str(int(time.time()))
    serving_path = os.path.join(base, version)
    if fileio.exists(serving_path):
      logging.info('Destination directory %s already exists, skipping current push.',
                   serving_path)
    else:
      io_utils.copy_dir(model_path, serving_path, deny_regex_patterns=[r'saved_model\.pb'])
      io_utils.copy_file(policy_file, os.path.join(serving_path, automation.POLICY_FILE))
      io_utils.copy_file(os.path.join(model_path, 'saved_model.pb'),
                         os.path.join(serving_path, 'saved_model.pb'))
      logging.info('Model and its automation policy written to %s.', serving_path)
    io_utils.copy_dir(model_path, model_push.uri)
    self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
