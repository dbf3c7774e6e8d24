"""Secrets never reach the simulator's log lines or its error answers."""

from __future__ import annotations

import logging

import pytest

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
