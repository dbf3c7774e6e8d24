"""What a run costs in storage requests for its own bookkeeping (claims, run records, the
tenant, the outbox), counted by table with the storage meter, for an unchanged re-sync of a
device tenant and of a directory tenant (issue 21 item 3)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from functions.core.config import Settings
from functions.core.errors import ConflictError, StorageError
from functions.core.model import Health, RunOptions, RunStatus, SyncKind
from functions.services import Services
from functions.storage.meter import operations_by_target, target
from functions.webhooks.model import SYNC_FINISHED
from tests.conftest import Harness
from tests.test_devices import connect
from tests.world import Partner, World


def counted(harness: Harness, before: dict[str, int]) -> Counter[str]:
    """This test's requests since ``before``, by table (its prefix taken off)."""
    now = Counter(operations_by_target())
    now.subtract(before)
    return Counter({name.removeprefix(harness.prefix): n for name, n in now.items()
                    if n and name.startswith(harness.prefix)})


def assert_bookkeeping(used: Counter[str]) -> None:
    """A re-sync started and run in one process: the claim replaced with the ETag this
    process wrote (was an insert that failed, a read, a replace), the queued run taken with
    the ETag of its insert (was a read, then the write), the previous run known to be over
    without a read; the tenant is still read by the start (for its 404) and by the engine,
    the subscriptions are read once to learn that nobody wants the run's end, so it does
    not go through the outbox (was an insert and a delete)."""
    assert used["claims"] == 1, used
    assert used["runs"] == 3, used  # queued, running, ended
    assert used["tenants"] <= 2, used
    assert used["outbox"] == 0 and used["webhooks"] == 1, used


def customers(harness: Harness, world: World, *names: str, devices: int = 5,
              detected: int = 10, mobile: int = 2, **settings: str) -> list[str]:
    """A partner's customers ``names``, the stack started (with ``settings``), the partner
    connected and its customers discovered: their tenant ids."""
    partner = Partner(world)
    tids = [partner.customer(n, devices=devices, detected=detected, mobile=mobile)
            for n in names]
    harness.start(**settings)
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    return tids


def test_the_meter_names_the_table_or_queue_of_a_request() -> None:
    assert target("http://127.0.0.1:10002/devstoreaccount1/truns(PartitionKey='a',"
                  "RowKey='b')") == "truns"
    assert target("http://127.0.0.1:10002/devstoreaccount1/tclaims()?$filter=x") == "tclaims"
    assert target("https://acct.queue.core.windows.net/jobs/messages") == "jobs"


def test_an_unchanged_device_resync_costs_few_bookkeeping_requests(
        harness: Harness, world: World) -> None:
    [tid] = customers(harness, world, "Zeta")
    runner = harness.services.runner
    for _ in range(2):  # the first sync, then one that finds the claim and checkpoint rows
        assert runner.run_one("devices", tid, "cli", RunOptions()).status == RunStatus.SUCCEEDED
    before = operations_by_target()
    run = runner.run_one("devices", tid, "cli", RunOptions())
    assert run.status == RunStatus.SUCCEEDED and run.entities_written == 0
    used = counted(harness, before)
    print(dict(used))
    assert_bookkeeping(used)


def test_a_first_device_sync_announces_and_publishes_its_end_and_health_in_few_requests(
        harness: Harness, world: World) -> None:
    [tid] = customers(harness, world, "Iota")
    before = operations_by_target()
    run = harness.services.runner.run_one("devices", tid, "cli", RunOptions())
    assert run.status == RunStatus.SUCCEEDED and run.entities_written > 0
    used = counted(harness, before)
    print(dict(used))
    assert used["claims"] == 1 and used["runs"] == 3, used  # queued, running, ended
    # The run's end and its first change of health (unknown -> healthy) go into the outbox
    # in one transaction before the run and the tenant are saved, and are removed in one
    # once published (was 5: two inserts, a read, two deletes). A side's first change has
    # no older change of its side to be told before it: the outbox is not read. The relay
    # proves the change with the tenant record the run has just saved (the tenant is read
    # by the start and the engine, and written once: was 4), and both events share one
    # read of the webhook subscriptions (was 2).
    assert used["outbox"] == 2 and used["webhooks"] == 1 and used["tenants"] == 3, used
    # The feed: the intent check (with the head), the pending index, the intent, the
    # append (one transaction, clearing the intent), the index's delete, the health entry.
    assert used["feed"] <= 6, used
    assert used["holds"] == 0, used  # devices are retired, never deleted: no hold to look up
    tenant = harness.services.tenants.get(tid)
    assert tenant.state(SyncKind.DEVICES).health == Health.HEALTHY
    assert not harness.services.outbox.pending(tid)
    entries = harness.services.feed.page(tid, None, 1000).entries
    assert [e.change.change for e in entries if e.change.entity == "health"] == ["changed"]


