#!/usr/bin/env bash
# Installs the system tools the test suite needs beyond .venv: Debian's
# chromium, which renders the HTML run report headless (provenance tests).
# Idempotent and silent when everything is already there, so `make test` can
# call it every time. Needs root, or sudo without a password.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_test_tools: chromium is missing and apt-get is not available;" \
       "install a headless-capable chromium by hand (tests look for 'chromium' on PATH)." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install_test_tools: chromium is missing; run as root (or with passwordless" \
         "sudo): apt-get install -y --no-install-recommends chromium" >&2
    exit 1
  fi
fi

started=$(date +%s)
echo "install_test_tools: installing Debian's chromium (about 100 MB, once)"
export DEBIAN_FRONTEND=noninteractive
# A fresh image has empty package lists; refresh them only when apt does not
# know the package yet, so repeated set-ups stay offline.
if ! apt-cache show chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium >/tmp/install_test_tools.$$.log 2>&1; then
  # Stale lists point at package versions the mirror no longer has.
  $SUDO apt-get update -qq
  if ! $SUDO apt-get install -y -qq --no-install-recommends chromium >/tmp/install_test_tools.$$.log 2>&1; then
    tail -20 /tmp/install_test_tools.$$.log >&2
    rm -f /tmp/install_test_tools.$$.log
    echo "install_test_tools: apt-get install chromium failed (log above)" >&2
    exit 1
  fi
fi
rm -f /tmp/install_test_tools.$$.log
echo "install_test_tools: $(chromium --version 2>/dev/null || echo chromium) in $(( $(date +%s) - started )) s"
