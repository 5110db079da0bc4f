"""Test-wide setup: Keras 2 for TFX 1.16, set before anything imports TensorFlow;
Beam patched as local_runner patches it (pipeline/beam_speedups.py), for the
whole session, so no test's Beam depends on which tests ran before it.

Also the fixtures tests in several packages share (the default dataset's
description and curated schema).
"""

import os

import pytest

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture(scope='session', autouse=True)
def beam_as_local_runner_runs_it():
  from pipeline import beam_speedups  # pylint: disable=g-import-not-at-top
  beam_speedups.apply()


@pytest.fixture(scope='session')
def credit_spec():
  """The default dataset's description, as every command reads it."""
  import description  # pylint: disable=g-import-not-at-top
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  return description.load(configs.DEFAULT_DESCRIPTION)


@pytest.fixture(scope='session')
def credit_schema_path(credit_spec):
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  return configs.curated_schema_path(credit_spec.name)
