#!/usr/bin/env bash
# Installs the system tools the test suite needs beyond .venv, from Debian:
#   chromium    renders the HTML reports headless (provenance and monitor tests)
#   prometheus  the Prometheus server and promtool: the monitoring tests start a
#               real server on loopback and check the generated alert rules
#               (`promtool check rules`, `promtool test rules`)
# Idempotent and silent when everything is already there, so `make test` can
# call it every time. Needs root, or sudo without a password.
set -euo pipefail

# package:command pairs: a package is installed only when its command is missing.
WANTED="chromium:chromium prometheus:promtool prometheus:prometheus"

missing=""
for pair in $WANTED; do
  package=${pair%%:*}
  command=${pair##*:}
  if ! command -v "$command" >/dev/null 2>&1; then
    case " $missing " in *" $package "*) ;; *) missing="$missing $package" ;; esac
  fi
done
missing=${missing# }
if [ -z "$missing" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_test_tools: missing $missing and apt-get is not available;" \
       "install them by hand (tests look for chromium, prometheus and promtool on PATH)." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install_test_tools: missing $missing; run as root (or with passwordless" \
         "sudo): apt-get install -y --no-install-recommends $missing" >&2
    exit 1
  fi
fi

started=$(date +%s)
echo "install_test_tools: installing Debian's $missing (once)"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install_test_tools.XXXXXX)
trap 'rm -f "$log"' EXIT
# A fresh image has empty package lists; refresh them only when apt does not
# know a package yet, so repeated set-ups stay offline. At most one update per run.
updated=0
for package in $missing; do
  if [ "$updated" -eq 0 ] && ! apt-cache show "$package" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    updated=1
  fi
done
# The package's service must not start: the tests start their own servers on
# loopback, and a container has no init to run it anyway.
policy_rc=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
  $SUDO chmod 755 "$policy_rc"
  own_policy=1
fi
install() {
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >"$log" 2>&1
}
status=0
if ! install; then
  # Stale lists point at package versions the mirror no longer has.
  if [ "$updated" -eq 0 ]; then
    $SUDO apt-get update -qq
  fi
  install || status=$?
fi
if [ "$own_policy" -eq 1 ]; then
  $SUDO rm -f "$policy_rc"
fi
if [ "$status" -ne 0 ]; then
  tail -20 "$log" >&2
  echo "install_test_tools: apt-get install $missing failed (log above)" >&2
  exit 1
fi
for pair in $WANTED; do
  command=${pair##*:}
  if ! command -v "$command" >/dev/null 2>&1; then
    echo "install_test_tools: $command is still not on PATH after installing ${pair%%:*}" >&2
    exit 1
  fi
done
echo "install_test_tools: $(chromium --version 2>/dev/null || echo chromium)," \
     "$(promtool --version 2>&1 | head -1) in $(( $(date +%s) - started )) s"
