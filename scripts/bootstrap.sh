#!/usr/bin/env bash
# Installs everything the project needs into the checkout: a Python venv (.venv) with the
# run-time and development requirements, Azurite from npm (node_modules), and Debian's
# chromium for the consent page's browser test when it is missing. Idempotent: does nothing
# when the requirement files have not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY' || { echo "tenantsync needs Python 3.11 or 3.12 (set PYTHON=...)" >&2; exit 2; }
import sys
sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)
PY
command -v npm >/dev/null || { echo "tenantsync needs Node.js 20+ with npm (for Azurite)" >&2; exit 2; }

# The browser test of the admin-consent page drives headless chromium (Debian's package).
if ! command -v chromium >/dev/null; then
  echo "== installing Debian's chromium (the browser test of the admin-consent page)" >&2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
      || echo "tenantsync: could not install chromium with apt-get; the consent page's browser test will fail until it is installed (apt-get install chromium)" >&2
  else
    echo "tenantsync: chromium is missing and this is not root with apt-get: install Debian's chromium (sudo apt-get install -y chromium) or the consent page's browser test fails" >&2
  fi
fi

stamp=.venv/.bootstrap-stamp
want=$(cat requirements.txt requirements-dev.txt pyproject.toml package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/azurite ]; then
  exit 0
fi
echo "== installing Python packages into .venv and Azurite into node_modules" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
npm ci --no-audit --no-fund --loglevel=error >/dev/null
echo "$want" > "$stamp"
