"""Delta re-syncs, through Azurite and the simulator: they leave the tables exactly as a full
sync would, read in full where delta cannot follow, and cost what changed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from functions.core.config import Settings
from functions.core.model import RunOptions, RunStatus
from functions.core.sensitive import SecretValue
from functions.directory.delta import previous_tree
from functions.directory.delta_state import DeltaStateStore
from functions.directory.digest import tree_fingerprint
from functions.services import Services
from simulator import Simulator
from tests.conftest import Harness
from tests.world import Tenant, World, seed_example

TABLES = ("users", "groups", "memberships")
TIMES = ("ChangedAt", "DeletedAt", "RemovedAt", "MembershipChangedAt")


def twin(harness: Harness, tenant: Tenant) -> Services:
    """The same deployment on tables of its own, reading in full at every sync."""
    env = {**harness.env, "TENANTSYNC_TABLE_PREFIX": harness.prefix + "f",
           "TENANTSYNC_DIRECTORY_RECONCILE_HOURS": "0"}
    services = Services(Settings.from_env(env))
    services.onboarding.add_directory_tenant(tenant.id, tenant.app_id,
                                             SecretValue(tenant.secret), tenant.level0)
    return services


def rows(services: Services, tenant_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every synced row of the tenant; a time column counts as set or not (runs differ)."""
    found = {}
    for table in TABLES:
        for e in services.tables.query(table, "PartitionKey eq @pk", {"pk": tenant_id}):
            row = {k: v for k, v in e.items() if k not in TIMES}
            row.update({k: bool(e.get(k)) for k in TIMES})
            found[(table, str(e["RowKey"]))] = row
    return found


def differences(a: Services, b: Services, tenant_id: str) -> list[str]:
    left, right = rows(a, tenant_id), rows(b, tenant_id)
    return [f"{key}: {left.get(key)} != {right.get(key)}"
            for key in sorted(set(left) | set(right)) if left.get(key) != right.get(key)]


def member_reads(sim: Simulator) -> int:
    """Full-read requests (group member listings) the simulator answered so far."""
    return int(sim.stats()["by_path_kind"].get("GET graph.members", 0))


