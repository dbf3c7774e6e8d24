"""Failures: partial reads never delete, throttling is waited out, errors name their fix."""

from __future__ import annotations

import pytest

from functions.core.errors import AuthenticationError, TenantError
from functions.core.model import Health, RunStatus
from functions.core.sensitive import SecretValue
from tests.conftest import Harness
from tests.world import World, new_id, seed_example

# Every sync reads in full (no delta re-sync): these faults are in the full read's listings.
FULL_READS = {"TENANTSYNC_DIRECTORY_RECONCILE_HOURS": "0"}


def _big_tenant(world: World, direct: int = 5, in_group: int = 5):  # type: ignore[no-untyped-def]
    t = world.tenant()
    users = [t.user(f"Direct {i}") for i in range(direct)]
    grouped = [t.user(f"Grouped {i}") for i in range(in_group)]
    grp = t.group("Team", *grouped)
    t.add(t.level0, *users, grp)
    return t, users, grouped, grp


@pytest.mark.parametrize(
    ("listing", "page"),
    [("level0", 1), ("level0", 2), ("level1", 1), ("level1", 2)],
)
@pytest.mark.slow
def test_failure_at_any_page_marks_nobody_deleted_and_next_run_converges(
    harness: Harness, world: World, listing: str, page: int
) -> None:
    t, users, grouped, grp = _big_tenant(world)
    harness.start(**FULL_READS)
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    # Someone leaves each group for real, then listings fail at the chosen page.
    harness.sim.remove_member(t.id, t.level0, users[0])
    harness.sim.remove_member(t.id, grp, grouped[0])
    group_id = t.level0 if listing == "level0" else grp
    harness.sim.set_faults([{
        "match": {"path_contains": f"/groups/{group_id}/members"},
        "kind": "status", "status": 500, "code": "InternalServerError", "page": page,
    }])
    # Small pages so that each listing has several.
    from functions.directory import reader
    original = reader.PAGE_SIZE
    reader.PAGE_SIZE = "2"
    try:
        failed = harness.sync(t)
    finally:
        reader.PAGE_SIZE = original
    assert failed.status in (RunStatus.PARTIAL, RunStatus.FAILED)
    assert failed.error_code
    assert failed.users.marked_deleted == 0
    assert failed.memberships_removed == 0
    assert not harness.users(t, deleted_only=True)
    harness.sim.clear_faults()
    converged = harness.sync(t)
    assert converged.status == RunStatus.SUCCEEDED
    assert set(harness.users(t, deleted_only=True)) == {users[0], grouped[0]}


def test_vanished_level1_group_makes_the_run_partial_without_deletions(
    harness: Harness, world: World
) -> None:
    t, _users, _grouped, grp = _big_tenant(world)
    harness.start(**FULL_READS)
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": f"/groups/{grp}/members"},
                             "kind": "status", "status": 404, "code": "Request_ResourceNotFound"}])
    run = harness.sync(t)
    assert run.status == RunStatus.PARTIAL
    assert run.error_code == "group_vanished"
    assert not harness.users(t, deleted_only=True)


@pytest.mark.slow
def test_throttling_with_retry_after_is_waited_out(harness: Harness, world: World) -> None:
    t, _ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": "/members"}, "kind": "throttle",
                             "retry_after": 0.2, "times": 3}])
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    assert run.throttled == 3
    assert len(harness.users(t)) == 5


def test_graph_error_that_never_clears_fails_the_run_with_graphs_code(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded(TENANTSYNC_GRAPH_MAX_RETRIES="2")
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": f"/groups/{t.level0}"}, "kind": "status",
                             "status": 503, "code": "ServiceUnavailable", "retry_after": 0.05}])
    run = harness.sync(t)
    assert run.status == RunStatus.FAILED
    assert "ServiceUnavailable" in run.error
    assert not harness.users(t)
    tenant = harness.services.tenants.get(t.id)
    assert tenant.health == Health.FAILING
    assert tenant.consecutive_failures == 1


def _expect_onboarding_error(harness: Harness, tenant_id: str, client_id: str, secret: str,
                             group_id: str) -> TenantError:
    with pytest.raises(TenantError) as caught:
        harness.services.onboarding.add_directory_tenant(
            tenant_id, client_id, SecretValue(secret), group_id
        )
    return caught.value


def test_secret_id_pasted_instead_of_value_says_so(harness: Harness, world: World) -> None:
    t = world.tenant()
    harness.start()
    err = _expect_onboarding_error(harness, t.id, t.app_id, t.secret_id, t.level0)
    assert isinstance(err, AuthenticationError)
    assert err.code == "invalid_secret"
    assert "secret ID instead of its value" in err.message
    assert "7000215" in err.message


