"""A fingerprint of the code TFX runs from this project by import path.

TFX's cache key holds a component's exec properties, and
'models.preprocessing.preprocessing_fn' names the code, not its content:
after an edit of preprocessing.py or model.py an unchanged rerun would reuse
the Transform output and the model the old code built. The same holds for
description/, which both build on (the features, their treatments, the
training hyperparameters' defaults). The fingerprint goes into Transform's
and the Trainer's custom_config, so an edit re-runs them and everything that
reads their outputs.
"""

import hashlib
import os
from typing import Sequence

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
DESCRIPTION_DIR = os.path.join(os.path.dirname(MODELS_DIR), 'description')
PACKAGE_DIRS = (MODELS_DIR, DESCRIPTION_DIR)


def _is_source(name: str) -> bool:
  return (name.endswith('.py') and not name.endswith('_test.py') and
          name != 'conftest.py')


def fingerprint(package_dirs: Sequence[str] = PACKAGE_DIRS) -> str:
  """sha256 (first 16 hex digits) over the packages' non-test .py files."""
  digest = hashlib.sha256()
  for package_dir in package_dirs:
    digest.update(os.path.basename(package_dir).encode() + b'/\0')
    for name in sorted(filter(_is_source, os.listdir(package_dir))):
      with open(os.path.join(package_dir, name), 'rb') as f:
        digest.update(name.encode() + b'\0' + f.read() + b'\0')
  return digest.hexdigest()[:16]
