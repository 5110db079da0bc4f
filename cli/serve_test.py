"""cli.serve's console: the URL first, then one line per event that matters;
TensorFlow's start-up noise and the server's records in the log file only."""

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

from testing import toy_model
from testing.serving_fixtures import MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _admin(url, token, action, body):
  host, port = url.split('//')[1].split(':')
  conn = http.client.HTTPConnection(host, int(port), timeout=60)
  conn.request('POST', f'/v1/admin/models/{MODEL}/{action}', body=json.dumps(body),
               headers={'Content-Type': 'application/json',
                        'Authorization': f'Bearer {token}'})
  response = conn.getresponse()
  assert response.status == 200, response.read()
  conn.close()


def _lines_of(stream) -> 'queue.Queue':
  """The stream's lines, read by a thread: a silent server must not hang the test."""
  lines = queue.Queue()

  def pump():
    for line in stream:
      lines.put(line.rstrip('\n'))
    lines.put(None)

  threading.Thread(target=pump, daemon=True).start()
  return lines


def _read_until(lines, text, timeout=120):
  seen, deadline = [], time.monotonic() + timeout
  while time.monotonic() < deadline:
    try:
      line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
    except queue.Empty:
      break
    if line is None:
      break
    seen.append(line)
    if text in line:
      return seen
  raise AssertionError(f'{text!r} not seen; got {seen}')


def test_the_console_has_the_events_and_the_log_file_the_rest(tmp_path):
  root = tmp_path / 'serving'
  for version in (1, 2):
    toy_model.write_toy_model(str(root / MODEL), version)
  (root / MODEL / '3').mkdir()  # a version that cannot load
  (root / MODEL / '3' / 'saved_model.pb').write_bytes(b'not a SavedModel')
  token_file = str(tmp_path / 'admin.token')
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  proc = subprocess.Popen(
      [sys.executable, '-m', 'cli.serve', '--serving-root', str(root), '--model-name', MODEL,
       '--port', '0', '--settle-seconds', '0', '--admin-token-file', token_file],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(env, TF_USE_LEGACY_KERAS='1'))
  stdout = _lines_of(proc.stdout)
  try:
    first = stdout.get(timeout=180)
    assert first and first.startswith(f'serving model {MODEL} on http://127.0.0.1:'), first
    assert f'admin token in {token_file}' in first
    url = first.split(' on ')[1].split()[0]
    lines = _read_until(stdout, 'version 2 is available')
    log_file = lines[0].split('full log: ')[1]
    assert log_file.startswith(str(root / 'logs' / 'serve-'))
    with open(token_file) as f:
      token = f.read().strip()
    _admin(url, token, 'labels', {'labels': {'stable': 1}})
    _admin(url, token, 'canary', {'version': 2, 'weight': 25})
    # The console polls the routing: a change it has not seen yet would be
    # folded into the next one.
    lines += _read_until(stdout, 'canary 25%')
    _admin(url, token, 'promote', {})
    lines += _read_until(stdout, 'promoted version 2 to stable')
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    err = proc.stderr.read()
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait(10)
  while True:
    line = stdout.get(timeout=10)
    if line is None:
      break
    lines.append(line)
  assert proc.returncode == 0, err
  assert 'model credit_risk version 1 is available' in '\n'.join(lines)
  assert any('canary 25%' in l for l in lines), lines
  assert lines[-1] == 'stopped'
  assert len(lines) <= 12, lines
  # The broken version is named on the console; TensorFlow's noise is not.
  assert 'version 3 failed to load' in err, err
  for noise in ('cuda', 'cuDNN', 'oneDNN', 'TF-TRT'):
    assert noise not in err + '\n'.join(lines), noise
  with open(log_file) as f:
    log = f.read()
  assert 'version 3 failed to load' in log and 'version 1 is available' in log


def test_a_request_log_without_a_description_to_redact_by_is_warned_about(capsys):
  import argparse  # pylint: disable=g-import-not-at-top
  from cli import serve  # pylint: disable=g-import-not-at-top
  args = argparse.Namespace(description=None, request_log_dir='/tmp/requests')
  assert serve._pii_redactor(args, 'not_the_default_model') is None  # pylint: disable=protected-access
  assert "no --description for model 'not_the_default_model'" in capsys.readouterr().err
  # The default description's model is redacted by that description: no warning.
  assert serve._pii_redactor(args, 'credit_risk').active  # pylint: disable=protected-access
  assert capsys.readouterr().err == ''