def test_an_unchanged_directory_resync_costs_few_bookkeeping_requests(
        harness: Harness) -> None:
    tenant = harness.start_onboarded()
    for _ in range(2):
        assert harness.sync(tenant).status == RunStatus.SUCCEEDED
    before = operations_by_target()
    run = harness.sync(tenant)
    assert run.status == RunStatus.SUCCEEDED and run.entities_written == 0
    used = counted(harness, before)
    print(dict(used))
    assert_bookkeeping(used)


def test_with_worker_processes_the_starts_read_back_nothing_of_their_own(
        harness: Harness, world: World) -> None:
    tids = customers(harness, world, "Eta 0", "Eta 1", devices=2, detected=3, mobile=1,
                     TENANTSYNC_WORKER_PROCESSES="2")
    runner = harness.services.runner
    try:
        for _ in range(2):
            runs = runner.run_many("devices", tids, "cli")
            assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
        before = operations_by_target()
        runs = runner.run_many("devices", tids, "cli")
        assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
        assert all(r.entities_written == 0 for r in runs)
        # This process only starts (the workers take and run, counted in their processes):
        # each start replaces the claim it wrote and inserts the queued run; that the claim's
        # run ended came back from the worker that ended it, so it is not read.
        used = counted(harness, before)
        assert used["claims"] == 2 and used["runs"] == 2, used
        stored = {r.run_id: harness.services.runs.get(r.tenant_id, r.run_id) for r in runs}
        assert all(s.status == RunStatus.SUCCEEDED for s in stored.values())
    finally:
        runner.close()


def test_a_claim_remembered_by_one_process_never_lets_it_start_over_another_s_run(
        harness: Harness, world: World) -> None:
    [tid] = customers(harness, world, "Theta", devices=2, detected=3, mobile=1)
    here = harness.services
    there = Services(Settings.from_env(harness.env), clock=harness.clock)  # another instance
    assert here.runner.run_one("devices", tid, "cli").status == RunStatus.SUCCEEDED
    # The other instance queues a run: the claim this process remembers is stale now.
    queued = there.starter.start(tid, "devices", "timer", enqueue=False)
    with pytest.raises(ConflictError) as refused:
        here.starter.start(tid, "devices", "http", enqueue=False)
    assert refused.value.run_id == queued.run_id
    # That run ends over there; a start here then takes the claim, read afresh.
    assert there.engine.execute(queued).status == RunStatus.SUCCEEDED
    again = here.runner.run_one("devices", tid, "cli")
    assert again.status == RunStatus.SUCCEEDED
    claim = here.runs.read_claim(tid, "devices")
    assert claim is not None and claim[0].run_id == again.run_id
    # And the other instance, whose memory is stale in turn, is refused nothing it may do.
    third = there.runner.run_one("devices", tid, "cli")
    assert third.status == RunStatus.SUCCEEDED and third.run_id != again.run_id


def test_a_change_of_health_after_one_left_pending_is_told_after_it_in_order(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = harness.start_onboarded()
    s = harness.services
    assert harness.sync(tenant).status == RunStatus.SUCCEEDED  # a first change: not read
    # The next run fails, and its publication does not get through: its change of health
    # (stored) stays pending, as after a crash.
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": f"/groups/{tenant.level0}"},
                             "kind": "status", "status": 503, "code": "ServiceUnavailable",
                             "retry_after": 0.05}])
    publish = s.health.publish
    monkeypatch.setattr(s.health, "publish", lambda *args: (_ for _ in ()).throw(
        StorageError("the outbox's table did not answer")))
    assert harness.sync(tenant, full=True).status == RunStatus.FAILED
    assert [e.topic for e in s.outbox.pending(tenant.id)] == ["run", "health"]
    # The run after it recovers: not a first change, so what is pending is read and told
    # first, in the order the changes happened.
    harness.sim.set_faults([])
    monkeypatch.setattr(s.health, "publish", publish)
    assert harness.sync(tenant).status == RunStatus.SUCCEEDED
    entries = s.feed.page(tenant.id, None, 1000).entries
    assert [e.change.name for e in entries if e.change.entity == "health"] == [
        "healthy", "failing", "healthy"]
    assert not s.outbox.pending(tenant.id)


def test_a_run_s_end_a_subscriber_wants_goes_through_the_outbox_with_one_read(
        harness: Harness) -> None:
    tenant = harness.start_onboarded(TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true")
    s = harness.services
    for _ in range(2):
        assert harness.sync(tenant).status == RunStatus.SUCCEEDED
    subscription, _ = s.webhooks.subscribe("https://127.0.0.1:9/hook", [SYNC_FINISHED], [])
    before = operations_by_target()
    run = harness.sync(tenant)
    assert run.status == RunStatus.SUCCEEDED and run.entities_written == 0
    used = counted(harness, before)
    # Wanted now: announced (an insert), published (a delete), the subscriptions read once
    # for both the question and the publication; one delivery of its end.
    assert used["outbox"] == 2 and used["webhooks"] == 1, used
    finished = [json.loads(d.payload)["data"]["runId"]
                for d in s.webhook_tables.deliveries(subscription.id)
                if d.event_type == SYNC_FINISHED]
    assert finished == [run.run_id]
    assert not s.outbox.pending(tenant.id)
