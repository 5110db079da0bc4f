"""Beam arguments by data size, and the local dependency flag."""

import os

from pipeline import configs


def _mode(args):
  (mode,) = [a.split('=', 1)[1] for a in args if a.startswith('--direct_running_mode=')]
  return mode


def test_in_memory_up_to_the_threshold_worker_processes_above():
  assert _mode(configs.beam_pipeline_args(configs.IN_MEMORY_MAX_ROWS)) == 'in_memory'
  above = configs.beam_pipeline_args(configs.IN_MEMORY_MAX_ROWS + 1, num_workers=3)
  assert _mode(above) == 'multi_processing'
  assert '--direct_num_workers=3' in above
  assert '--runner=FnApiRunner' in above


def test_setup_file_only_when_asked_and_it_exists():
  assert not any(a.startswith('--setup_file') for a in configs.beam_pipeline_args(10))
  local = configs.beam_pipeline_args(10, setup_file=configs.SETUP_FILE)
  assert f'--setup_file={configs.SETUP_FILE}' in local
  assert os.path.isfile(configs.SETUP_FILE)


def test_the_dependency_flag_stops_tfx_building_an_sdist_per_executor():
  # TFX's BaseBeamExecutor leaves Beam arguments that name a dependency alone;
  # without one it copies tfx and runs `setup.py sdist` (~1 s) per executor.
  from tfx.utils import dependency_utils
  local = configs.beam_pipeline_args(10, setup_file=configs.SETUP_FILE)
  assert dependency_utils.make_beam_dependency_flags(local) == local
