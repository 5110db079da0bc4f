#!/usr/bin/env bash
# Creates .venv (Python 3.10) with the pinned requirements.lock and this package.
# Idempotent: a stamp keyed on the lock and setup.py skips a finished install.
# pip's resolver never runs (--no-deps on a complete lock): see ../shared/STACK.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

find_python() {
  # .python-version makes pyenv's shim answer python3.10 inside the checkout.
  for candidate in python3.10 "$HOME/.pyenv/versions/3.10.13/bin/python3.10"; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.10.13 pyenv which python3.10 >/dev/null 2>&1; then
    PYENV_VERSION=3.10.13 pyenv which python3.10; return 0
  fi
  echo "error: Python 3.10 not found (TFX 1.16 needs 3.10). Install it, e.g. 'pyenv install 3.10.13'." >&2
  return 1
}

stamp="$VENV/.installed-$(cat requirements.lock setup.py | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi

started=$(date +%s)
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  # The lock changed: pip installs only the pins that differ.
  echo "setup: updating $VENV to requirements.lock"
else
  python_bin="$(find_python)"
  echo "setup: creating $VENV with $("$python_bin" --version)"
  rm -rf "$VENV"
  "$python_bin" -m venv "$VENV"
fi
rm -f "$VENV"/.installed-*
total=$(grep -c '^[^#].*==' requirements.lock)
echo "setup: installing $total pinned packages (about 4 minutes, 3.3 GB)"
# Progress: one line per package; the machine-wide pip config's unreachable
# extra indexes print warnings that say nothing about this install.
PYTHONUNBUFFERED=1 "$VENV/bin/pip" install --no-deps --no-cache-dir --disable-pip-version-check \
    -r requirements.lock 2>&1 \
  | { grep --line-buffered -E '^(Collecting|Installing|Successfully|ERROR|error)' || true; } \
  | awk -v total="$total" '/^Collecting/ {n++; printf "  [%3d/%d] %s\n", n, total, $2; fflush(); next} {print; fflush()}'
"$VENV/bin/pip" install --no-deps --no-build-isolation --disable-pip-version-check -q -e . 2>&1 \
  | { grep -v 'is ignored: it is neither' || true; }
TF_USE_LEGACY_KERAS=1 "$VENV/bin/python" -c '
import tfx, tensorflow_model_analysis, fairness_indicators.fairness_indicators_metrics, tensorflow_transform, kfp
print("setup: tfx", tfx.__version__, "| tfma", tensorflow_model_analysis.__version__, "| kfp", kfp.__version__)'
touch "$stamp"
echo "setup: done in $(( $(date +%s) - started )) s"
