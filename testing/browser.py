"""Headless Chromium for tests of the HTML pages (installed by scripts/install_test_tools.sh)."""

import shutil
import subprocess

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']


def chromium(tmp_path, *args, timeout: float = 180) -> str:
  """Runs Chromium with its own profile under `tmp_path`; its stdout (e.g. --dump-dom)."""
  assert shutil.which('chromium'), 'chromium is not installed: run scripts/install_test_tools.sh'
  profile = tmp_path / f'chromium-profile-{len(list(tmp_path.iterdir()))}'
  profile.mkdir()
  result = subprocess.run(['chromium'] + FLAGS + [f'--user-data-dir={profile}'] + list(args),
                          capture_output=True, text=True, timeout=timeout)
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout
