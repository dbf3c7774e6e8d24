"""Schemathesis against the published OpenAPI document of the live API: no 5xx, and every
answer conforms to the document (status, content type, body schema)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.conftest import Api, connect_partner
from tests.conftest import Harness
from tests.world import Deployment, Partner, World, seed_example

# The schemathesis command, with one change: hypothesis describes the filters of its
# strategies by parsing their source with ast.parse, from each of schemathesis' worker
# threads, and CPython 3.11 can then corrupt the AST constructor's shared recursion depth
# ("SystemError: AST constructor recursion depth mismatch", python/cpython#106905). A lock
# around ast.parse keeps those parses one at a time.
SCHEMATHESIS = """
import ast, sys, threading

_parse, _lock = ast.parse, threading.Lock()


def parse(*args, **kwargs):
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = parse
from schemathesis.cli import schemathesis

sys.argv[0] = "schemathesis"
sys.exit(schemathesis())
"""
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "negative_data_rejection",
])
MAX_EXAMPLES = 40


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    harness: Harness, world: World, api: Api, tmp_path: Path
) -> None:
    synced, _ = seed_example(world)
    onboarded, _ = seed_example(world)
    partner = Partner(world)
    customer = partner.customer("Customer", devices=3, detected=3, mobile=2)
    deployment = Deployment(world)  # its apps make consent links
    harness.start(**deployment.env())
    harness.onboard(synced)
    harness.onboard(onboarded)
    harness.sync(synced)
    connect_partner(harness, partner)
    harness.services.runner.run_one("devices", customer, "cli")
    # Reads of real tenants and partners half of the time, so that 200s with data are
    # checked too. Only for GET: fuzzed writes with a real id would remove the tenants
    # mid-run.
    ids = ", ".join(f'"{t}"' for t in (synced.id, onboarded.id, customer))
    config = tmp_path / "schemathesis.toml"
    # The function key is the Functions host's to check, before the app (uvicorn has no
    # host): its absence is not the app's to reject, so it is not fuzzed here.
    config.write_text(f"""
generation.with-security-parameters = false

[auth.openapi.functionKey]
api_key = "checked-by-the-functions-host"

# A body over the app's size limit is refused with 413 before it is parsed: a rejection too
# (fuzzed lists of GUIDs past their maxItems can pass 64 KiB).
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                     "428", "429", "5xx"]

[dictionaries.tenants]
values = [{ids}]

[dictionaries.partners]
values = ["{partner.id}"]

[[operations]]
include-method = "GET"

[operations.parameters]
"path.tenantId" = {{ dictionary = "tenants", probability = 0.5 }}
"path.partnerTenantId" = {{ dictionary = "partners", probability = 0.5 }}
""")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SCHEMATHESIS, "--no-color", "--config-file", str(config), "run",
         f"{api.base_url}/api/openapi.json", "--checks", CHECKS,
         "--max-examples", str(MAX_EXAMPLES), "--seed", "20261122", "--workers", "4",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "30",
         "--suppress-health-check", "all"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(output)  # shown with -s or on failure: phases, operations and cases run
    assert result.returncode == 0, output
    assert "No issues found" in output or "passed" in output, output
    assert elapsed < 120, f"schemathesis took {elapsed:.0f} s\n{output}"
