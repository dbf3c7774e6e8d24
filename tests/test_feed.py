"""The change feed: every change a sync writes, exactly once, in order, read with a cursor;
safe under concurrent appends; consistent after an interrupted sync. Azurite + simulator."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from functions.core.changes import HEALTH_ENTITY, Change
from functions.core.errors import InputError, StorageError
from functions.core.model import RunOptions, RunStatus
from functions.directory.store import DirectoryTables, UserFilter
from functions.storage.feed import ChangeFeed, FeedEntry
from tests.api.conftest import connect_partner
from tests.conftest import Harness
from tests.world import Partner, World, detected_app, seed_example


def everything(harness: Harness, tenant_id: str, page_size: int = 1000, *,
               health: bool = False) -> list[FeedEntry]:
    """The whole feed, read page by page with the cursor: the records' changes (and, with
    ``health``, the tenant's changes of health between them)."""
    feed, entries, cursor = harness.services.feed, [], None
    while True:
        page = feed.page(tenant_id, cursor, page_size)
        entries.extend(page.entries)
        cursor = page.cursor
        if not page.more:
            return [e for e in entries if health or e.change.entity != HEALTH_ENTITY]


def keys(entries: list[FeedEntry]) -> list[tuple[str, str, str]]:
    return [e.change.key for e in entries]


