"""Fixture validation, `python -m simulator check` and `serve`."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator import FixtureError, Simulator, load_fixture

from .conftest import APP, GROUP_FIVE, SECRET, TENANT, build_fixture

ROOT = Path(__file__).resolve().parents[2]


def broken(change: str) -> dict[str, Any]:
    fixture = copy.deepcopy(build_fixture())
    tenant = fixture["tenants"][TENANT]
    if change == "unknown-member":
        tenant["groups"][GROUP_FIVE]["members"].append("xyz")
    elif change == "bad-guid":
        tenant["users"]["not-a-guid"] = {"displayName": "X"}
    elif change == "empty-secret":
        fixture["applications"][APP]["secrets"][1]["value"] = ""
    elif change == "naive-expiry":
        fixture["applications"][APP]["secrets"][1]["expires"] = "2027-05-01T00:00:00"
    elif change == "unknown-key":
        tenant["usres"] = {}
    elif change == "shared-id":
        tenant["devices"][GROUP_FIVE] = {"displayName": "clash"}
    elif change == "unknown-principal":
        fixture["key_vault"]["principals"] = ["12345678-1234-4234-8234-123456789012"]
    return fixture


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "unknown-member",
            f"tenants.{TENANT}.groups.{GROUP_FIVE}.members[5]: unknown object 'xyz'",
        ),
        ("bad-guid", f"tenants.{TENANT}.users.not-a-guid: not a GUID: 'not-a-guid'"),
        ("empty-secret", f"applications.{APP}.secrets[1].value: must be a non-empty string"),
        ("naive-expiry", f"applications.{APP}.secrets[1].expires: time needs a time zone"),
        ("unknown-key", f"tenants.{TENANT}: unknown key 'usres'"),
        ("shared-id", f"tenants.{TENANT}.devices.{GROUP_FIVE}: id already used by another object"),
        ("unknown-principal", "key_vault.principals[0]: unknown application"),
    ],
)
def test_invalid_fixture_names_the_path(change: str, message: str) -> None:
    with pytest.raises(FixtureError) as raised:
        Simulator(broken(change))
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert SECRET not in text


def test_load_fixture_reports_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"tenants": ', encoding="utf-8")
    with pytest.raises(FixtureError, match="invalid JSON at line 1"):
        load_fixture(path)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_check_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(build_fixture()), encoding="utf-8")
    bad.write_text(json.dumps(broken("unknown-member")), encoding="utf-8")
    assert run_cli("check", "--fixture", str(good)).returncode == 0
    failed = run_cli("check", "--fixture", str(bad))
    assert failed.returncode == 2
    assert failed.stdout.strip().endswith("members[5]: unknown object 'xyz'")


def test_serve_writes_the_ready_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    fixture, ready = tmp_path / "fixture.json", tmp_path / "ready.json"
    fixture.write_text(json.dumps(build_fixture()), encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "serve",
            "--fixture",
            str(fixture),
            "--ready-file",
            str(ready),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        info = json.loads(ready.read_text(encoding="utf-8"))
        assert info["pid"] == process.pid
        session = requests.Session()
        session.trust_env = False
        response = session.get(
            f"{info['base_url']}/{TENANT}/v2.0/.well-known/openid-configuration",
            verify=info["ca_path"],
            timeout=10,
        )
        assert response.status_code == 200
        identity = session.get(
            info["identity_endpoint"],
            params={"api-version": "2019-08-01", "resource": "https://graph.microsoft.com"},
            headers={"X-IDENTITY-HEADER": info["identity_header"]},
            timeout=10,
        )
        assert identity.status_code == 400  # reached; this fixture has no managed identity
        assert "system-assigned" in identity.json()["message"]
        # the storage host of export downloads answers over the same CA
        unsigned = session.get(f"{info['storage_url']}/x/y.zip", verify=info["ca_path"], timeout=10)
        assert unsigned.status_code == 404
        assert unsigned.headers["x-ms-error-code"] == "ResourceNotFound"
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert not Path(info["ca_path"]).exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
