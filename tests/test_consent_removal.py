"""Removing a tenant with --revoke-consent takes back, in the customer's tenant, exactly what
tenantsync's partner-side consent made (as its audit records it) and nothing else; without
the flag nothing there is touched. A consent's event goes through the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.receiver import Receiver
from functions.api import routes_tenants
from functions.core.errors import TenantError
from functions.partners.consent import ConsentOutcome
from functions.storage.outbox import CONSENT
from functions.webhooks.model import CONSENT_GRANTED, CONSENT_REVOKED
from tests.api.conftest import run_queued_jobs
from tests.conftest import Harness
from tests.partner_side import PRIVILEGED_ROLE_ADMIN, PUBLIC_URL, PartnerSide, sign_in
from tests.world import World

GRAPH = "00000003-0000-0000-c000-000000000000"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _started(harness: Harness, side: PartnerSide, receiver: Receiver) -> Harness:
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL, TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true",
                  TENANTSYNC_WEBHOOK_CA_BUNDLE=receiver.ca_path)
    side.connect(harness)
    for tid in side.partner.customers:  # the first syncs find the consent missing
        harness.services.runner.run_one("devices", tid, "cli")
    harness.services.partner_signin.complete(sign_in(harness, side.partner.id))
    return harness


def _connected(harness: Harness, world: World, receiver: Receiver) -> tuple[PartnerSide, str]:
    """One customer (Contoso) connected from the partner's side and synced."""
    side = PartnerSide(world)
    contoso = side.customer("Contoso")
    _started(harness, side, receiver)
    [answer] = harness.services.partner_consent.run(side.partner.id)
    assert answer.outcome == ConsentOutcome.CONNECTED
    assert run_queued_jobs(harness, "devices") == 1
    return side, contoso


def _customer_side(harness: Harness, side: PartnerSide, tid: str) -> dict[str, Any]:
    """What the customer's directory holds of the inventory app and the partner app."""
    assert harness.sim is not None
    state = harness.sim.state
    with state.lock:
        state.partner_access.settle(state.world)
        tenant = state.world.tenants[tid]
        access = state.partner_access
        return {"principal": side.partner.inventory_app in tenant.roles,
                "roles": sorted(tenant.roles.get(side.partner.inventory_app, [])),
                "pending": sorted(a.role for a in access.assignments if a.tenant == tid),
                "delegated": (tid, side.partner.partner_app) in access.delegated}


def _remove(harness: Harness, tid: str, *, revoke: bool) -> None:
    routes_tenants.delete_tenant(tenant_id=tid, services=harness.services, purge=False,
                                 revoke_consent=revoke)


@pytest.mark.slow
def test_removal_takes_back_only_what_tenantsync_consented(
        harness: Harness, world: World, receiver: Receiver) -> None:
    side = PartnerSide(world)
    # Contoso's admin had created the inventory app's principal with one permission.
    contoso = side.customer("Contoso")
    side.partner.customers[contoso]["service_principals"][side.partner.inventory_app] = {
        "roles": ["Organization.Read.All"]}
    fabrikam = side.customer("Fabrikam")
    tailspin = side.customer("Tailspin")
    _started(harness, side, receiver)
    s = harness.services
    hook, _ = s.webhooks.subscribe(receiver.url, [CONSENT_GRANTED, CONSENT_REVOKED], [])
    answers = {a.tenant_id: a for a in s.partner_consent.run(side.partner.id)}
    assert {a.outcome for a in answers.values()} == {ConsentOutcome.CONNECTED}
    assert run_queued_jobs(harness, "devices") == 3
    assert answers[contoso].permissions == ["DeviceManagementManagedDevices.Read.All",
                                            "DeviceManagementApps.Read.All"]
    before = {t: _customer_side(harness, side, t) for t in (contoso, fabrikam, tailspin)}
    assert before[contoso]["roles"] == sorted(
        ["Organization.Read.All", "DeviceManagementManagedDevices.Read.All",
         "DeviceManagementApps.Read.All"])
    assert all(b["delegated"] for b in before.values())

    # Without the flag nothing in the customer's tenant is touched.
    _remove(harness, tailspin, revoke=False)
    assert s.tenants.find(tailspin) is None
    assert _customer_side(harness, side, tailspin) == before[tailspin]

    _remove(harness, contoso, revoke=True)
    _remove(harness, fabrikam, revoke=True)
    assert s.tenants.find(contoso) is None and s.tenants.find(fabrikam) is None
    # Contoso keeps its admin's principal and grant; the partner app's grant is gone.
    assert _customer_side(harness, side, contoso) == {
        "principal": True, "roles": ["Organization.Read.All"], "pending": [],
        "delegated": False}
    # Fabrikam's principal was tenantsync's: it is gone with its assignments.
    assert _customer_side(harness, side, fabrikam) == {
        "principal": False, "roles": [], "pending": [], "delegated": False}

    audit = s.partner_consent.audit.list(side.partner.id, fabrikam)
    assert [(r.action, r.principal_created, sorted(r.permissions)) for r in audit] == [
        ("revoked", True, sorted(["Organization.Read.All",
                                  "DeviceManagementManagedDevices.Read.All",
                                  "DeviceManagementApps.Read.All"])),
        ("granted", True, sorted(["Organization.Read.All",
                                  "DeviceManagementManagedDevices.Read.All",
                                  "DeviceManagementApps.Read.All"]))]
    feed = [e.change for e in s.feed.page(contoso, None, 100).entries]
    assert [(c.entity, c.change) for c in feed if c.entity == "consent"] == [
        ("consent", "granted"), ("consent", "revoked")]
    sent = [(d.event_type, json.loads(d.payload)["data"]["tenantId"])
            for d in s.webhook_tables.deliveries(hook.id)]
    assert sorted(sent) == sorted([(CONSENT_GRANTED, t) for t in (contoso, fabrikam, tailspin)]
                                  + [(CONSENT_REVOKED, t) for t in (contoso, fabrikam)])
    assert not s.outbox.pending(contoso) and not s.outbox.pending(fabrikam)
    # A second removal finds nothing left of tenantsync's (and no tenant to remove).
    assert s.consent_removal.consented_in(side.partner.id, contoso).empty


