"""The partner app's federated credential when the partner tenant is not the deployment's:
the deployment's multitenant apps, registered in its own tenant and trusting its managed
identity, get tokens at the partner's authority (once consented there) with the identity's
assertion; a partner's own app registered in the partner's tenant cannot use it, and adding
the partner says so with the fix."""

from __future__ import annotations

import pytest

from functions.core.errors import AuthenticationError
from functions.core.model import CredentialType, Health
from functions.onboarding import CredentialInput
from functions.partners.consent import ConsentOutcome
from tests.api.conftest import run_queued_jobs
from tests.conftest import Harness
from tests.partner_side import PUBLIC_URL, SIGN_IN_CALLBACK, PartnerSide, sign_in
from tests.world import PARTNER_ROLES, Deployment, World, new_id

FEDERATED = CredentialInput.of("federated")


def _deployment_apps_for(world: World, side: PartnerSide) -> Deployment:
    """The deployment's partner and inventory apps, multitenant, consented in the partner's
    tenant (which is not the deployment's)."""
    d = Deployment(world, PUBLIC_URL)
    apps = world.fixture["applications"]
    apps[d.partner_app].update(multitenant=True, redirect_uris=[
        f"{PUBLIC_URL}/api/consent/callback", SIGN_IN_CALLBACK])
    d.consented(side.partner.id, d.partner_app)
    d.consented(side.partner.id, d.inventory_app)
    apps[d.partner_app]["required_roles"] = list(PARTNER_ROLES)
    return d


@pytest.mark.slow
def test_the_deployments_federated_apps_consent_from_a_partner_tenant_that_is_not_its_own(
        harness: Harness, world: World) -> None:
    side = PartnerSide(world)
    assert side.partner.id != world.home
    contoso = side.customer("Contoso")
    d = _deployment_apps_for(world, side)
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    s = harness.services
    partner = s.partners.add(side.partner.id, d.partner_app, FEDERATED, d.inventory_app,
                             FEDERATED, source="gdap")
    assert (partner.partner_credential_type, partner.inventory_credential_type) == (
        CredentialType.FEDERATED, CredentialType.FEDERATED)
    assert s.partners.discover(side.partner.id).new == [contoso]
    s.runner.run_one("devices", contoso, "cli")
    assert s.tenants.get(contoso).device_state.health == Health.CONSENT_MISSING
    # The admin agent signs in to the deployment's partner app at the partner's authority.
    s.partner_signin.complete(sign_in(harness, side.partner.id))
    [answer] = s.partner_consent.run(side.partner.id)
    assert answer.outcome == ConsentOutcome.CONNECTED, answer.message
    assert run_queued_jobs(harness, "devices") == 1
    assert s.tenants.get(contoso).device_state.health == Health.HEALTHY
    assert harness.sim is not None
    assert harness.sim.state.vault.live.keys() == {
        f"partner-{side.partner.id}-refresh-token"}  # no app secret anywhere


def test_a_partners_own_app_with_a_federated_credential_is_refused_with_the_fix(
        harness: Harness, world: World) -> None:
    side = PartnerSide(world)
    side.customer("Contoso")
    d = Deployment(world, PUBLIC_URL)
    # The partner registered its own app in its own tenant and trusted our identity.
    own_app = new_id()
    world.fixture["applications"][own_app] = {
        "home_tenant": side.partner.id, "display_name": "MSP partner app",
        "multitenant": False, "federated_credentials": [dict(d.federated)],
        "required_roles": list(PARTNER_ROLES)}
    world.fixture["tenants"][side.partner.id]["service_principals"][own_app] = {
        "roles": list(PARTNER_ROLES)}
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    with pytest.raises(AuthenticationError) as caught:
        harness.services.partners.add(side.partner.id, own_app, FEDERATED,
                                      side.partner.inventory_app, FEDERATED, source="gdap")
    message = caught.value.message
    assert caught.value.code == "federation_wrong_tenant"
    assert "partner app" in message and own_app in message
    assert "certificate" in message and "--partner-certificate-file" in message
    assert "the deployment's partner app: multitenant" in message
    assert harness.services.partner_table.find(side.partner.id) is None
