"""The console capture and the component progress, in a child process each:
capture points the process's descriptors 1 and 2 at a pipe, which must not
disturb pytest's own capture."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Stands in for a TFX run: the LocalDagRunner's and Launcher's records, a
# native write to descriptor 2, a print, a child process, an error record.
SCRIPT = textwrap.dedent('''
    import logging, os, sys, time
    from absl import logging as absl_logging
    import console
    verbose = sys.argv[2] == 'verbose'
    with console.capture(sys.argv[1], verbose=verbose) as con:
      progress = console.ComponentProgress(con, total=3, tick_seconds=0.2)
      try:
        with progress:
          absl_logging.info('Component %s is running.', 'CsvExampleGen')
          # What TensorFlow does around every model export.
          absl_logging.set_verbosity(absl_logging.get_verbosity())
          os.write(2, b'E0000 cuda_dnn.cc:1] Unable to register cuDNN factory\\n')
          print('a print from an executor')
          absl_logging.info('Going to run a new execution %d', 3)
          time.sleep(0.5)
          absl_logging.info('Component %s is finished.', 'CsvExampleGen')
          absl_logging.info('Component %s is running.', 'Transform')
          absl_logging.info('A cached execution %d is used.', 4)
          absl_logging.info('Component %s is finished.', 'Transform')
          absl_logging.info('Component %s is running.', 'Trainer')
          os.system('echo from a child process >&2')
          logging.getLogger('trainer').error('the loss is NaN')
          if sys.argv[3] == 'raise':
            raise RuntimeError('boom')
          absl_logging.info('Component %s is finished.', 'Trainer')
      except RuntimeError:
        con.warn(f'FAILED in {progress.failed}')
      con.say('the summary')
    print('after the capture')
''')


def _run(tmp_path, verbose=False, fail=False):
  log = str(tmp_path / 'logs' / 'run.log')
  script = tmp_path / 'script.py'
  script.write_text(SCRIPT)
  result = subprocess.run(
      [sys.executable, str(script), log, 'verbose' if verbose else 'quiet',
       'raise' if fail else 'ok'],
      capture_output=True, text=True, timeout=120,
      env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')))
  assert result.returncode == 0, result.stderr
  with open(log) as f:
    return result.stdout, result.stderr, f.read()


def test_quiet_console_has_component_lines_and_the_log_file_has_everything(tmp_path):
  out, err, log = _run(tmp_path)
  lines = out.splitlines()
  assert lines[0].split() == ['[', '1/3]', 'CsvExampleGen', 'started']
  assert any(l.split()[2:4] == ['CsvExampleGen', 'COMPLETE'] for l in lines)
  assert any(l.split()[2:4] == ['Transform', 'CACHED'] for l in lines)
  assert any('CsvExampleGen' in l and 'running' in l for l in lines)  # the ticker
  assert lines[-2:] == ['the summary', 'after the capture']
  assert len(lines) <= 10
  # Nothing of the libraries' output, but the error, with its component.
  assert 'cuDNN' not in out + err and 'a print' not in out + err
  assert 'ERROR in Trainer (trainer): the loss is NaN' in err
  for text in ('Unable to register cuDNN factory', 'a print from an executor',
               'from a child process', 'Component CsvExampleGen is running.',
               'the loss is NaN'):
    assert text in log, text
  assert 'the summary' not in log


def test_verbose_streams_the_log_too_without_the_harmless_lines(tmp_path):
  out, err, log = _run(tmp_path, verbose=True)
  for text in ('a print from an executor', 'from a child process',
               'Component CsvExampleGen is running.', 'the loss is NaN'):
    assert text in err, text
  assert 'cuDNN' not in err and 'cuDNN' in log  # filtered from the console only
  assert 'CsvExampleGen' in out and 'the summary' in out


def test_a_failure_names_the_component_that_raised(tmp_path):
  out, err, _ = _run(tmp_path, fail=True)
  assert any(l.split()[2:4] == ['Trainer', 'FAILED'] for l in out.splitlines())
  assert 'FAILED in Trainer' in err


def test_harmless_patterns_match_only_what_they_name():
  import console  # pylint: disable=g-import-not-at-top
  assert console.is_harmless('W ... ArtifactQuery.property_predicate is not supported.')
  assert not console.is_harmless('ValueError: column fare is missing')


QUIET_SCRIPT = textwrap.dedent('''
    import os, sys, warnings
    import console
    console.hide_harmless_stderr()
    os.write(2, b'E0000 cuda_dnn.cc:1] Unable to register cuDNN factory\\n')
    warnings.warn('You are using a non-supported Python version (3.10)', FutureWarning)
    print('the result')
    os.system('echo from a child process >&2')
    print('a real warning', file=sys.stderr)
    raise SystemExit('error: the last words before exit')
''')


def test_hide_harmless_stderr_drops_only_the_known_noise_and_loses_nothing(tmp_path):
  script = tmp_path / 'quiet.py'
  script.write_text(QUIET_SCRIPT)
  result = subprocess.run(
      [sys.executable, str(script)], capture_output=True, text=True, timeout=120,
      env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')))
  assert result.returncode == 1
  assert result.stdout == 'the result\n'
  assert result.stderr.splitlines() == [
      'from a child process', 'a real warning', 'error: the last words before exit']
