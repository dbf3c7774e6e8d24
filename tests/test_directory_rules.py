"""Every directory rule of PRODUCT.md, one test each, through Azurite and the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.core.model import RunStatus
from tests.conftest import Harness
from tests.world import World, seed_example


def test_seed_example_imports_level1_users_alone_and_level2_users_in_their_group(
    harness: Harness, world: World
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    users = harness.users(t)
    names = {u.display_name for u in users.values()}
    assert names == {"Tom Smith", "John Doe", "Jane Doe", "Richard Roe", "Alex Anonymous"}
    groups = {g.id: g for g in harness.services.directory.groups(t.id)}
    assert [g.display_name for g in groups.values()] == ["Management"]
    members = {m.user_id for m in harness.services.directory.memberships(t.id, ids["management"])}
    assert members == {ids["jane"], ids["richard"]}
    assert users[ids["tom"]].direct
    assert users[ids["john"]].direct
    assert not users[ids["jane"]].direct
    assert run.users.created == 5
    assert run.groups.created == 1


def test_level3_groups_and_their_members_are_ignored_and_counted(
    harness: Harness, world: World
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    run = harness.sync(t)
    assert ids["dana"] not in harness.users(t)
    assert ids["dg"] not in {g.id for g in harness.services.directory.groups(t.id)}
    assert run.ignored["nested_group"] == 1
    stored = harness.services.runs.get(t.id, run.run_id)
    assert stored.ignored["nested_group"] == 1


def test_members_that_are_not_users_or_groups_are_ignored_and_counted(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    level1 = t.group("Field", t.user("Fay Field"), t.device("Tablet 7"))
    t.add(t.level0, t.user("Ann"), t.device("Kiosk"), t.contact("Vendor"), level1)
    harness.start()
    harness.onboard(t)
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    assert run.ignored["device"] == 2
    assert run.ignored["contact"] == 1
    assert len(harness.users(t)) == 2


def test_user_without_mail_is_anonymous_and_upn_is_never_used_as_email(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    anon = t.user("No Mail", mail=None, upn="nomail@contoso.onmicrosoft.com")
    t.add(t.level0, anon)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    user = harness.users(t)[anon]
    assert user.anonymous
    assert user.email is None
    assert user.upn == "nomail@contoso.onmicrosoft.com"
    assert set(harness.users(t, anonymous_only=True)) == {anon}


def test_user_in_two_level1_groups_and_direct_is_one_user_with_both_memberships(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    both = t.user("Bo Both")
    sales, ops = t.group("Sales", both), t.group("Ops", both)
    t.add(t.level0, both, sales, ops)
    harness.start()
    harness.onboard(t)
    run = harness.sync(t)
    assert run.users.created == 1
    assert harness.users(t)[both].direct
    assert set(harness.users(t, group_id=sales)) == {both}
    assert set(harness.users(t, group_id=ops)) == {both}


def test_renames_and_email_changes_are_updated_in_place(harness: Harness, world: World) -> None:
    t = world.tenant()
    uid = t.user("Old Name")
    grp = t.group("Old Group", uid)
    t.add(t.level0, uid, grp)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.upsert_object(t.id, "users", {
        "id": uid, "displayName": "New Name", "mail": "new@contoso.example",
        "userPrincipalName": "renamed@contoso.onmicrosoft.com",
    })
    harness.sim.upsert_object(t.id, "groups", {"id": grp, "displayName": "New Group",
                                               "members": [uid]})
    run = harness.sync(t)
    user = harness.users(t)[uid]
    assert (user.display_name, user.email) == ("New Name", "new@contoso.example")
    assert run.users.updated == 1
    assert run.groups.updated == 1
    assert run.users.created == 0
    assert len(harness.users(t)) == 1  # keyed by object ID: the same row, not a new one


def test_user_who_left_is_marked_deleted_with_the_time(harness: Harness, world: World) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["john"])
    before = datetime.now(UTC)
    run = harness.sync(t)
    john = harness.users(t)[ids["john"]]
    assert john.deleted
    assert john.deleted_at is not None
    assert before - timedelta(seconds=1) <= john.deleted_at <= datetime.now(UTC)
    assert run.users.marked_deleted == 1
    assert set(harness.users(t, deleted_only=True)) == {ids["john"]}


def test_user_who_left_a_level1_group_is_marked_deleted(harness: Harness, world: World) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.remove_member(t.id, ids["management"], ids["jane"])
    harness.sync(t)
    assert harness.users(t)[ids["jane"]].deleted
    assert ids["jane"] not in harness.users(t, group_id=ids["management"])


@pytest.mark.slow
def test_user_who_comes_back_is_restored(harness: Harness, world: World) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["tom"])
    harness.sync(t)
    harness.sim.add_member(t.id, t.level0, ids["tom"])
    run = harness.sync(t)
    tom = harness.users(t)[ids["tom"]]
    assert not tom.deleted
    assert tom.deleted_at is None
    assert run.users.restored == 1


def test_level1_group_that_left_is_marked_deleted_with_its_members(
    harness: Harness, world: World
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["management"])
    run = harness.sync(t)
    group = {g.id: g for g in harness.services.directory.groups(t.id)}[ids["management"]]
    assert group.deleted
    assert group.deleted_at is not None
    assert run.groups.marked_deleted == 1
    assert harness.users(t)[ids["jane"]].deleted
    assert harness.users(t)[ids["richard"]].deleted
    assert not harness.users(t)[ids["tom"]].deleted


def _etags(harness: Harness) -> dict[tuple[str, str, str], str]:
    """Each synced entity's ETag, which changes whenever the entity is written."""
    return {(e["_table"], e["PartitionKey"], e["RowKey"]): e["_etag"]
            for e in harness.entities() if e["_table"].endswith(("users", "groups",
                                                                   "memberships"))}


@pytest.mark.slow
def test_second_sync_without_change_writes_no_entity(harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    harness.sync(t)
    synced = _etags(harness)
    assert len(synced) == 8  # 5 users, 1 group, 2 memberships
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    assert run.entities_written == 0
    assert run.transactions == 0
    assert _etags(harness) == synced
    # Comparing with every stored entity (not only the tree's digest) writes nothing either.
    full = harness.sync(t, full=True)
    assert full.status == RunStatus.SUCCEEDED
    assert full.users.unchanged == 5
    assert full.entities_written == 0
    assert full.transactions == 0
    assert _etags(harness) == synced


def test_mass_deletion_is_held_back_until_allowed(harness: Harness, world: World) -> None:
    t = world.tenant()
    members = [t.user(f"User {i}") for i in range(12)]
    t.add(t.level0, *members)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    for uid in members[:11]:
        harness.sim.remove_member(t.id, t.level0, uid)
    held = harness.sync(t)
    assert held.status == RunStatus.SKIPPED
    assert held.error_code == "deletion_guard"
    assert not harness.users(t, deleted_only=True)
    allowed = harness.sync(t, allow_mass_deletion=True)
    assert allowed.status == RunStatus.SUCCEEDED
    assert len(harness.users(t, deleted_only=True)) == 11
