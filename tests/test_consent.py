"""One-click onboarding through admin consent: link -> Entra -> callback -> stored tenant ->
first sync, with the deployment's federated apps; and every way a callback is refused
without storing anything."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from functions.core.errors import TenantSyncError
from functions.core.model import CredentialType, Health, RunStatus, SyncKind
from tests.api.conftest import run_queued_jobs, stored
from tests.api.test_health_events import in_feed
from tests.conftest import Harness
from tests.consent_helpers import consent_world, intune_customer, query_of, redirect_of
from tests.world import World


def _complete_error(harness: Harness, query: str) -> TenantSyncError:
    with pytest.raises(TenantSyncError) as caught:
        harness.services.consent.complete(query)
    return caught.value


def test_directory_link_with_group_connects_and_syncs_without_a_secret(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    assert link.url.startswith(f"{harness.env['TENANTSYNC_AUTHORITY_HOST']}/{t.id}/v2.0/"
                               "adminconsent?client_id=" + d.directory_app)
    result = harness.services.consent.complete(redirect_of(harness, link.url))
    assert (result.tenant_id, result.group_name, result.awaiting_group) == (t.id, "TinyMDM",
                                                                             False)
    tenant = harness.services.tenants.get(t.id)
    assert tenant.directory is not None
    assert tenant.directory.client_id == d.directory_app
    assert tenant.directory.credential_type == CredentialType.FEDERATED
    assert tenant.directory.secret_name == ""
    assert tenant.secret_expires_on is None  # a federated credential never expires
    # The first sync was started through the one start path: queued, then run by the queue.
    assert run_queued_jobs(harness, "directory") == 1
    run = harness.services.runs.get(t.id, result.run_id)
    assert run.status == RunStatus.SUCCEEDED
    assert run.users.created == 5
    assert harness.services.tenants.get(t.id).health == Health.HEALTHY
    assert harness.services.consents.get(link.consent.consent_id).consented_tenant_id == t.id


def test_directory_link_without_group_awaits_a_group_chosen_by_name(
    harness: Harness, world: World
) -> None:
    d, t, ids = consent_world(world)
    harness.start(**d.env())
    assert harness.sim is not None
    harness.sim.set_signed_in_admin(t.id)  # an "organizations" link: whoever signs in
    link = harness.services.consent.create("directory")
    assert "/organizations/v2.0/adminconsent?" in link.url
    result = harness.services.consent.complete(redirect_of(harness, link.url))
    assert result.awaiting_group
    assert result.run_id == ""
    tenant = harness.services.tenants.get(t.id)
    assert tenant.health == Health.AWAITING_GROUP
    assert harness.services.scheduler.schedule("directory") == (0, 1)  # not scheduled yet
    assert harness.services.runner.run_one("directory", t.id, "cli").error_code == \
        "group_required"
    assert harness.services.tenants.get(t.id).health == Health.AWAITING_GROUP
    # The group is chosen: tested, stored, synced.
    harness.services.onboarding.update_directory_tenant(t.id, group_id=ids["management"])
    assert harness.services.tenants.get(t.id).health == Health.UNKNOWN
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    assert {u.display_name for u in harness.users_of(t.id)} == {"Jane Doe", "Richard Roe",
                                                              "Dana Director"}


def test_devices_link_connects_a_tenant_and_starts_its_device_sync(
    harness: Harness, world: World
) -> None:
    d, _, _ = consent_world(world)
    customer = intune_customer(world)
    harness.start(**d.env())
    link = harness.services.consent.create("devices", tenant_id=customer)
    result = harness.services.consent.complete(redirect_of(harness, link.url))
    assert result.tenant_name == "Northwind Ltd"  # read by the connection test
    tenant = harness.services.tenants.get(customer)
    assert tenant.devices is not None
    assert tenant.devices.client_id == d.inventory_app
    assert tenant.devices.partner_tenant_id == ""
    assert run_queued_jobs(harness, "devices") == 1
    run = harness.services.runs.get(customer, result.run_id)
    assert run.status == RunStatus.SUCCEEDED
    assert run.devices.created == 3
    assert harness.services.tenants.get(customer).device_state.health == Health.HEALTHY


@pytest.mark.slow
def test_a_used_link_is_refused_the_second_time_and_changes_nothing(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    query = redirect_of(harness, link.url)
    harness.services.consent.complete(query)
    before = stored(harness)
    err = _complete_error(harness, query)
    assert err.code == "consent_link_used"
    assert stored(harness) == before


def test_a_forged_or_changed_state_is_refused_and_stores_nothing(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    params = query_of(redirect_of(harness, link.url))
    state = params["state"]
    before = stored(harness)
    other_id = "0" * 32
    forged = [state[:-1] + ("A" if state[-1] != "A" else "B"),  # signature changed
              state.replace(state.split(".")[1], other_id),  # another consent id
              "c1." + other_id + ".9999999999." + "x" * 43, "", "not-a-state"]
    for bad in forged:
        query = f"admin_consent=True&tenant={t.id}&state={bad}"
        assert _complete_error(harness, query).code == "invalid_consent_state"
    assert _complete_error(harness, f"admin_consent=True&tenant={t.id}").code == \
        "invalid_consent_state"  # no state at all: a callback nobody asked a link for
    assert stored(harness) == before
    assert harness.services.tenants.find(t.id) is None


def test_an_expired_link_is_refused(harness: Harness, world: World) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    query = redirect_of(harness, link.url)
    flow = harness.services.consent
    later = datetime.now(UTC) + timedelta(hours=73)  # links last 72 hours by default
    flow.clock = lambda: later
    before = stored(harness)
    assert _complete_error(harness, query).code == "consent_link_expired"
    assert stored(harness) == before


@pytest.mark.parametrize(("error", "description", "code", "words"), [
    ("consent_required", "AADSTS65004: The resource owner or authorization server denied the "
     "request.", "consent_denied", "Privileged Role Administrator"),
    # How Entra really sends a cancel on its admin-consent page (no `tenant`).
    ("access_denied", "AADSTS65004: User declined to consent to access the app.",
     "consent_denied", "The consent was cancelled (access_denied, AADSTS65004)"),
    ("invalid_scope", "AADSTS70011: The provided value for scope is not valid.",
     "consent_failed", "refused the permissions the link asks for"),
    ("unauthorized_client", "AADSTS700016: Application not found.", "consent_failed",
     "does not allow this app"),
    ("server_error", "AADSTS50000: There was an error issuing a token.", "consent_failed",
     "in a few minutes"),
    ("temporarily_unavailable", "AADSTS90033: A transient error has occurred.",
     "consent_failed", "in a few minutes"),
])
def test_consent_errors_give_a_clear_answer_and_store_nothing(
    harness: Harness, world: World, error: str, description: str, code: str, words: str
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    state = query_of(link.url.split("?", 1)[1])["state"]
    from urllib.parse import urlencode

    before = stored(harness)
    query = urlencode({"admin_consent": "True", "error": error,
                       "error_description": description + "\r\nTrace ID: x", "state": state})
    err = _complete_error(harness, query)
    assert err.code == code
    assert words in err.message
    assert description.split(":")[0] in err.message  # Entra's code, never its text
    assert "Trace ID" not in err.message
    assert stored(harness) == before


def test_a_cancel_as_entra_sends_it_is_answered_as_a_cancel_not_a_malformed_request(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    state = query_of(link.url.split("?", 1)[1])["state"]

    # Observed (azure-docs #114009): no tenant, an error_uri; MSAL's error_subcode=cancel.
    query = urlencode({"error": "access_denied", "error_subcode": "cancel",
                       "error_description": "AADSTS65004: User declined to consent to access "
                                            "the app.", "admin_consent": "True",
                       "error_uri": "https://login.microsoftonline.com/error?code=65004",
                       "state": state})
    err = _complete_error(harness, query)
    assert (err.code, err.message.split(",")[0]) == ("consent_denied",
                                                     "The consent was cancelled (access_denied")
    assert "select Accept" in err.message


def test_the_simulated_cancel_gets_the_cancel_answer(harness: Harness, world: World) -> None:
    d, t, _ = consent_world(world)
    world.fixture["tenants"][t.id]["admin_consent"] = "cancel"
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)

    err = _complete_error(harness, redirect_of(harness, link.url))
    assert err.code == "consent_denied" and err.message.startswith("The consent was cancelled")


@pytest.mark.slow
def test_a_consent_entra_still_propagates_is_completed_by_the_retry(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    world.fixture["partner_access"] = {"propagation_seconds": 1.0}
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)

    result = harness.services.consent.complete(redirect_of(harness, link.url))
    assert (result.awaiting_consent, result.run_id) == (True, "")
    tenant = harness.services.tenants.get(t.id)
    assert tenant.directory_state.health == "awaiting_consent"
    assert tenant.directory_state.health_since is not None

    time.sleep(1.1)
    due = tenant.directory_state.health_since + timedelta(seconds=30)
    assert harness.services.consent_retry.sweep(due) == {f"{t.id}/directory": "connected"}
    assert run_queued_jobs(harness, "directory") == 1
    assert harness.services.tenants.get(t.id).directory_state.health == "healthy"
    # Each change of health on the way, onboarding's and the retry's too, is told once.
    assert in_feed(harness, t.id) == [("directory", "awaiting_consent"),
                                      ("directory", "unknown"), ("directory", "healthy")]


def test_a_refusing_admin_gets_the_refusal_page_and_the_link_stays_open(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    world.fixture["tenants"][t.id]["admin_consent"] = "refuse"
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    assert _complete_error(harness, redirect_of(harness, link.url)).code == "consent_denied"
    assert harness.services.tenants.find(t.id) is None
    assert harness.sim is not None
    harness.sim.set_admin_consent(t.id, "accept")  # the admin changes their mind
    assert harness.services.consent.complete(redirect_of(harness, link.url)).tenant_id == t.id


def test_a_link_for_one_tenant_consented_by_another_is_refused(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    other = world.tenant("Other")
    harness.start(**d.env())
    assert harness.sim is not None
    harness.sim.set_signed_in_admin(other.id)
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    state = query_of(link.url.split("?", 1)[1])["state"]
    before = stored(harness)
    query = f"admin_consent=True&tenant={other.id}&scope=x&state={state}"
    assert _complete_error(harness, query).code == "consent_tenant_mismatch"
    assert stored(harness) == before


@pytest.mark.parametrize("query", [
    "admin_consent=True&tenant=not-a-guid&state=c1.x",
    "admin_consent=True&admin_consent=True&state=c1.x",
    "admin_consent=True&tenant=11111111-2222-3333-4444-555555555555&state=c1.x&extra=1",
    "state=" + "a" * 200,
    "error=x&error_description=" + "d" * 5000,
    "scope=" + "s" * 9000,
    "admin_consent=maybe",
    "&".join(f"p{i}=1" for i in range(40)),
])
@pytest.mark.slow
def test_malformed_or_oversized_callback_parameters_are_400(
    harness: Harness, world: World, query: str
) -> None:
    d, _, _ = consent_world(world)
    harness.start(**d.env())
    before = stored(harness)
    err = _complete_error(harness, query)
    assert err.code == "invalid_request"
    assert "d" * 50 not in err.message and "s" * 50 not in err.message  # never echoed
    assert stored(harness) == before


@pytest.mark.slow
def test_a_missing_permission_of_the_deployment_app_is_named_and_nothing_stored(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    world.fixture["applications"][d.directory_app]["required_roles"] = ["GroupMember.Read.All"]
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    query = redirect_of(harness, link.url)
    before = stored(harness)
    err = _complete_error(harness, query)
    assert err.code == "permission_missing"
    assert "User.Read.All" in err.message
    assert stored(harness) == before
    # The deployer adds the permission; the admin opens the same link again: it works.
    assert harness.sim is not None
    harness.sim.set_roles(t.id, d.directory_app, None)
    with harness.sim.state.lock:
        app = harness.sim.state.world.applications[d.directory_app]
        app.required_roles = ["GroupMember.Read.All", "User.Read.All"]
    harness.services.tokens.forget()
    assert harness.services.consent.complete(redirect_of(harness, link.url)).tenant_id == t.id


def test_links_need_the_deployment_settings(harness: Harness, world: World) -> None:
    seed_tenant = world.tenant()
    harness.start()  # no deployment apps, no public address
    with pytest.raises(TenantSyncError) as caught:
        harness.services.consent.create("directory", tenant_id=seed_tenant.id)
    assert caught.value.code == "configuration"
    assert "TENANTSYNC_DIRECTORY_APP_ID" in caught.value.message


@pytest.mark.slow
def test_a_partners_customers_without_consent_get_links_and_are_synced_once_consented(
    harness: Harness, world: World
) -> None:
    d, _, _ = consent_world(world)
    from tests.world import Partner

    partner = Partner(world)
    healthy = partner.customer("Healthy")
    missing = partner.customer("Missing", consented=False)
    # The partner's own inventory app must list the callback for customers to return to it.
    world.fixture["applications"][partner.inventory_app]["redirect_uris"] = [
        f"{d.public_url}/api/consent/callback"]
    world.fixture["applications"][partner.inventory_app]["required_roles"] = [
        "Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
        "DeviceManagementApps.Read.All"]
    harness.start(**d.env())
    from tests.api.conftest import connect_partner

    connect_partner(harness, partner)
    for tid in (healthy, missing):
        harness.services.runner.run_one(SyncKind.DEVICES, tid, "cli")
    listed = {t.tenant_id: link for t, link in
                  harness.services.consent.partner_links(partner.id)}
    assert listed[healthy] is None
    link = listed[missing]
    assert link is not None
    assert f"/{missing}/v2.0/adminconsent?client_id={partner.inventory_app}" in link.url
    result = harness.services.consent.complete(redirect_of(harness, link.url))
    assert harness.services.tenants.get(missing).device_state.health == Health.UNKNOWN
    assert run_queued_jobs(harness, "devices") == 1
    assert harness.services.runs.get(missing, result.run_id).status == RunStatus.SUCCEEDED
    assert harness.services.tenants.get(missing).device_state.health == Health.HEALTHY
    assert all(link is None for _, link in harness.services.consent.partner_links(partner.id))


def test_the_first_sync_takes_the_tenants_claim_like_every_start(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    result = harness.services.consent.complete(redirect_of(harness, link.url))
    claim = harness.services.runs.read_claim(t.id, "directory")
    assert claim is not None
    assert claim[0].run_id == result.run_id
    run = harness.services.runs.get(t.id, result.run_id)
    assert (run.status, run.trigger) == (RunStatus.QUEUED, "http")
    # While it is queued, a second start is refused as any other would be.
    with pytest.raises(TenantSyncError) as caught:
        harness.services.starter.start(t.id, "directory", "http")
    assert caught.value.code == "sync_running"


def test_of_two_callbacks_racing_with_one_link_only_one_uses_it(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    table = harness.services.consents
    found_a, found_b = table.find(link.consent.consent_id), table.find(link.consent.consent_id)
    assert found_a is not None and found_b is not None
    (first, etag_a), (second, etag_b) = found_a, found_b
    first.used_at = second.used_at = datetime.now(UTC)
    assert table.use(first, etag_a)  # both read it unused; the first write wins
    assert not table.use(second, etag_b)  # the other's ETag is stale: it loses


def test_links_never_used_are_purged_a_while_after_they_expire(
    harness: Harness, world: World
) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    flow = harness.services.consent
    used = flow.create("directory", tenant_id=t.id, group_id=t.level0)
    flow.complete(redirect_of(harness, used.url))
    unused = flow.create("directory", tenant_id=t.id, group_id=t.level0)
    consents = harness.services.consents
    assert consents.purge_expired(datetime.now(UTC)) == 0  # nothing expired yet
    later = unused.consent.expires_at + timedelta(seconds=1)
    assert consents.purge_expired(later) == 1
    assert consents.find(unused.consent.consent_id) is None
    assert consents.get(used.consent.consent_id).used_at is not None  # a used one stays
