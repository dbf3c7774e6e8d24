#!/usr/bin/env bash
# Static security checks of the Bicep templates in infra/ with checkov.
#
# checkov pins an older pycep-parser than the one the tests use, so it lives in its own
# virtual environment (.venv-checkov at the repository root), which this script creates and
# fills on first use or when the pinned version changes.
#
# infra/app-registrations.bicep is not scanned: it begins with the `extension` statement of the
# Microsoft Graph Bicep extension, which checkov's pycep-parser cannot parse, and checkov has no
# checks for Microsoft.Graph resource types. tests/infra parses it with pycep-parser >= 0.7.
#
# checkov exits 0 even when it could not parse a file; this script fails on that too.
# Environment: CHECKOV_VENV (default .venv-checkov), PYTHON (default python3.11),
# CHECKOV_JSON_REPORT (if set, the JSON report is copied there).
set -euo pipefail

checkov_version="3.3.30"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CHECKOV_VENV:-$root/.venv-checkov}"
python="${PYTHON:-python3.11}"

if [[ "$("$venv/bin/checkov" --version 2>/dev/null || true)" != "$checkov_version" ]]; then
  command -v "$python" >/dev/null 2>&1 || python=python3
  echo "Installing checkov $checkov_version into $venv" >&2
  "$python" -m venv "$venv"
  pip_log="$(mktemp)"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "checkov==$checkov_version" >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    exit 2
  fi
  rm -f "$pip_log"
fi

report_dir="$(mktemp -d)"
trap 'rm -rf "$report_dir"' EXIT

cd "$root"
set +e
"$venv/bin/checkov" -d infra --framework bicep --skip-download --quiet --compact \
  --skip-path 'app-registrations\.bicep$' \
  -o cli -o json --output-file-path "console,$report_dir/results.json"
checkov_status=$?
set -e

report="$report_dir/results.json"
if [[ ! -s "$report" ]]; then
  echo "checkov wrote no JSON report (exit status $checkov_status)" >&2
  exit 2
fi
if [[ -n "${CHECKOV_JSON_REPORT:-}" ]]; then
  cp "$report" "$CHECKOV_JSON_REPORT"
fi

"$venv/bin/python" - "$report" <<'PY'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as handle:
    report = json.load(handle)
summary = report["summary"]
if summary.get("parsing_errors", 0):
    print(f"checkov could not parse {summary['parsing_errors']} Bicep file(s)", file=sys.stderr)
    sys.exit(3)
if summary.get("resource_count", 0) == 0:
    print("checkov found no Bicep resources to check", file=sys.stderr)
    sys.exit(3)
PY

exit "$checkov_status"