@pytest.mark.slow
def test_directory_changes_each_appear_once_in_the_order_written(
    harness: Harness, world: World
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    first = harness.sync(t)
    entries = everything(harness, t.id)
    mgmt = ids["management"]
    users = {ids[n] for n in ("tom", "john", "jane", "richard", "alex")}
    # Written groups first, then memberships, then users: the feed has that order.
    assert keys(entries)[0] == ("group", mgmt, "created")
    assert set(keys(entries)[1:3]) == {("membership", f"{mgmt}_{ids[n]}", "added")
                                       for n in ("jane", "richard")}
    assert set(keys(entries)[3:]) == {("user", u, "created") for u in users}
    assert [e.seq for e in entries] == list(range(1, 9))
    assert {e.run_id for e in entries} == {first.run_id}
    assert first.changes_from.endswith(".0") and first.changes_to.endswith(".8")
    # The run also made the directory side healthy: one entry after the run's own.
    [health] = [e for e in everything(harness, t.id, health=True)
                if e.change.entity == HEALTH_ENTITY]
    assert (health.seq, health.change.entity_id, health.change.change, health.change.name,
            health.run_id) == (9, "directory", "changed", "healthy", first.run_id)

    assert harness.sim is not None
    harness.sim.upsert_object(t.id, "users", {"id": ids["tom"], "displayName": "Thomas Smith",
                                              "mail": "tom@contoso.example",
                                              "userPrincipalName": "tom@x.example"})
    harness.sim.remove_member(t.id, t.level0, ids["john"])
    harness.sim.remove_member(t.id, mgmt, ids["jane"])
    second = harness.sync(t)
    new = everything(harness, t.id)[8:]
    assert sorted(keys(new)) == sorted([
        ("group", mgmt, "updated"),  # one member fewer
        ("membership", f"{mgmt}_{ids['jane']}", "ended"),
        ("user", ids["tom"], "updated"),
        ("user", ids["john"], "deleted"),
        ("user", ids["jane"], "deleted"),
    ])
    assert [e.seq for e in new] == list(range(10, 15))  # after the health entry (9)
    assert {e.run_id for e in new} == {second.run_id}
    assert next(e for e in new if e.change.entity_id == ids["tom"]).change.name == "Thomas Smith"

    harness.sim.add_member(t.id, t.level0, ids["john"])
    third = harness.sync(t)
    assert keys(everything(harness, t.id)[13:]) == [("user", ids["john"], "restored")]
    assert third.changes_from == second.changes_to

    # Nothing changed: nothing recorded, whether the digest matches or the run compares all.
    for options in ({}, {"full": True}):
        run = harness.sync(t, **options)
        assert run.status == RunStatus.SUCCEEDED
        assert (run.changes_from, run.changes_to) == ("", "")
        assert len(everything(harness, t.id)) == 14

    # A level-1 group that leaves is marked deleted with its members; back, it is restored.
    harness.sim.remove_member(t.id, t.level0, mgmt)
    harness.sync(t)
    gone = keys(everything(harness, t.id)[14:])
    assert sorted(gone) == sorted([
        ("group", mgmt, "deleted"),
        ("membership", f"{mgmt}_{ids['richard']}", "ended"),
        ("user", ids["richard"], "deleted")])
    harness.sim.add_member(t.id, t.level0, mgmt)
    harness.sync(t)
    back = keys(everything(harness, t.id)[17:])
    assert sorted(back) == sorted([
        ("group", mgmt, "restored"),
        ("membership", f"{mgmt}_{ids['richard']}", "added"),
        ("user", ids["richard"], "restored")])
    assert [e.seq for e in everything(harness, t.id, health=True)] == list(range(1, 22))

    # Records carry the time of the run that last changed them, their groups and counts.
    stored = harness.users(t)
    assert stored[ids["tom"]].changed_at is not None
    assert stored[ids["richard"]].group_ids == (mgmt,)
    assert stored[ids["richard"]].changed_at == everything(harness, t.id)[-1].at
    group = next(harness.services.directory.groups(t.id))
    assert group.member_count == 1


@pytest.mark.slow
def test_device_and_app_changes_each_appear_once(harness: Harness, world: World) -> None:
    partner = Partner(world)
    tid = partner.customer("Customer", devices=3, detected=3, mobile=2)
    harness.start()
    connect_partner(harness, partner)
    harness.services.runner.run_one("devices", tid, "cli")
    first = everything(harness, tid)
    assert sorted(k[0] + ":" + k[2] for k in keys(first)) == sorted(
        ["device:created"] * 3 + ["detectedApp:detected"] * 3 + ["managedApp:detected"] * 2)

    assert harness.sim is not None
    intune = copy.deepcopy(partner.customers[tid]["intune"])
    devices = list(intune["managed_devices"])
    gone_device, changed_device = devices[0], devices[1]
    del intune["managed_devices"][gone_device]
    intune["managed_devices"][changed_device]["osVersion"] = "11.0"
    apps = list(intune["detected_apps"])
    del intune["detected_apps"][apps[0]]
    intune["detected_apps"][apps[1]]["version"] = "9.9"
    new_app = detected_app("New App", 7)
    intune["detected_apps"][new_app["id"]] = new_app
    harness.sim.update_tenant(tid, {"intune": intune})
    harness.services.runner.run_one("devices", tid, "cli")
    assert sorted(keys(everything(harness, tid)[8:])) == sorted([
        ("device", gone_device, "retired"), ("device", changed_device, "updated"),
        ("detectedApp", apps[0], "removed"), ("detectedApp", apps[1], "changed"),
        ("detectedApp", new_app["id"], "detected")])

    back = copy.deepcopy(partner.customers[tid]["intune"])["managed_devices"][gone_device]
    intune["managed_devices"][gone_device] = back
    harness.sim.update_tenant(tid, {"intune": intune})
    harness.services.runner.run_one("devices", tid, "cli")
    assert keys(everything(harness, tid)[13:]) == [("device", gone_device, "restored")]
    unchanged = harness.services.runner.run_one("devices", tid, "cli", RunOptions(full=True))
    assert unchanged.changes_to == "" and len(everything(harness, tid)) == 14


@pytest.mark.slow
def test_paging_across_many_runs_neither_skips_nor_repeats(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    users = [t.user(f"User {i:02d}") for i in range(7)]
    t.add(t.level0, *users)
    harness.start()
    harness.onboard(t)
    assert harness.sim is not None
    read: list[FeedEntry] = []
    cursor = None
    for round_ in range(6):
        harness.sync(t)
        # A portal that reads 4 at a time after every run, keeping its cursor.
        while True:
            page = harness.services.feed.page(t.id, cursor, 4)
            read.extend(page.entries)
            cursor = page.cursor
            if not page.more:
                break
        for i, uid in enumerate(users):
            harness.sim.upsert_object(t.id, "users", {
                "id": uid, "displayName": f"User {i:02d} r{round_}", "mail": None,
                "userPrincipalName": f"u{i}@x.example"})
    whole = everything(harness, t.id, page_size=1000, health=True)
    assert [e.seq for e in read] == list(range(1, len(whole) + 1))
    assert read == whole
    # Created once, then renamed in each of five runs; and the first run made it healthy.
    assert len(whole) == 7 * 6 + 1
    for size in (1, 5, 42, 43, 44):
        assert everything(harness, t.id, page_size=size, health=True) == whole
    end = harness.services.feed.page(t.id, cursor, 10)
    assert (end.entries, end.cursor, end.more) == ([], cursor, False)


def test_a_cursor_of_another_feed_or_past_the_end_is_refused(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    harness.sync(t)
    feed = harness.services.feed
    position = feed.position(t.id)
    assert position is not None
    feed_id, seq = position.split(".")
    for bad in (f"{'0' * 8 if feed_id != '0' * 8 else '1' * 8}.1", f"{feed_id}.{int(seq) + 1}",
                "not-a-cursor"):
        with pytest.raises(InputError) as caught:
            feed.page(t.id, bad, 10)
        assert caught.value.code == "invalid_cursor"


@pytest.mark.slow
def test_concurrent_appends_to_one_feed_keep_every_block_whole(
    harness: Harness, world: World
) -> None:
    harness.start()
    tenant = "5e0c3b1e-0000-4000-8000-000000000001"
    feeds = [ChangeFeed(harness.services.tables) for _ in range(3)]
    errors: list[Exception] = []

    def appender(n: int) -> None:
        try:
            for block in range(6):
                changes = [Change("device", f"d{n}-{block}-{i}", "created") for i in range(5)]
                feeds[n].append(tenant, "devices", f"run-{n}-{block}", changes)
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    entries = everything(harness, tenant, page_size=7)
    assert [e.seq for e in entries] == list(range(1, 91))
    blocks: dict[str, list[str]] = {}
    for e in entries:
        blocks.setdefault(e.run_id, []).append(e.change.entity_id)
    assert len(blocks) == 18
    for run_id, ids in blocks.items():
        n, block = run_id.split("-")[1:]
        assert ids == [f"d{n}-{block}-{i}" for i in range(5)]  # contiguous and in order


def test_an_interrupted_sync_leaves_a_feed_consistent_with_what_was_written(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    store = harness.services.tables
    original = store.write

    def dies_at_users(table: str, entities: Any, **kwargs: Any) -> Any:
        if table == "users":
            raise StorageError("storage went away mid-write")
        return original(table, entities, **kwargs)

    # The worker dies after writing the group and the memberships, before the users.
    monkeypatch.setattr(store, "write", dies_at_users)
    with pytest.raises(StorageError):
        harness.sync(t)
    assert everything(harness, t.id) == []  # nothing committed: a reader sees nothing
    monkeypatch.setattr(store, "write", original)
    harness.services.runs.purge(t.id)  # its run stays "running"; a new start may go
    harness.services.tables.delete_partition("claims", t.id)

    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    entries = everything(harness, t.id)
    # What the interrupted run wrote (group, memberships) is recorded under its run, what
    # it did not (users) by the run that wrote it: each record exactly once.
    assert sorted(keys(entries)) == sorted(
        [("group", ids["management"], "created")]
        + [("membership", f"{ids['management']}_{ids[n]}", "added") for n in ("jane", "richard")]
        + [("user", ids[n], "created") for n in ("tom", "john", "jane", "richard", "alex")])
    assert len({e.run_id for e in entries}) == 2
    assert {e.run_id for e in entries if e.change.entity == "user"} == {run.run_id}
    assert not list(harness.services.feed._intent_rows(t.id, "directory"))


def test_a_run_that_died_after_its_append_is_not_recorded_twice(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = harness.start_onboarded()
    feed = harness.services.feed

    def dies(tenant_id: str, kind: Any, run_id: str, changes: Any, at: Any) -> None:
        feed.append(tenant_id, kind, run_id, changes, at)
        raise StorageError("died before clearing its intent")

    monkeypatch.setattr(feed, "commit", dies)
    with pytest.raises(StorageError):
        harness.sync(t)
    monkeypatch.undo()
    assert len(everything(harness, t.id)) == 8
    harness.services.runs.purge(t.id)
    harness.services.tables.delete_partition("claims", t.id)
    harness.sync(t, full=True)
    assert len(everything(harness, t.id)) == 8  # the intent was cleared, not appended again
    assert not list(feed._intent_rows(t.id, "directory"))


def test_changes_of_a_partial_read_are_recorded_too(harness: Harness, world: World) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": f"/groups/{ids['management']}/members"},
                             "kind": "status", "status": 500}])
    run = harness.sync(t)
    assert run.status == RunStatus.PARTIAL
    recorded = {k[1] for k in keys(everything(harness, t.id)) if k[0] == "user"}
    stored = {u.id for u in DirectoryTables(harness.services.tables).users(t.id, UserFilter())}
    assert stored and stored == recorded
