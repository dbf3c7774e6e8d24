#!/usr/bin/env bash
# The whole test suite: install what is missing, lint, type-check, then pytest (which starts
# Azurite and the Microsoft simulator itself). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== ruff" && .venv/bin/ruff check .
echo "== mypy" && .venv/bin/mypy
echo "== pytest" && .venv/bin/python -m pytest "$@"
