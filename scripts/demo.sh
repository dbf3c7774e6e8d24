#!/usr/bin/env bash
# The main job end to end on the local default: installs what it needs, starts Azurite and
# the Microsoft simulator, onboards the sample tenant, syncs, shows a leaver marked deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
