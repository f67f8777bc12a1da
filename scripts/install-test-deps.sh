#!/usr/bin/env bash
# Installs what the tests need from outside PyPI, the same way for each:
#   - Debian's `chromium` (apt-get) when /usr/bin/chromium is missing (the real-browser test,
#     tests/browser), and the PyPI `playwright` package into the current Python environment;
#   - Debian's `postgresql` (apt-get) when no PostgreSQL server binaries are installed (the tests
#     that run conversations and memory on a real PostgreSQL server, tests/agents).
# Playwright drives the system chromium via executable_path, so `playwright install`
# (which downloads browsers) is never run. The tests start their own PostgreSQL cluster in a
# temporary directory; the package's default cluster is not used.
# Usage: scripts/install-test-deps.sh [PYTHON]   (default: python in PATH, or $VENV/bin/python)
set -euo pipefail

PY="${1:-${PYTHON:-}}"
if [ -z "$PY" ]; then
  if [ -n "${VIRTUAL_ENV:-}" ]; then PY="$VIRTUAL_ENV/bin/python"; else PY="$(command -v python3 || command -v python)"; fi
fi

have_postgres() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

# Debian packages still missing, each with the test that skips without it
PACKAGES=()
[ -x /usr/bin/chromium ] || PACKAGES+=(chromium fonts-dejavu-core)
have_postgres || PACKAGES+=(postgresql)

if [ "${#PACKAGES[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
      echo "install-test-deps: ${PACKAGES[*]} missing and not root (no sudo): the browser / PostgreSQL tests will skip" >&2
      SUDO=skip
    fi
  fi
  if [ "$SUDO" != "skip" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || true
    for pkg in "${PACKAGES[@]}"; do
      # one at a time: a package that fails to install skips only its own tests
      $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
        || echo "install-test-deps: apt-get install $pkg failed: its tests will skip" >&2
    done
  elif [ "$SUDO" != "skip" ]; then
    echo "install-test-deps: no apt-get: install ${PACKAGES[*]} yourself (chromium at /usr/bin/chromium)" >&2
  fi
fi

if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
  "$PY" -m pip install -q playwright \
    || echo "install-test-deps: pip install playwright failed: browser test will skip" >&2
fi
exit 0
