"""The Functions host's managed identity endpoint, through azure-identity unchanged, and Key
Vault reached with that identity (a certificate kept as a PEM secret)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msal
import pytest
import requests
from azure.identity import CredentialUnavailableError, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from simulator import Simulator
from simulator.tokens import b64url_decode

from .conftest import http
from .onboarding import (
    EXCHANGE,
    GOOD,
    HOME,
    IDENTITY,
    OTHER_IDENTITY,
    OTHER_PRINCIPAL,
    PRINCIPAL,
    ROLES,
    SYNC,
    issuer,
)

PEM_TYPE = "application/x-pem-file"


def claims_of(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def raw_get(sim: Simulator, header: str | None, **params: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    headers = {"X-IDENTITY-HEADER": header} if header is not None else {}
    query = {"api-version": "2019-08-01", "resource": EXCHANGE, **params}
    return session.get(sim.identity_endpoint, params=query, headers=headers, timeout=10)


def test_endpoint_is_plain_http_on_loopback(onboarding_sim: Simulator) -> None:
    assert onboarding_sim.identity_endpoint.startswith("http://127.0.0.1:")
    assert onboarding_sim.identity_endpoint.endswith("/msi/token")


def test_exchange_token_is_what_a_federated_credential_names(host_identity: Simulator) -> None:
    credential = ManagedIdentityCredential(client_id=IDENTITY)
    token = credential.get_token(f"{EXCHANGE}/.default")
    claims = claims_of(token.token)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (issuer(HOME), PRINCIPAL, EXCHANGE)
    assert claims["tid"] == HOME
    assert token.expires_on > datetime.now(UTC).timestamp() + 3000


def test_principal_id_selects_the_identity_too(host_identity: Simulator) -> None:
    # azure-identity sends identity_config={"object_id": ...} as object_id, an alias of
    # principal_id in the App Service protocol.
    credential = ManagedIdentityCredential(identity_config={"object_id": OTHER_PRINCIPAL})
    claims = claims_of(credential.get_token(f"{EXCHANGE}/.default").token)
    assert claims["sub"] == OTHER_PRINCIPAL
    response = raw_get(host_identity, host_identity.identity_header, principal_id=OTHER_PRINCIPAL)
    assert response.json()["client_id"] == OTHER_IDENTITY


def test_answer_has_the_documented_fields(onboarding_sim: Simulator) -> None:
    response = raw_get(onboarding_sim, onboarding_sim.identity_header, client_id=IDENTITY)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "expires_on",
        "not_before",
        "resource",
        "token_type",
        "client_id",
    }
    assert body["resource"] == EXCHANGE
    assert body["client_id"] == IDENTITY
    assert int(body["expires_on"]) == claims_of(body["access_token"])["exp"]


@pytest.mark.parametrize(
    ("header", "params", "status", "text"),
    [
        (None, {"client_id": IDENTITY}, 401, "X-IDENTITY-HEADER"),
        ("wrong", {"client_id": IDENTITY}, 401, "X-IDENTITY-HEADER"),
        ("ok", {"client_id": "99999999-9999-4999-8999-999999999999"}, 400, "No User Assigned"),
        ("ok", {}, 400, "system-assigned"),
        ("ok", {"client_id": IDENTITY, "principal_id": PRINCIPAL}, 400, "not client_id"),
        ("ok", {"client_id": IDENTITY, "api-version": "2017-09-01"}, 400, "api-version"),
        ("ok", {"client_id": IDENTITY, "api-version": "latest"}, 400, "api-version"),
        ("ok", {"client_id": IDENTITY, "resource": "https://storage.azure.com"}, 400, "500011"),
    ],
    ids=[
        "no-header",
        "wrong-header",
        "unknown-identity",
        "no-selector",
        "two-selectors",
        "old-api",
        "bad-api",
        "resource",
    ],
)
def test_errors_have_the_token_service_shape(
    onboarding_sim: Simulator, header: str | None, params: dict[str, str], status: int, text: str
) -> None:
    sent = onboarding_sim.identity_header if header == "ok" else header
    response = raw_get(onboarding_sim, sent, **params)
    assert response.status_code == status
    body = response.json()
    assert body["statusCode"] == status
    assert text in body["message"]
    assert "access_token" not in body


def test_unknown_identity_fails_the_credential(host_identity: Simulator) -> None:
    # Every error of the App Service endpoint surfaces as CredentialUnavailableError with the
    # endpoint's message (after MSAL's "(invalid_scope) <status>, ").
    credential = ManagedIdentityCredential(client_id="99999999-9999-4999-8999-999999999999")
    with pytest.raises(CredentialUnavailableError) as raised:
        credential.get_token(f"{EXCHANGE}/.default")
    assert "No User Assigned" in str(raised.value)


def test_wrong_header_fails_the_credential(
    host_identity: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    credential = ManagedIdentityCredential(client_id=IDENTITY)
    with pytest.raises(CredentialUnavailableError):
        credential.get_token(f"{EXCHANGE}/.default")


def test_vault_needs_the_identity_to_be_a_vault_principal(host_identity: Simulator) -> None:
    credential = ManagedIdentityCredential(client_id=OTHER_IDENTITY)
    with pytest.raises(CredentialUnavailableError) as raised:
        credential.get_token("https://vault.azure.net/.default")
    assert "500011" in str(raised.value)


def test_certificate_as_a_pem_secret_through_the_managed_identity(host_identity: Simulator) -> None:
    credential = ManagedIdentityCredential(client_id=IDENTITY)
    vault = SecretClient(
        host_identity.vault_url,
        credential,
        verify_challenge_resource=False,
        connection_verify=host_identity.ca_path,
    )
    expires = datetime(2027, 6, 1, tzinfo=UTC)
    pem = GOOD.with_key_pem()
    vault.set_secret("sync-certificate", pem, content_type=PEM_TYPE, expires_on=expires)
    stored = vault.get_secret("sync-certificate")
    assert stored.value == pem
    assert stored.properties.content_type == PEM_TYPE
    assert stored.properties.expires_on == expires
    listed = {p.name: p for p in vault.list_properties_of_secrets()}
    assert listed["sync-certificate"].content_type == PEM_TYPE
    assert listed["sync-certificate"].expires_on == expires
    vault.close()
    credential.close()
    # The combined PEM goes into MSAL as it is: key and certificate in one string.
    app = msal.ConfidentialClientApplication(
        SYNC,
        client_credential={"private_key": stored.value, "public_certificate": stored.value},
        authority=f"{host_identity.base_url}/{HOME}",
        instance_discovery=False,
        http_client=http(host_identity),
    )
    token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert claims_of(token["access_token"])["roles"] == ROLES
