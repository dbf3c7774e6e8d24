"""`tenantsync local env`: the running local stack's settings, so that the command line
reaches it in two steps."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.stack import free_port
from tests.cli_tools import ROOT, run_cli

TENANTSYNC = f"{shlex.quote(sys.executable)} -m functions.cli"


@pytest.mark.slow
def test_local_env_prints_a_running_stacks_settings_for_the_shell(tmp_path: Path) -> None:
    state = tmp_path / "local.json"
    serve = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--port", str(free_port()), "--state-file",
         str(state), "--no-worker", "--empty"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert serve.stdout is not None
        said = ""
        deadline = time.monotonic() + 60
        while "local env" not in said and time.monotonic() < deadline:
            said += serve.stdout.readline()
        assert f"local env --state-file {state}" in said  # serve says how, when it starts
        # Step two, in a shell without any tenantsync setting.
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("TENANTSYNC_", "AZURE_"))}
        shell = subprocess.run(
            ["bash", "-c", f'eval "$({TENANTSYNC} local env --state-file {state})" && '
                           f"{TENANTSYNC} health --json"],
            cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False)
        assert shell.returncode == 0, shell.stderr
        assert json.loads(shell.stdout)["status"] == "ok"  # its storage and Key Vault
        serve.send_signal(signal.SIGKILL)  # leaves its settings file behind
        serve.wait(timeout=30)
        stale = run_cli("local", "env", "--state-file", str(state), env={})
        assert stale.code == 2
        assert "is no longer running" in stale.error and "scripts/serve.sh" in stale.error
    finally:
        serve.kill()
        serve.wait(timeout=30)


@pytest.mark.slow
def test_serve_starts_with_the_sample_tenant_and_partner_onboarded(tmp_path: Path) -> None:
    state = tmp_path / "local.json"
    serve = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--port", str(free_port()), "--state-file",
         str(state)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert serve.stdout is not None
        said = ""
        deadline = time.monotonic() + 120
        while "users --tenant-id" not in said and time.monotonic() < deadline:
            said += serve.stdout.readline()
        env = json.loads(state.read_text())["env"]
        tenants = {t["tenantId"]: t for t in run_cli("tenant", "list", "--json", env=env).json()}
        sample = next(t for t in tenants.values() if t["directory"])  # by its consent link
        assert f"users --tenant-id {sample['tenantId']}" in said  # the next command shown
        # The MSP's customers, every one the sample's GDAP relationships name.
        assert sum(1 for t in tenants.values() if t["devices"]) == 4
        users: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while not users and time.monotonic() < deadline:  # the worker runs its first sync
            users = run_cli("users", "--tenant-id", sample["tenantId"], "--json", env=env).json()
            time.sleep(0.5)
        assert {u["displayName"] for u in users} >= {"Tom Smith", "Jane Doe"}
    finally:
        serve.terminate()
        serve.wait(timeout=30)


@pytest.mark.slow
def test_local_env_finds_the_settings_above_and_quotes_them(tmp_path: Path) -> None:
    (tmp_path / ".tenantsync").mkdir()
    value = "it's; $(not run) `either`"
    (tmp_path / ".tenantsync" / "local.json").write_text(json.dumps(
        {"api": "http://127.0.0.1:7071/api", "env": {"TENANTSYNC_TABLE_PREFIX": value},
         "pids": {"serve": os.getpid()}}))
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    done = subprocess.run(
        ["bash", "-c", f'cd {shlex.quote(str(below))} && eval "$({TENANTSYNC} local env)" '
                       '&& printf %s "$TENANTSYNC_TABLE_PREFIX"'],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == value
    missing = run_cli("local", "env", "--state-file", str(tmp_path / "none.json"), env={})
    assert missing.code == 2 and "no local stack is running" in missing.error
    (tmp_path / "bad.json").write_text("{not json")
    bad = run_cli("local", "env", "--state-file", str(tmp_path / "bad.json"), env={})
    assert bad.code == 2 and "is not a local stack's settings file" in bad.error