@pytest.mark.slow
def test_a_failed_removal_keeps_the_tenant_names_the_fix_and_a_repeat_finishes(
        harness: Harness, world: World, receiver: Receiver) -> None:
    side, contoso = _connected(harness, world, receiver)
    s = harness.services
    assert harness.sim is not None
    # The principal's removal fails; the assignments before it went.
    harness.sim.set_faults([{"match": {"method": "DELETE", "path_contains":
                                       "/servicePrincipals/", "tenant": contoso},
                             "kind": "status", "status": 403, "code": "Authorization_RequestDenied",
                             "after": 3, "times": 1}])
    with pytest.raises(TenantError) as caught:
        _remove(harness, contoso, revoke=True)
    assert caught.value.code == "consent_removal_failed"
    assert "was not removed" in caught.value.message
    assert "--revoke-consent" in caught.value.message
    assert s.tenants.find(contoso) is not None  # nothing half-removed silently
    middle = _customer_side(harness, side, contoso)
    assert (middle["principal"], middle["roles"]) == (True, [])
    [partial, _] = s.partner_consent.audit.list(side.partner.id, contoso)
    assert (partial.action, partial.principal_created, len(partial.permissions)) == (
        "revoked", False, 3)
    harness.sim.clear_faults()
    _remove(harness, contoso, revoke=True)
    assert s.tenants.find(contoso) is None
    assert _customer_side(harness, side, contoso) == {
        "principal": False, "roles": [], "pending": [], "delegated": False}
    last = s.partner_consent.audit.list(side.partner.id, contoso)[0]
    assert (last.action, last.principal_created, last.permissions) == ("revoked", True, [])


@pytest.mark.slow
def test_a_consent_event_left_by_a_crash_is_published_by_the_sweep(
        harness: Harness, world: World, receiver: Receiver) -> None:
    side = PartnerSide(world)
    contoso = side.customer("Contoso")
    _started(harness, side, receiver)
    s = harness.services

    class Killed(BaseException):
        """The process ends here: after the audit row, before the event is published."""

    def crash(tenant: str, written: object, record: object) -> None:
        raise Killed(tenant)

    s.partner_consent.publish = crash
    with pytest.raises(Killed):
        s.partner_consent.run(side.partner.id)
    [pending] = s.outbox.pending(contoso)
    assert pending.topic == CONSENT
    assert not [e for e in s.feed.page(contoso, None, 100).entries
                if e.change.entity == "consent"]
    # An event whose audit row was never written (the writer died before it) is dropped.
    s.outbox.add(contoso, CONSENT, "0000000000000-never", {"partnerTenantId": side.partner.id,
                                                           "action": "granted"})
    assert s.relay.sweep() == 0  # both are young: their writers may still finish
    harness.clock.advance(600)
    s.relay.sweep()
    assert not s.outbox.pending(contoso)
    feed = [e.change for e in s.feed.page(contoso, None, 100).entries]
    assert [(c.entity, c.entity_id, c.change) for c in feed if c.entity == "consent"] == [
        ("consent", side.partner.id, "granted")]
    s.relay.sweep()  # again: nothing twice
    assert len([e for e in s.feed.page(contoso, None, 100).entries
                if e.change.entity == "consent"]) == 1


@pytest.mark.slow
def test_a_removal_without_the_role_that_may_do_it_is_refused_and_nothing_changes(
        harness: Harness, world: World, receiver: Receiver) -> None:
    side, contoso = _connected(harness, world, receiver)
    s = harness.services
    before = _customer_side(harness, side, contoso)
    assert harness.sim is not None
    state = harness.sim.state
    with state.lock:  # the relationship no longer assigns Privileged Role Administrator
        held = state.partner_access.partners[side.partner.id].assignments
        for relationship, groups in held.items():
            held[relationship] = [(g, roles - {PRIVILEGED_ROLE_ADMIN}) for g, roles in groups]
    with pytest.raises(TenantError) as caught:
        _remove(harness, contoso, revoke=True)
    assert caught.value.code == "consent_removal_failed"
    assert "403" in caught.value.message and "roles" in caught.value.message
    assert s.tenants.find(contoso) is not None
    assert _customer_side(harness, side, contoso) == before
    assert [r.action for r in s.partner_consent.audit.list(side.partner.id, contoso)] == [
        "granted"]
