"""Secrets never reach the simulator's log lines or its error answers."""

from __future__ import annotations

import logging

import msal
import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from simulator import Simulator

from .conftest import (
    EXPIRED_SECRET,
    GRAPH_SCOPE,
    OPERATOR,
    OPERATOR_SECRET,
    SECRET,
    TENANT,
    http,
    msal_app,
    vault_client,
)
from .onboarding import (
    EXCHANGE,
    GOOD,
    HOME,
    IDENTITY,
    JWT_BEARER,
    SYNC,
    SYNC_SECRET,
    UNREGISTERED,
    assertion_claims,
    signed_assertion,
)

VAULT_VALUE = "Stored~In.Vault-5"


def test_no_secret_in_logs_or_error_bodies(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert "access_token" in msal_app(sim).acquire_token_for_client(GRAPH_SCOPE)
    msal_app(sim, secret=EXPIRED_SECRET).acquire_token_for_client(GRAPH_SCOPE)
    wrong = http(sim).post(
        f"{sim.base_url}/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": OPERATOR,
            "client_secret": SECRET,
            "scope": GRAPH_SCOPE[0],
        },
    )
    assert wrong.status_code == 401
    in_url = http(sim).get(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token?client_secret={SECRET}")
    assert in_url.status_code == 400  # a misbehaving client: the URL is logged redacted
    assert SECRET not in wrong.text
    client, _ = vault_client(sim)
    client.set_secret("logged", VAULT_VALUE)
    assert client.get_secret("logged").value == VAULT_VALUE
    simulator_lines = [r.getMessage() for r in caplog.records if r.name.startswith("simulator")]
    assert any("/oauth2/v2.0/token" in line for line in simulator_lines)  # requests are logged
    for secret in (SECRET, EXPIRED_SECRET, OPERATOR_SECRET, VAULT_VALUE):
        assert all(secret not in line for line in simulator_lines)


def test_no_key_assertion_or_identity_token_in_logs(
    host_identity: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = host_identity
    endpoint = f"{sim.base_url}/{HOME}/oauth2/v2.0/token"
    msal_cert = msal.ConfidentialClientApplication(
        SYNC,
        client_credential={"private_key": GOOD.key_pem, "thumbprint": GOOD.sha1_hex},
        authority=f"{sim.base_url}/{HOME}",
        instance_discovery=False,
        http_client=http(sim),
    )
    assert "access_token" in msal_cert.acquire_token_for_client(GRAPH_SCOPE)
    forged = signed_assertion(UNREGISTERED, assertion_claims(endpoint))
    rejected = http(sim).post(
        endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": SYNC,
            "scope": GRAPH_SCOPE[0],
            "client_assertion_type": JWT_BEARER,
            "client_assertion": forged,
        },
        timeout=10,
    )
    assert rejected.status_code == 401
    assert forged not in rejected.text
    identity = ManagedIdentityCredential(client_id=IDENTITY)
    exchange = identity.get_token(f"{EXCHANGE}/.default").token
    federated = msal.ConfidentialClientApplication(
        SYNC,
        client_credential={"client_assertion": lambda: exchange},
        authority=f"{sim.base_url}/{HOME}",
        instance_discovery=False,
        http_client=http(sim),
    )
    issued = federated.acquire_token_for_client(GRAPH_SCOPE)["access_token"]
    vault = SecretClient(
        sim.vault_url, identity, verify_challenge_resource=False, connection_verify=sim.ca_path
    )
    vault.set_secret("logged-cert", GOOD.with_key_pem(), content_type="application/x-pem-file")
    assert vault.get_secret("logged-cert").value == GOOD.with_key_pem()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("simulator")]
    assert any("/msi/token" in line for line in lines)  # identity requests are logged
    key_body = GOOD.key_pem.splitlines()[1]  # a line of the private key's base64
    for secret in (key_body, forged, exchange, issued, sim.identity_header, SYNC_SECRET):
        assert all(secret not in line for line in lines)
