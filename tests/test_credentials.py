"""Each credential type end to end (secret, certificate, federated managed identity), for a
directory sync and a device sync; each misconfiguration named with its fix in one line."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.core.errors import TenantSyncError
from functions.core.model import CredentialType, Health, RunStatus, SyncKind
from functions.core.sensitive import SecretValue
from functions.onboarding import CredentialInput
from tests.conftest import Harness
from tests.simulator.onboarding import GeneratedCert, make_cert
from tests.world import Deployment, Partner, World, new_id, seed_example

CERT = make_cert("tenantsync test")
OTHER = make_cert("tenantsync other")


def register(world: World, app_id: str, cert: GeneratedCert, expires: str | None = None) -> None:
    entry: dict[str, Any] = {"id": new_id(), "pem": cert.cert_pem}
    if expires is not None:
        entry["expires"] = expires
    world.fixture["applications"][app_id].setdefault("certificates", []).append(entry)


def certificate(cert: GeneratedCert = CERT, pem: str | None = None) -> CredentialInput:
    return CredentialInput.of("certificate", SecretValue(pem or cert.with_key_pem()))


FEDERATED = CredentialInput.of("federated")


def _error(call: Any) -> TenantSyncError:
    with pytest.raises(TenantSyncError) as caught:
        call()
    assert "\n" not in caught.value.message  # one line
    return caught.value


# --- end to end -----------------------------------------------------------------------------


def test_directory_sync_with_a_certificate_kept_in_key_vault(
    harness: Harness, world: World
) -> None:
    t, _ = seed_example(world)
    register(world, t.app_id, CERT)
    harness.start()
    tenant = harness.services.onboarding.add_directory_tenant(t.id, t.app_id, certificate(),
                                                              t.level0)
    assert tenant.directory is not None
    assert tenant.directory.credential_type == CredentialType.CERTIFICATE
    stored = harness.services.secrets.get(tenant.directory.secret_name, fresh=True)
    assert stored.content_type == "application/x-pem-file"
    assert "PRIVATE KEY" in stored.value.reveal()  # the key lives in Key Vault only
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    assert run.users.created == 5
    kept = harness.services.tenants.get(t.id)
    assert kept.secret_expires_on is not None
    assert abs(kept.secret_expires_on - (datetime.now(UTC) + timedelta(days=365))) < \
        timedelta(days=2)  # the certificate's own expiry


def test_directory_sync_with_the_managed_identity_and_no_secret(
    harness: Harness, world: World
) -> None:
    d = Deployment(world)
    t, _ = seed_example(world)
    d.consented(t.id, d.directory_app)
    harness.start()
    harness.services.onboarding.add_directory_tenant(t.id, d.directory_app, FEDERATED,
                                                     t.level0)
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    tenant = harness.services.tenants.get(t.id)
    assert tenant.secret_expires_on is None
    assert tenant.health == Health.HEALTHY
    assert harness.sim is not None
    with harness.sim.state.lock:
        assert harness.sim.state.vault.live == {}  # nothing at all was saved in Key Vault


def test_device_sync_with_federated_partner_and_inventory_apps(
    harness: Harness, world: World
) -> None:
    d = Deployment(world)
    customer = Partner(world, "Reseller").customer("Contoso", consented=False)
    d.consented(customer, d.inventory_app)
    harness.start()
    partner = harness.services.partners.add(
        world.home, d.partner_app, FEDERATED, d.inventory_app, FEDERATED, source="list",
        customers=[customer])
    assert (partner.partner_credential_type, partner.inventory_credential_type) == (
        CredentialType.FEDERATED, CredentialType.FEDERATED)
    assert harness.services.partners.discover(world.home).new == [customer]
    run = harness.services.runner.run_one(SyncKind.DEVICES, customer, "cli")
    assert run.status == RunStatus.SUCCEEDED
    assert run.devices.created == 3
    device_state = harness.services.tenants.get(customer).device_state
    assert (device_state.health, device_state.secret_expires_on) == (Health.HEALTHY, None)


@pytest.mark.slow
def test_device_sync_with_certificates_and_the_inventory_certificate_near_expiry(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    customer = partner.customer("Contoso")
    soon = make_cert("tenantsync soon", days=10)
    register(world, partner.partner_app, CERT)
    register(world, partner.inventory_app, soon)
    harness.start()
    harness.services.partners.add(partner.id, partner.partner_app, certificate(CERT),
                                  partner.inventory_app, certificate(soon), source="list",
                                  customers=[customer])
    harness.services.partners.discover(partner.id)
    run = harness.services.runner.run_one(SyncKind.DEVICES, customer, "cli")
    assert run.status == RunStatus.SUCCEEDED
    state = harness.services.tenants.get(customer).device_state
    assert state.health == Health.SECRET_EXPIRING  # exactly as a secret's expiry would
    assert state.secret_expires_on is not None
    assert state.secret_expires_on - datetime.now(UTC) < timedelta(days=11)


def test_a_directory_certificate_near_expiry_turns_the_health_to_expiring(
    harness: Harness, world: World
) -> None:
    t, _ = seed_example(world)
    soon = make_cert("tenantsync soon", days=5)
    register(world, t.app_id, soon)
    harness.start()
    harness.services.onboarding.add_directory_tenant(t.id, t.app_id, certificate(soon),
                                                     t.level0)
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.services.tenants.get(t.id).health == Health.SECRET_EXPIRING


@pytest.mark.slow
def test_a_new_certificate_takes_effect_at_the_next_token_request(
    harness: Harness, world: World
) -> None:
    t, _ = seed_example(world)
    register(world, t.app_id, CERT)
    harness.start()
    harness.services.onboarding.add_directory_tenant(t.id, t.app_id, certificate(), t.level0)
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    # The admin uploads a new certificate and removes the old one, then saves the new one.
    harness.sim.set_app_certificates(t.app_id, [{"id": new_id(), "pem": OTHER.cert_pem}])
    harness.services.onboarding.update_directory_tenant(t.id, credential=certificate(OTHER))
    harness.services.tokens.forget()
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert len(harness.services.secrets.versions(f"tenant-{t.id}-directory-certificate")) == 2


def test_the_secret_path_still_works_beside_the_others(harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    tenant = harness.services.tenants.get(t.id)
    assert tenant.directory is not None
    assert tenant.directory.credential_type == CredentialType.SECRET
    assert harness.sync(t).status == RunStatus.SUCCEEDED


# --- misconfigurations: one line each, naming the fix, nothing stored ------------------------


def test_a_certificate_not_registered_on_the_app_names_its_thumbprint(
    harness: Harness, world: World
) -> None:
    t, _ = seed_example(world)
    harness.start()
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, t.app_id, certificate(), t.level0))
    assert err.code == "certificate_not_registered"
    assert "Certificates & secrets" in err.message
    assert CERT.sha256.hex().upper() in err.message
    assert harness.services.tenants.find(t.id) is None


def test_an_expired_certificate_says_to_make_a_new_one(harness: Harness, world: World) -> None:
    t, _ = seed_example(world)
    register(world, t.app_id, CERT, expires="2020-01-01T00:00:00Z")
    harness.start()
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, t.app_id, certificate(), t.level0))
    assert err.code == "certificate_expired"
    assert "make a new one" in err.message


@pytest.mark.parametrize(("pem", "code"), [
    ("hello, I am not a certificate", "invalid_certificate"),
    (CERT.key_pem, "certificate_required"),  # a private key without its certificate
    (CERT.cert_pem, "private_key_required"),
    (OTHER.key_pem + CERT.cert_pem, "certificate_key_mismatch"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + CERT.cert_pem,
     "invalid_certificate"),
])
def test_bad_certificates_are_refused_before_anything_is_stored(
    harness: Harness, world: World, pem: str, code: str
) -> None:
    t, _ = seed_example(world)
    harness.start()
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, t.app_id, certificate(pem=pem), t.level0))
    assert err.code == code
    assert "BEGIN" not in err.message.replace("-----BEGIN PRIVATE KEY-----", "").replace(
        "-----BEGIN CERTIFICATE-----", "")  # names the blocks, never quotes the PEM
    assert "AAAA" not in err.message
    assert harness.services.tenants.find(t.id) is None
    assert harness.sim is not None
    assert harness.sim.stats()["by_path_kind"].get("POST token", 0) == 0  # refused first


def test_an_unknown_credential_type_is_refused(harness: Harness, world: World) -> None:
    t, _ = seed_example(world)
    harness.start()
    err = _error(lambda: CredentialInput.of("password", SecretValue("x")))
    assert err.code == "invalid_credential_type"
    assert "secret, certificate, federated" in err.message
    assert _error(lambda: CredentialInput.of("federated", SecretValue("x"))).code == \
        "invalid_request"
    assert _error(lambda: CredentialInput.of("certificate")).code == "certificate_required"
    assert harness.services.tenants.find(t.id) is None


def _federated_world(world: World, **change: Any) -> tuple[Deployment, Any]:
    d = Deployment(world)
    t, _ = seed_example(world)
    d.consented(t.id, d.directory_app)
    fic = world.fixture["applications"][d.directory_app]["federated_credentials"]
    if change.pop("none", False):
        fic.clear()
    else:
        fic[0].update(change)
    return d, t


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"none": True}, "federation_mismatch", "issuer"),
    ({"subject": "00000000-0000-4000-8000-00000000abcd"}, "federation_mismatch", "subject"),
    ({"audiences": ["api://SomethingElse"]}, "federation_mismatch", "audience"),
])
def test_each_federated_credential_mistake_names_the_credential_to_add(
    harness: Harness, world: World, change: dict[str, Any], code: str, words: str
) -> None:
    d, t = _federated_world(world, **change)
    harness.start()
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, d.directory_app, FEDERATED, t.level0))
    assert err.code == code
    assert words in err.message
    # The fix names the exact issuer and subject (the identity's principal) to enter.
    assert f"https://login.microsoftonline.com/{world.home}/v2.0" in err.message
    assert d.principal in err.message
    assert "api://AzureADTokenExchange" in err.message
    assert harness.services.tenants.find(t.id) is None


def test_a_federated_credential_on_an_app_of_the_customer_tenant_says_why_it_cannot_work(
    harness: Harness, world: World
) -> None:
    d = Deployment(world)
    t, _ = seed_example(world)
    world.fixture["applications"][t.app_id]["federated_credentials"] = [dict(d.federated)]
    harness.start()
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, t.app_id, FEDERATED, t.level0))
    assert err.code == "federation_wrong_tenant"
    assert "consent link" in err.message


@pytest.mark.slow
def test_a_federated_credential_still_propagating_works_once_it_has(
    harness: Harness, world: World
) -> None:
    d, t = _federated_world(world, none=True)
    harness.start()
    assert harness.sim is not None
    harness.sim.set_federation_delay(1.5)
    harness.sim.set_federated_credentials(d.directory_app, [dict(d.federated)])
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, d.directory_app, FEDERATED, t.level0))
    assert err.code == "federation_pending"
    assert "try again shortly" in err.message
    time.sleep(1.6)
    # A new attempt reaches Entra (MSAL would answer the same refused request from its cache).
    harness.services.onboarding.add_directory_tenant(t.id, d.directory_app, FEDERATED,
                                                     t.level0)
    assert harness.sync(t).status == RunStatus.SUCCEEDED


@pytest.mark.parametrize("identity", ["", "e9999999-0000-4000-8000-000000000009"])
def test_a_missing_or_wrong_managed_identity_names_the_setting(
    harness: Harness, world: World, identity: str
) -> None:
    d, t = _federated_world(world)
    harness.start(TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID=identity)
    err = _error(lambda: harness.services.onboarding.add_directory_tenant(
        t.id, d.directory_app, FEDERATED, t.level0))
    assert err.code == "managed_identity_unavailable"
    assert "TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID" in err.message
    assert harness.services.tenants.find(t.id) is None


@pytest.mark.slow
def test_the_deployment_app_signs_in_with_a_key_vault_certificate_in_pkcs12(
    harness: Harness, world: World
) -> None:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from tests.api.conftest import run_queued_jobs
    from tests.consent_helpers import redirect_of

    d = Deployment(world)
    t, _ = seed_example(world)
    register(world, d.directory_app, CERT)
    world.fixture["applications"][d.directory_app]["federated_credentials"] = []
    pfx = pkcs12.serialize_key_and_certificates(
        b"tenantsync", CERT.key, x509.load_pem_x509_certificate(CERT.cert_pem.encode()), None,
        serialization.NoEncryption())
    # As Key Vault keeps a certificate made by its certificate API (content type PKCS#12).
    world.fixture["key_vault"]["secrets"]["directory-app"] = {
        "value": base64.b64encode(pfx).decode(), "contentType": "application/x-pkcs12"}
    harness.start(TENANTSYNC_DIRECTORY_APP_ID=d.directory_app,
                  TENANTSYNC_DIRECTORY_APP_CREDENTIAL="certificate",
                  TENANTSYNC_DIRECTORY_APP_KEY_VAULT_NAME="directory-app", **d.env())
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    result = harness.services.consent.complete(redirect_of(harness, link.url))
    assert run_queued_jobs(harness, "directory") == 1  # the first sync the callback queued
    assert harness.services.runs.get(t.id, result.run_id).status == RunStatus.SUCCEEDED
    tenant = harness.services.tenants.get(t.id)
    assert tenant.directory is not None
    assert (tenant.directory.credential_type, tenant.directory.secret_name) == (
        CredentialType.CERTIFICATE, "directory-app")  # the deployment's, shared
    assert tenant.secret_expires_on is not None  # the certificate's expiry, warned about
    harness.services.onboarding.remove_tenant(t.id)
    assert harness.services.secrets.get("directory-app", fresh=True)  # shared: it stays
