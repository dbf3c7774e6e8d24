"""Long work shows progress: each tenant as it finishes, on a terminal and as JSON lines."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from functions.api.models import run_out
from functions.core.sensitive import SecretValue
from tests.cli_tools import ROOT, Cli
from tests.conftest import Harness
from tests.world import Partner, World, seed_example

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _partner_with(harness: Harness, world: World, names: list[str]) -> dict[str, str]:
    partner = Partner(world)
    ids = {name: partner.customer(name, devices=2) for name in names}
    return ids | {"_partner": partner.id, "_app": partner.partner_app,
                  "_secret": partner.partner_secret, "_inventory": partner.inventory_app,
                  "_inventory_secret": partner.inventory_secret}


def _connect(harness: Harness, p: dict[str, str]) -> None:
    harness.services.partners.add(
        p["_partner"], p["_app"], SecretValue(p["_secret"]), p["_inventory"],
        SecretValue(p["_inventory_secret"]), source="gdap")
    harness.services.partners.discover(p["_partner"])


@pytest.mark.slow
def test_a_terminal_sees_each_tenant_before_the_last_one_finishes(
    harness: Harness, world: World,
) -> None:
    names = ["Fast One", "Fast Two", "Fast Three", "Slow Four"]
    p = _partner_with(harness, world, names)
    # Two worker processes: a fast tenant shares its process with the slow one, so its line
    # must come through the workers' queue, not with its share's result.
    harness.start(TENANTSYNC_WORKER_PROCESSES="2")
    _connect(harness, p)
    slow = p["Slow Four"]
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"tenant": slow, "path_contains": "/managedDevices"},
                             "kind": "latency", "seconds": 2.5}])
    master, terminal = pty.openpty()
    cli = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "sync", "devices", "--all"], cwd=ROOT,
        stdout=terminal, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **harness.env, "TERM": "xterm-256color", "COLUMNS": "200"})
    os.close(terminal)
    seen, text = {}, ""
    slow_active_when_seen: dict[str, bool] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            if cli.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        text += ANSI.sub("", chunk.decode(errors="replace"))
        for name in names:
            if name not in seen and re.search(rf"{name} (succeeded|failed)", text):
                seen[name] = time.monotonic()
                slow_active_when_seen[name] = harness.services.runs.recent(slow, 1)[0].active
    os.close(master)
    assert cli.wait(timeout=60) == 0, cli.stderr.read() if cli.stderr else ""
    assert set(seen) == set(names), text
    for name in names[:3]:
        assert slow_active_when_seen[name], name  # seen before the last one ended
        assert seen[name] < seen["Slow Four"]
    assert "ETA" in text and "devices sync: 3 succeeded" in text  # running total, ETA
    assert "4 of 4 tenants in" in text and "in all: devices +8" in text  # the summary
    assert slow in text  # the ID beside the name


@pytest.mark.slow
def test_json_prints_one_run_record_per_tenant_as_the_api_does(
    harness: Harness, world: World, capsys: pytest.CaptureFixture[str],
) -> None:
    p = _partner_with(harness, world, ["Json One", "Json Two"])
    t, _ = seed_example(world)
    harness.start()
    _connect(harness, p)
    harness.onboard(t)
    cli = Cli(capsys)
    for argv in (["sync", "devices", "--all", "--json"], ["sync", "devices", "--all"],
                 ["sync", "directory", "--all"]):
        done = cli(*argv)  # not a terminal: JSON lines with or without --json
        runs = done.lines()
        assert len(runs) == len(done.out.splitlines())
        for run in runs:
            stored = harness.services.runs.get(run["tenantId"], run["runId"])
            assert run == run_out(stored).model_dump(mode="json")
        expected = ({p["Json One"], p["Json Two"]} if "devices" in argv else {t.id})
        assert {r["tenantId"] for r in runs} == expected
        assert done.code == 0 and all(r["status"] == "succeeded" for r in runs)
