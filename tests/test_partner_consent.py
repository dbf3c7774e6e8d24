"""Consent from the partner's side, end to end: the admin agent signs in once, tenantsync
consents the inventory app into each GDAP customer that lacks it, with no step in the
customer's tenant, and every customer gets a named answer."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from functions.core.errors import AuthenticationError
from functions.core.model import Health
from functions.partners.consent import ConsentOutcome
from functions.partners.signin import refresh_token_name
from functions.storage.partner_access import SignInHealth
from tests.api.conftest import run_queued_jobs
from tests.conftest import Harness
from tests.partner_side import HELPDESK_ADMIN, PUBLIC_URL, PartnerSide, sign_in
from tests.world import World


def started(harness: Harness, side: PartnerSide) -> Harness:
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    side.connect(harness)
    for tid in side.partner.customers:  # the first syncs find no consent
        harness.services.runner.run_one("devices", tid, "cli")
    return harness


def signed_in(harness: Harness, world: World) -> tuple[PartnerSide, str]:
    """A started partner side with one unconsented customer (Contoso), its agent signed in."""
    side = PartnerSide(world)
    contoso = side.customer("Contoso")
    started(harness, side)
    harness.services.partner_signin.complete(sign_in(harness, side.partner.id))
    return side, contoso


@pytest.mark.slow
def test_unconsented_customers_are_connected_from_the_partners_side(
        harness: Harness, world: World) -> None:
    side = PartnerSide(world)
    contoso = side.customer("Contoso")
    fabrikam = side.customer("Fabrikam", roles=[HELPDESK_ADMIN])
    tailspin = side.customer("Tailspin", consented=True)
    started(harness, side)
    s = harness.services
    assert s.tenants.get(contoso).device_state.health == Health.CONSENT_MISSING
    allowed = {a.tenant_id: a for a in s.partner_consent.access(side.partner.id)}
    assert allowed[contoso].may_consent and not allowed[fabrikam].may_consent
    assert "Privileged Role Administrator" in allowed[fabrikam].missing
    assert allowed[contoso].roles == ["Application Administrator",
                                      "Privileged Role Administrator"]
    access = s.partner_signin.complete(sign_in(harness, side.partner.id))
    assert (access.health, access.user_id) == (SignInHealth.SIGNED_IN, side.agent)
    answers = {a.tenant_id: a for a in s.partner_consent.run(side.partner.id)}
    assert set(answers) == {contoso, fabrikam}  # Tailspin was consented: not asked
    assert answers[contoso].outcome == ConsentOutcome.CONNECTED, answers[contoso].message
    assert answers[contoso].writes == 1 + 1 + 3  # Partner Center, the principal, 3 roles
    assert answers[fabrikam].outcome == ConsentOutcome.NO_CONSENT_ROLE
    assert "Privileged Role Administrator" in answers[fabrikam].message
    assert "consent link" in answers[fabrikam].message
    assert run_queued_jobs(harness, "devices") == 1
    assert s.tenants.get(contoso).device_state.health == Health.HEALTHY
    assert s.tenants.get(tailspin).device_state.health == Health.HEALTHY
    audit = s.partner_consent.audit.list(side.partner.id)
    assert {(r.tenant_id, r.outcome, r.user_id) for r in audit} == {
        (contoso, "connected", side.agent), (fabrikam, "no_consent_role", side.agent)}
    feed = [e.change for e in s.feed.page(contoso, None, 100).entries]
    assert [(c.entity, c.entity_id, c.change) for c in feed if c.entity == "consent"] == [
        ("consent", side.partner.id, "granted")]
    # A second run writes nothing: Contoso is done, Fabrikam gets the same answer.
    second = s.partner_consent.run(side.partner.id)
    assert [(a.tenant_id, a.outcome, a.writes) for a in second] == [
        (fabrikam, ConsentOutcome.NO_CONSENT_ROLE, 0)]
    again = s.partner_consent.run(side.partner.id, contoso)
    assert [(a.outcome, a.writes) for a in again] == [(ConsentOutcome.ALREADY_CONSENTED, 0)]


def test_a_revoked_sign_in_is_the_partners_health_and_names_the_fix(
        harness: Harness, world: World) -> None:
    side, contoso = signed_in(harness, world)
    s = harness.services
    assert harness.sim is not None
    with harness.sim.state.lock:
        for grant in harness.sim.state.partner_access.refresh_tokens.values():
            grant.state = "revoked"
    answers = s.partner_consent.run(side.partner.id)
    assert [a.outcome for a in answers] == [ConsentOutcome.SIGN_IN_REQUIRED]
    assert "sign in again" in answers[0].message
    status = s.partner_signin.status(side.partner.id)
    assert status.health == SignInHealth.SIGN_IN_REQUIRED
    assert status.last_error_code == "partner_sign_in_expired"
    assert s.tenants.get(contoso).device_state.health == Health.CONSENT_MISSING


@pytest.mark.slow
def test_consent_waits_for_propagation_then_the_retry_connects(
        harness: Harness, world: World) -> None:
    side = PartnerSide(world, propagation_seconds=1.5)
    contoso = side.customer("Contoso")
    started(harness, side)
    s = harness.services
    s.partner_signin.complete(sign_in(harness, side.partner.id))
    [answer] = s.partner_consent.run(side.partner.id)
    assert answer.outcome == ConsentOutcome.PROPAGATION_PENDING
    tenant = s.tenants.get(contoso)
    assert tenant.device_state.health == Health.AWAITING_CONSENT
    assert tenant.device_state.health_since is not None
    time.sleep(1.6)
    due = tenant.device_state.health_since + timedelta(seconds=31)
    assert s.consent_retry.sweep(due) == {f"{contoso}/devices": "connected"}
    assert run_queued_jobs(harness, "devices") == 1
    assert s.tenants.get(contoso).device_state.health == Health.HEALTHY


def test_the_refresh_token_is_kept_in_key_vault_only(harness: Harness, world: World) -> None:
    side, _ = signed_in(harness, world)
    s = harness.services
    token = s.secrets.get(refresh_token_name(side.partner.id), fresh=True).value.reveal()
    assert token.startswith("0.AR")
    s.partner_consent.run(side.partner.id)
    renewed = s.secrets.get(refresh_token_name(side.partner.id), fresh=True).value.reveal()
    assert renewed != token  # refreshed on use
    rows = [str(e) for name in ("partneraccess", "consentaudit", "partners", "tenants")
            for e in s.tables.table(name).list_entities()]
    assert rows and not any(t in row for row in rows for t in (token, renewed))


def test_no_sign_in_means_no_consent_and_a_named_fix(harness: Harness, world: World) -> None:
    side = PartnerSide(world)
    side.customer("Contoso")
    started(harness, side)
    with pytest.raises(AuthenticationError) as caught:
        harness.services.partner_signin.token(side.partner.id, side.partner.id,
                                              "https://graph.microsoft.com/.default")
    assert caught.value.code == "partner_not_signed_in"
    assert "tenantsync partner sign-in" in caught.value.message


def test_consent_follows_each_discovery_only_where_the_partner_opted_in(
        harness: Harness, world: World) -> None:
    side, contoso = signed_in(harness, world)
    s = harness.services
    s.partners.discover(side.partner.id)  # off by default: nothing is written
    assert s.tenants.get(contoso).device_state.health == Health.CONSENT_MISSING
    assert s.partner_consent.audit.list(side.partner.id) == []
    record = s.partner_signin.status(side.partner.id)
    record.auto_consent = True
    s.partner_signin.access.save(record)
    s.partners.discover(side.partner.id)
    [audited] = s.partner_consent.audit.list(side.partner.id)
    assert (audited.tenant_id, audited.outcome) == (contoso, "connected")


def test_a_sign_in_without_mfa_or_outside_admin_agents_gets_partner_centers_named_refusal(
        harness: Harness, world: World) -> None:
    side = PartnerSide(world)
    contoso = side.customer("Contoso")
    side.users[side.agent]["mfa"] = False
    started(harness, side)
    s = harness.services
    signed = s.partner_signin.complete(sign_in(harness, side.partner.id))
    assert "no MFA claim" in signed.last_error
    [answer] = s.partner_consent.run(side.partner.id)
    assert answer.outcome == ConsentOutcome.PARTNER_CENTER_REFUSED
    assert "multi-factor" in answer.message and answer.writes == 0
    assert harness.sim is not None
    with harness.sim.state.lock:
        user = harness.sim.state.partner_access.partners[side.partner.id].users[side.agent]
        user.mfa, user.admin_agent = True, False
    s.partner_signin.complete(sign_in(harness, side.partner.id))
    [answer] = s.partner_consent.run(side.partner.id)
    assert answer.outcome == ConsentOutcome.NOT_ADMIN_AGENT and "AdminAgents" in answer.message
    assert s.tenants.get(contoso).device_state.health == Health.CONSENT_MISSING


def test_partner_center_throttling_and_outages_are_retried_within_one_budget(
        harness: Harness, world: World) -> None:
    side, contoso = signed_in(harness, world)
    s = harness.services
    assert harness.sim is not None
    harness.sim.set_faults([
        {"match": {"path_contains": "/applicationconsents"}, "kind": "throttle",
         "retry_after": 0.05, "times": 2},
        {"match": {"path_contains": "/applicationconsents"}, "kind": "status", "status": 503,
         "retry_after": 0.05, "times": 1}])
    [answer] = s.partner_consent.run(side.partner.id)
    assert (answer.tenant_id, answer.outcome) == (contoso, ConsentOutcome.CONNECTED)
    assert answer.writes == 1 + 1 + 3
    assert [f["applied"] for f in harness.sim.stats()["faults"]] == [2, 1]


def test_partner_center_still_throttling_when_the_budget_is_spent_is_named(
        harness: Harness, world: World) -> None:
    side, contoso = signed_in(harness, world)
    s = harness.services
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": "/applicationconsents"},
                             "kind": "throttle", "retry_after": 0}])
    [answer] = s.partner_consent.run(side.partner.id)
    assert answer.outcome == ConsentOutcome.PARTNER_CENTER_REFUSED
    assert "throttling" in answer.message and answer.writes == 0
    [fault] = harness.sim.stats()["faults"]
    assert fault["applied"] == 16  # the first try and the budget's 15 throttled retries
    assert s.tenants.get(contoso).device_state.health == Health.CONSENT_MISSING
