"""A real model server process for the loop: cli.serve on loopback.

Started over the pipeline's Pusher directory with an admin token file (0600,
written by the server) and a request log; the URL is read from its first
console line. The pipeline's CanaryRollout and the loop's traffic both talk
to it over HTTP; SIGTERM stops it gracefully (the request log is flushed).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import List, Optional

from pipeline import configs

_URL = re.compile(r'serving model \S+ on (http://127\.0\.0\.1:\d+)')


class ServerProcess:

  def __init__(self, serving_model_dir: str, request_log_dir: str, state_dir: str,
               log_file: str, description_path: str):
    self.description_path = description_path
    self.serving_model_dir = serving_model_dir
    self.request_log_dir = request_log_dir
    self.token_file = os.path.join(state_dir, 'admin.token')
    self.state_dir = state_dir
    self.log_file = log_file
    self.url: Optional[str] = None
    self.lines: List[str] = []
    self._process: Optional[subprocess.Popen] = None

  def start(self, timeout: float = 300.0) -> str:
    os.makedirs(self.serving_model_dir, exist_ok=True)
    os.makedirs(self.state_dir, exist_ok=True)
    serving_root, model_name = os.path.split(self.serving_model_dir.rstrip('/'))
    self._process = subprocess.Popen(
        [sys.executable, '-m', 'cli.serve', '--serving-root', serving_root,
         '--model-name', model_name, '--host', '127.0.0.1', '--port', '0',
         '--state-dir', self.state_dir, '--admin-token-file', self.token_file,
         '--request-log-dir', self.request_log_dir, '--log-file', self.log_file,
         '--description', self.description_path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=configs.REPO_ROOT,
        env=dict(os.environ, TF_USE_LEGACY_KERAS='1'))
    found = threading.Event()

    def read():
      for line in self._process.stdout:
        self.lines.append(line.rstrip('\n'))
        match = _URL.search(line)
        if match and self.url is None:
          self.url = match.group(1)
          found.set()

    threading.Thread(target=read, name='serve-output', daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.5):
      if self._process.poll() is not None or time.monotonic() > deadline:
        self.stop()
        raise RuntimeError('the model server did not start:\n' + '\n'.join(self.lines[-30:]))
    return self.url

  def admin_token(self) -> str:
    with open(self.token_file) as f:
      return f.read().strip()

  @property
  def pid(self) -> Optional[int]:
    return self._process.pid if self._process else None

  def stop(self, timeout: float = 60.0) -> None:
    if self._process is None or self._process.poll() is not None:
      return
    self._process.send_signal(signal.SIGTERM)
    try:
      self._process.wait(timeout)
    except subprocess.TimeoutExpired:
      self._process.kill()
      self._process.wait(10)

  def __enter__(self) -> 'ServerProcess':
    self.start()
    return self

  def __exit__(self, *exc) -> None:
    self.stop()
