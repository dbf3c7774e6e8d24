#!/usr/bin/env bash
# Serves the HTTP API locally on Azurite + the Microsoft simulator (sample tenant), on
# http://127.0.0.1:7071/api until Ctrl-C; API docs at /api/docs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/serve.py "$@"