def sync_both(harness: Harness, full: Services, tenant: Tenant) -> tuple[bool, int]:
    """Sync with delta, then in full; whether the delta side read in full, its requests."""
    assert harness.sim is not None
    before = member_reads(harness.sim)
    run = harness.sync(tenant, allow_mass_deletion=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    read_in_full = member_reads(harness.sim) > before
    other = full.runner.run_one("directory", tenant.id, "cli",
                                RunOptions(allow_mass_deletion=True))
    assert other.status == RunStatus.SUCCEEDED, other.error
    return read_in_full, run.graph_requests


def synced_pair(harness: Harness, world: World) -> tuple[Tenant, dict[str, str], Services,
                                                      Simulator]:
    """The example tenant onboarded, synced once with delta and once by its full-reading
    twin: (tenant, ids, the twin's services, the simulator)."""
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    full = twin(harness, t)
    sync_both(harness, full, t)
    assert harness.sim is not None
    return t, ids, full, harness.sim


def test_unchanged_delta_resync_costs_two_requests_and_no_write(harness: Harness) -> None:
    t = harness.start_onboarded()
    first = harness.sync(t)
    assert first.status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    reads = member_reads(harness.sim)
    again = harness.sync(t)
    assert again.status == RunStatus.SUCCEEDED
    assert again.graph_requests <= 3
    assert again.entities_written == 0
    assert member_reads(harness.sim) == reads  # no listing was read again
    assert again.users.unchanged == 5 and again.ignored["nested_group"] == 1


@pytest.mark.slow
def test_delta_resync_applies_changes_exactly_as_a_full_sync(harness: Harness,
                                                             world: World) -> None:
    t, ids, full, sim = synced_pair(harness, world)
    newcomer = "6a1f2d3e-0000-4000-8000-00000000beef"
    sim.upsert_object(t.id, "users", {"id": newcomer, "displayName": "New Hire",
                                      "mail": None, "userPrincipalName": "new@contoso.example"})
    sim.add_member(t.id, ids["management"], newcomer)  # a new, anonymous level-2 user
    sim.remove_member(t.id, ids["management"], ids["richard"])  # leaves the tree
    sim.add_member(t.id, ids["management"], ids["tom"])  # direct and in a group
    sim.add_member(t.id, ids["management"], ids["dana"])  # level 3 -> level 2: looked up
    sim.delete_object(t.id, "users", ids["john"])  # soft-deleted: group delta is silent
    sim.upsert_object(t.id, "users", {"id": ids["jane"], "displayName": "Jane Roe",
                                      "mail": "jane.roe@contoso.example",
                                      "userPrincipalName": "jane.doe@contoso.onmicrosoft.com"})
    read_in_full, requests = sync_both(harness, full, t)
    assert not read_in_full
    assert requests <= 3  # both rounds, and one look-up of Dana's properties
    assert differences(harness.services, full, t.id) == []
    users = harness.users(t)
    assert users[ids["john"]].deleted and users[ids["john"]].deleted_at is not None
    assert users[ids["richard"]].deleted
    assert users[newcomer].anonymous and not users[newcomer].direct
    assert users[ids["tom"]].direct and users[ids["tom"]].group_ids == (ids["management"],)
    assert users[ids["jane"]].display_name == "Jane Roe"
    assert users[ids["dana"]].display_name == "Dana Director"


@pytest.mark.slow
def test_expired_token_falls_back_to_a_full_read(harness: Harness, world: World) -> None:
    t, ids, full, sim = synced_pair(harness, world)
    sim.remove_member(t.id, ids["management"], ids["jane"])
    sim.state.expire_delta_tokens(t.id)
    read_in_full, _ = sync_both(harness, full, t)
    assert read_in_full
    assert differences(harness.services, full, t.id) == []
    sim.add_member(t.id, ids["management"], ids["jane"])  # delta again from here
    read_in_full, _ = sync_both(harness, full, t)
    assert not read_in_full
    assert differences(harness.services, full, t.id) == []
    sim.state.expire_delta_tokens(t.id, resync=True)  # 410 Gone
    sim.remove_member(t.id, t.level0, ids["tom"])
    read_in_full, _ = sync_both(harness, full, t)
    assert read_in_full
    assert differences(harness.services, full, t.id) == []


@pytest.mark.slow
def test_group_joining_level0_and_restored_user_are_read_in_full(harness: Harness,
                                                                 world: World) -> None:
    t, ids, full, sim = synced_pair(harness, world)
    sim.remove_member(t.id, ids["management"], ids["dg"])
    sim.add_member(t.id, t.level0, ids["dg"])  # level 2 -> level 1: no delta state yet
    read_in_full, _ = sync_both(harness, full, t)
    assert read_in_full
    assert differences(harness.services, full, t.id) == []
    sim.delete_object(t.id, "users", ids["jane"])
    assert not sync_both(harness, full, t)[0]
    assert harness.users(t)[ids["jane"]].deleted
    sim.upsert_object(t.id, "users", {"id": ids["jane"], "displayName": "Jane Doe",
                                      "mail": "jane.doe@contoso.example",
                                      "userPrincipalName": "jane.doe@contoso.onmicrosoft.com"})
    sim.add_member(t.id, ids["management"], ids["jane"])  # restored with her membership
    assert not sync_both(harness, full, t)[0]  # the group reported her: nothing in doubt
    assert not harness.users(t)[ids["jane"]].deleted
    sim.delete_object(t.id, "users", ids["richard"])
    sync_both(harness, full, t)
    sim.upsert_object(t.id, "users", {"id": ids["richard"], "displayName": "Richard Roe",
                                      "mail": None, "userPrincipalName": "rr@contoso.example"})
    read_in_full, _ = sync_both(harness, full, t)  # back, no membership reported: doubt
    assert read_in_full
    assert differences(harness.services, full, t.id) == []


@pytest.mark.slow
def test_failed_delta_round_falls_back_to_a_full_read(harness: Harness, world: World) -> None:
    t, ids, full, sim = synced_pair(harness, world)
    sim.remove_member(t.id, ids["management"], ids["jane"])
    sim.set_faults([{"match": {"path_contains": "/groups/delta"}, "kind": "status",
                             "status": 500, "code": "InternalServerError", "times": 1}])
    read_in_full, _ = sync_both(harness, full, t)
    assert read_in_full
    assert harness.users(t)[ids["jane"]].deleted
    assert differences(harness.services, full, t.id) == []


def test_reconciliation_reads_in_full_when_due(harness: Harness, world: World) -> None:
    t = harness.start_onboarded(TENANTSYNC_DIRECTORY_RECONCILE_HOURS="0")
    assert harness.sim is not None
    harness.sync(t)
    reads = member_reads(harness.sim)
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED and run.entities_written == 0
    assert member_reads(harness.sim) > reads


def _random_round(rng: random.Random, sim: Simulator, t: Tenant, groups: list[str],
                  deleted: list[str]) -> None:
    with sim.state.lock:
        tenant = sim.state.tenant(t.id)
        assert tenant is not None
        users = sorted(o for o, obj in tenant.objects.items() if obj.kind == "users")
        members = {g: list(tenant.members[g]) for g in [t.level0, *groups]}
        props = {u: dict(tenant.objects[u].props) for u in users}
    op = rng.choice(["add", "add", "remove", "remove", "move", "delete", "restore", "edit",
                     "create"])
    targets = [t.level0, *groups]
    if op == "add" and users:
        sim.add_member(t.id, rng.choice(targets), rng.choice(users))
    elif op == "remove":
        group = rng.choice(targets)
        user_members = [m for m in members[group] if m in props]
        if user_members:
            sim.remove_member(t.id, group, rng.choice(user_members))
    elif op == "move":
        leaves = [g for g in groups if not any(m in members for m in members[g])]
        group = rng.choice(leaves)
        for parent, held in members.items():
            if group in held:
                sim.remove_member(t.id, parent, group)
        sim.add_member(t.id, rng.choice([p for p in targets if p != group]), group)
    elif op == "delete" and users:
        victim = rng.choice(users)
        sim.delete_object(t.id, "users", victim)
        deleted.append(victim)
    elif op == "restore" and deleted:
        back = deleted.pop(rng.randrange(len(deleted)))
        sim.upsert_object(t.id, "users", {"id": back, "displayName": f"Back {back[:4]}",
                                          "userPrincipalName": f"{back[:8]}@contoso.example"})
        if rng.random() < 0.5:
            sim.add_member(t.id, rng.choice(targets), back)
    elif op == "edit" and users:
        user = rng.choice(users)
        edited = {**props[user], "displayName": f"Edited {rng.randrange(1000)}",
                  "mail": None if rng.random() < 0.3 else f"e{rng.randrange(99)}@x.example"}
        sim.upsert_object(t.id, "users", edited)
    elif op == "create":
        uid = f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
        sim.upsert_object(t.id, "users", {"id": uid, "displayName": f"New {uid[:4]}",
                                          "mail": f"{uid[:8]}@contoso.example",
                                          "userPrincipalName": f"{uid[:8]}@contoso.example"})
        sim.add_member(t.id, rng.choice(targets), uid)


@pytest.mark.slow
def test_fifty_random_rounds_of_delta_equal_full_syncs_row_for_row(harness: Harness,
                                                                   world: World) -> None:
    t = world.tenant()
    people = [t.user(f"Person {i}", mail=None if i % 7 == 0 else "") for i in range(40)]
    groups = [t.group(f"Team {g}", *people[g * 6:(g + 1) * 6]) for g in range(5)]
    nested = [t.group(f"Nested {g}", *people[30 + g * 3:33 + g * 3]) for g in range(2)]
    t.add(groups[0], nested[0])
    t.add(groups[1], nested[1])
    t.add(t.level0, *people[36:], *groups[:4])  # Team 4 starts outside the tree
    harness.start()
    harness.onboard(t)
    full = twin(harness, t)
    sync_both(harness, full, t)
    assert harness.sim is not None
    # Small pages: groups spread over pages, and every page repeats an object (a replay).
    harness.sim.state.set_delta_paging({"users_page": 3, "groups_page": 2, "members_page": 4,
                                        "repeat": True})
    rng = random.Random(20)
    deleted: list[str] = []
    by_delta = touched_only = 0
    states = DeltaStateStore(harness.services.tables)
    for _ in range(50):
        for _ in range(rng.randint(1, 4)):
            _random_round(rng, harness.sim, t, [*groups, *nested], deleted)
        before = states.load(t.id)
        read_in_full, _ = sync_both(harness, full, t)
        by_delta += not read_in_full
        assert differences(harness.services, full, t.id) == []
        # The digest a delta updated record by record is the whole tables' tree's digest.
        state = states.load(t.id)
        assert state is not None and before is not None
        tables = harness.services.directory.load(t.id)
        assert tree_fingerprint(previous_tree(tables, state)) == state.fingerprint
        # Loaded only what its changes touched (a run that loads every row notes when).
        touched_only += not read_in_full and state.compared_at == before.compared_at
    assert by_delta >= 30  # most rounds were followed by delta, not read again
    assert touched_only >= 25


@pytest.mark.slow
def test_delta_loading_only_the_touched_rows_counts_and_guards_as_a_full_sync(
        harness: Harness, world: World) -> None:
    t = world.tenant()
    people = [t.user(f"Person {i}") for i in range(12)]
    team = t.group("Team", *people[4:])
    t.add(t.level0, *people[:4], team)
    harness.start(TENANTSYNC_DELETION_GUARD_MIN="3")
    harness.onboard(t)
    full = twin(harness, t)
    sync_both(harness, full, t)
    assert harness.sim is not None
    harness.sim.upsert_object(t.id, "users", {"id": people[0], "displayName": "Renamed",
                                              "userPrincipalName": "p0@contoso.example"})
    run = harness.sync(t)
    other = full.runner.run_one("directory", t.id, "cli")
    assert run.status == other.status == RunStatus.SUCCEEDED
    # The 11 users it did not load are counted unchanged, as the full comparison counts them.
    assert (run.users.updated, run.users.unchanged) == (1, 11)
    assert (other.users.updated, other.users.unchanged) == (1, 11)
    assert run.entities_written == other.entities_written == 1
    for person in people[5:]:
        harness.sim.delete_object(t.id, "users", person)  # 7 of 12: over half
    held = harness.sync(t)
    assert held.status == RunStatus.SKIPPED and held.error_code == "deletion_guard"
    assert "7 of 12" in held.error
    assert not harness.users(t)[people[5]].deleted  # nothing was written
    released = harness.sync(t, allow_mass_deletion=True)
    assert released.status == RunStatus.SUCCEEDED and released.users.marked_deleted == 7
    full.runner.run_one("directory", t.id, "cli", RunOptions(allow_mass_deletion=True))
    assert differences(harness.services, full, t.id) == []


@pytest.mark.slow
def test_full_sync_reads_in_full_as_many_requests_as_a_full_read(harness: Harness,
                                                                  world: World) -> None:
    t, ids, full, sim = synced_pair(harness, world)
    sim.remove_member(t.id, ids["management"], ids["jane"])
    reads = member_reads(sim)
    run = harness.sync(t, full=True)
    assert run.status == RunStatus.SUCCEEDED
    assert member_reads(sim) > reads  # every listing again, not the delta rounds
    other = full.runner.run_one("directory", t.id, "cli")  # its twin reads in full always
    assert run.graph_requests == other.graph_requests > 3
    assert differences(harness.services, full, t.id) == []
    assert not sync_both(harness, full, t)[0]  # the next sync follows delta from there


@pytest.mark.slow
def test_tables_that_lost_a_row_are_read_and_compared_in_full(harness: Harness,
                                                              world: World) -> None:
    t, ids, full, sim = synced_pair(harness, world)
    jane = harness.users(t)[ids["jane"]]
    [group] = jane.group_ids
    harness.services.tables.delete("memberships", t.id, f"{group}_{ids['jane']}")  # lost
    sim.upsert_object(t.id, "users", {"id": ids["jane"], "displayName": "Jane Roe",
                                      "mail": "jane.roe@contoso.example",
                                      "userPrincipalName": "jane.doe@contoso.onmicrosoft.com"})
    read_in_full, _ = sync_both(harness, full, t)
    assert read_in_full  # her membership row was not where the tree says: no guess
    assert differences(harness.services, full, t.id) == []  # the lost row is back
    assert not sync_both(harness, full, t)[0]


@pytest.mark.slow
def test_a_lost_user_row_is_found_when_the_full_comparison_is_due(harness: Harness,
                                                                  world: World) -> None:
    t, ids = seed_example(world)
    harness.start(TENANTSYNC_FULL_COMPARE_HOURS="0")  # due at every sync
    harness.onboard(t)
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    harness.services.tables.delete("users", t.id, ids["tom"])  # storage lost it
    reads = member_reads(harness.sim)
    run = harness.sync(t)  # nothing changed in Entra: the tables are checked all the same
    assert run.status == RunStatus.SUCCEEDED
    assert member_reads(harness.sim) > reads  # they differ from the state's tree: in full
    assert run.users.created == 1 and not harness.users(t)[ids["tom"]].deleted
