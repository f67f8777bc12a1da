#!/usr/bin/env bash
# Installs what the real-browser test needs (tests/browser):
#   - Debian's `chromium` (apt-get) when /usr/bin/chromium is missing;
#   - the PyPI `playwright` package into the current Python environment.
# Playwright drives the system chromium via executable_path, so `playwright install`
# (which downloads browsers) is never run.
# Usage: scripts/install-browser-deps.sh [PYTHON]   (default: python in PATH, or $VENV/bin/python)
set -euo pipefail

PY="${1:-${PYTHON:-}}"
if [ -z "$PY" ]; then
  if [ -n "${VIRTUAL_ENV:-}" ]; then PY="$VIRTUAL_ENV/bin/python"; else PY="$(command -v python3 || command -v python)"; fi
fi

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
      echo "install-browser-deps: /usr/bin/chromium missing and not root (no sudo): browser test will skip" >&2
      SUDO=skip
    fi
  fi
  if [ "$SUDO" != "skip" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || true
    $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null \
      || echo "install-browser-deps: apt-get install chromium failed: browser test will skip" >&2
  elif [ "$SUDO" != "skip" ]; then
    echo "install-browser-deps: no apt-get: install chromium yourself at /usr/bin/chromium" >&2
  fi
fi

if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
  "$PY" -m pip install -q playwright \
    || echo "install-browser-deps: pip install playwright failed: browser test will skip" >&2
fi
exit 0