def test_expired_secret_says_to_create_a_new_one(harness: Harness, world: World) -> None:
    t = world.tenant(secret_expires="2020-01-01T00:00:00Z")
    harness.start()
    err = _expect_onboarding_error(harness, t.id, t.app_id, t.secret, t.level0)
    assert err.code == "secret_expired"
    assert "Create a new client secret" in err.message


def test_app_not_in_tenant_says_to_check_client_id_or_consent(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    harness.start()
    err = _expect_onboarding_error(harness, t.id, new_id(), t.secret, t.level0)
    assert err.code == "app_not_found"
    assert "consented" in err.message


def test_unknown_tenant_says_to_check_the_tenant_id(harness: Harness, world: World) -> None:
    t = world.tenant()
    harness.start()
    err = _expect_onboarding_error(harness, new_id(), t.app_id, t.secret, t.level0)
    assert err.code == "tenant_not_found"
    assert "Directory (tenant) ID" in err.message


def test_missing_group_permission_names_the_permission(harness: Harness, world: World) -> None:
    t = world.tenant(roles=["User.Read.All"])
    harness.start()
    err = _expect_onboarding_error(harness, t.id, t.app_id, t.secret, t.level0)
    assert err.code == "permission_missing"
    assert "GroupMember.Read.All" in err.message


def test_onboarding_without_user_permission_is_refused_naming_it(
    harness: Harness, world: World
) -> None:
    t = world.tenant(roles=["GroupMember.Read.All"])  # reads the group, blanks its users
    harness.start()
    err = _expect_onboarding_error(harness, t.id, t.app_id, t.secret, t.level0)
    assert err.code == "permission_missing"
    assert "User.Read.All" in err.message
    assert "GroupMember.Read.All" not in err.message  # only what is missing
    assert harness.services.tenants.find(t.id) is None  # nothing stored


def test_every_missing_permission_is_named_at_once(harness: Harness, world: World) -> None:
    t = world.tenant(roles=[])  # installed, never consented: a token without roles
    harness.start()
    err = _expect_onboarding_error(harness, t.id, t.app_id, t.secret, t.level0)
    assert err.code == "permission_missing"
    assert "GroupMember.Read.All, User.Read.All" in err.message
    assert "grant admin consent" in err.message


def test_higher_permissions_count_for_the_ones_they_include(
    harness: Harness, world: World
) -> None:
    t = world.tenant(roles=["Directory.Read.All"])  # covers both directory permissions
    harness.start()
    harness.onboard(t)
    assert harness.services.tenants.get(t.id).directory is not None


def test_user_permission_revoked_after_onboarding_fails_instead_of_blanking_users(
    harness: Harness, world: World
) -> None:
    t = world.tenant()
    t.add(t.level0, t.user("Pat"))
    harness.start()
    harness.onboard(t)
    assert harness.sim is not None
    harness.sim.set_roles(t.id, t.app_id, ["GroupMember.Read.All"])  # an admin revokes one
    harness.services.tokens.forget()  # the next run gets a new token, without the role
    run = harness.sync(t)
    assert run.status == RunStatus.FAILED
    assert run.error_code == "permission_missing"
    assert "User.Read.All" in run.error
    assert not harness.users(t)
    assert harness.services.tenants.get(t.id).health == Health.PERMISSION_MISSING


def test_wrong_group_id_says_to_check_the_object_id(harness: Harness, world: World) -> None:
    t = world.tenant()
    user = t.user("Not A Group")
    harness.start()
    for wrong in (new_id(), user):
        err = _expect_onboarding_error(harness, t.id, t.app_id, t.secret, wrong)
        assert err.code == "group_not_found"
        assert "Object ID" in err.message
    assert harness.services.tenants.find(t.id) is None  # nothing stored


def test_failing_tenant_does_not_stop_the_others(harness: Harness, world: World) -> None:
    good, _ = seed_example(world)
    bad, _ = seed_example(world)
    harness.start()
    harness.onboard(good)
    harness.onboard(bad)
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"tenant": bad.id, "path_contains": "/groups/"},
                             "kind": "status", "status": 403,
                             "code": "Authorization_RequestDenied"}])
    from functions.cli import main

    assert main(["sync", "directory", "--all"]) == 1
    runs = {tid: harness.services.runs.recent(tid, 1)[0] for tid in (good.id, bad.id)}
    assert runs[good.id].status == RunStatus.SUCCEEDED
    assert runs[bad.id].status == RunStatus.FAILED
    assert runs[bad.id].error_code == "permission_missing"
