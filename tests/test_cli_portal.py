"""What a portal's operator does from a shell: follow a tenant's change feed, see and release
or discard a held sync, and manage webhooks whose signing secret is shown once."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.receiver import Receiver
from tests.cli_tools import ROOT, Cli
from tests.conftest import Harness
from tests.world import World, seed_example


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def _next_line(process: subprocess.Popen[str], deadline: float) -> dict[str, Any]:
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "the command ended"
            return dict(json.loads(line))
    raise AssertionError("no line in time")


@pytest.mark.slow
def test_following_the_feed_prints_each_new_change_as_a_sync_writes_it(
    harness: Harness, world: World,
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    follow = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "changes", "--tenant-id", t.id, "--follow",
         "--interval", "0.2", "--json"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, **harness.env})
    try:
        deadline = time.monotonic() + 60
        first = _next_line(follow, deadline)
        # The first run's 8 changes and its change of health (unknown -> healthy).
        assert [c["sequence"] for c in first["items"]] == list(range(1, 10))
        assert first["more"] is False
        assert harness.sim is not None
        harness.sim.remove_member(t.id, ids["management"], ids["jane"])
        run = harness.sync(t)
        new = _next_line(follow, deadline)  # printed while the command still runs
        assert {(c["entity"], c["change"]) for c in new["items"]} == {
            ("user", "deleted"), ("group", "updated"), ("membership", "ended")}
        assert new["cursor"] == run.changes_to
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=30) == 0
        _, err = follow.communicate(timeout=10)
        assert f"read on with --cursor {run.changes_to}" in err and "Traceback" not in err
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=10)


def test_the_feed_reads_well_and_says_where_to_read_on(
    harness: Harness, world: World, cli: Cli,
) -> None:
    t, _ = seed_example(world)
    harness.start()
    harness.onboard(t)
    empty = cli("changes", "--tenant-id", t.id)
    assert empty.code == 0 and "no sync of this tenant has written one yet" in empty.out
    run = harness.sync(t)
    some = cli("changes", "--tenant-id", t.id, "--limit", "2")
    header, *rows, summary = some.out.splitlines()
    assert header.split()[:4] == ["SEQ", "CHANGED", "AT", "ENTITY"]
    assert [row.split()[0] for row in rows] == ["1", "2"]
    assert summary.startswith("2 changes; more follow; read on with: tenantsync changes ")
    rest = cli(*summary.split("read on with: tenantsync ")[1].split())
    assert run.changes_to.endswith(".8")  # then the side's change of health, at 9
    assert rest.out.splitlines()[-1].endswith(f"--cursor {harness.services.feed.position(t.id)}")
    assert "at the end of the feed" in rest.out
    for bad, words in ((["--cursor", "yesterday"], "--cursor is not a change-feed cursor"),
                       (["--limit", "0"], "--limit must be 1 or more"),
                       (["--follow", "--limit", "5"], "leave --limit out")):
        refused = cli("changes", "--tenant-id", t.id, *bad)
        assert refused.code == 2 and words in refused.error


@pytest.mark.slow
def test_a_held_sync_reads_well_and_is_released_one_tenant_at_a_time(
    harness: Harness, world: World, cli: Cli,
) -> None:
    t = world.tenant()
    staff = [t.user(f"User {i:02d}") for i in range(12)]
    t.add(t.level0, *staff)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    for uid in staff[:11]:
        harness.sim.remove_member(t.id, t.level0, uid)
    held = cli("sync", "directory", "--tenant-id", t.id)
    assert held.code == 1 and "deletion_guard" in held.out
    shown = cli("held", "show", "--tenant-id", t.id, "--change", "deleted")
    assert shown.code == 0
    assert "it would mark 11 users and 0 groups deleted" in shown.out
    assert "User 00" in shown.out and "User 10" in shown.out and "User 11" not in shown.out
    assert f"tenantsync sync directory --tenant-id {t.id} --allow-mass-deletion" in shown.out
    assert f"tenantsync held discard --tenant-id {t.id}" in shown.out
    # Releasing every tenant at once would release previews nobody read.
    every = cli("sync", "directory", "--all", "--allow-mass-deletion")
    assert every.code == 2 and "tenantsync held show --tenant-id T" in every.error
    assert not harness.users(t, deleted_only=True)
    released = cli("sync", "directory", "--tenant-id", t.id, "--allow-mass-deletion")
    assert released.code == 0 and "11 marked deleted" in released.out
    assert len(harness.users(t, deleted_only=True)) == 11


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.mark.slow
def test_the_webhook_signing_secret_is_shown_once_by_add_and_rotate_and_nowhere_else(
    harness: Harness, world: World, cli: Cli, receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, _ = seed_example(world)
    harness.start(TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true",
                  TENANTSYNC_WEBHOOK_CA_BUNDLE=receiver.ca_path)
    harness.onboard(t)
    caplog.set_level(logging.DEBUG)
    added = cli("-v", "webhook", "add", "--url", receiver.url, "--event", "sync.finished",
                "--event", "tenant.health_changed", "--description", "portal")
    assert added.code == 0
    [line] = [x for x in added.out.splitlines() if x.startswith("signing secret")]
    secret = line.rsplit(" ", 1)[1]
    assert secret.startswith("whsec_") and added.out.count(secret) == 1
    webhook_id = added.out.split()[2]
    receiver.secrets.append(secret)
    rotated = cli("webhook", "rotate-secret", "--webhook-id", webhook_id)
    assert rotated.code == 0 and "the previous secret signs too until" in rotated.out
    new_secret = rotated.out.split("keep it in the portal's secret store): ")[1].split()[0]
    assert new_secret.startswith("whsec_") and new_secret != secret
    receiver.secrets.append(new_secret)
    # A sync queued as over HTTP, then the worker: it runs the job, then sends the two
    # deliveries it queued (the sync finished; the tenant's health changed to healthy).
    harness.services.starter.start(t.id, "directory", "http")
    worked = cli("worker")
    assert worked.code == 0 and "2 webhook delivery attempts" in worked.out
    assert [r.verified for r in receiver.received] == [True, True]
    [delivery] = [d for d in harness.services.webhook_tables.deliveries(webhook_id)
                  if d.event_type == "sync.finished"]
    seen = [
        cli("-v", "webhook", "list"), cli("webhook", "list", "--json"),
        cli("webhook", "show", "--webhook-id", webhook_id),
        cli("webhook", "show", "--webhook-id", webhook_id, "--json"),
        cli("webhook", "update", "--webhook-id", webhook_id, "--all-tenants", "--disable"),
        cli("webhook", "deliveries", "--webhook-id", webhook_id),
        cli("webhook", "delivery", "--webhook-id", webhook_id, "--delivery-id", delivery.id),
        cli("webhook", "resend", "--webhook-id", webhook_id, "--delivery-id", delivery.id),
        cli("webhook", "update", "--webhook-id", webhook_id, "--url", "https://10.0.0.1/x"),
    ]
    assert [r.code for r in seen] == [0, 0, 0, 0, 0, 0, 0, 0, 0]
    for result in seen:
        for s in (secret, new_secret):
            assert s not in result.out + result.err
    assert "disabled by an admin" in seen[4].out and "tenants all" in seen[4].out
    assert "sync.finished" in seen[5].out and "204" in seen[5].out
    assert '"type":"sync.finished"' in seen[6].out.replace(" ", "")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged and new_secret not in logged
    assert secret not in json.dumps(harness.entities(), default=str)
    removed = cli("webhook", "remove", "--webhook-id", webhook_id)
    assert removed.code == 0
    assert cli("webhook", "show", "--webhook-id", webhook_id).code == 2
