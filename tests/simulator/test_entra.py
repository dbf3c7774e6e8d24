"""Discovery and client-credentials tokens, through MSAL as tenantsync uses it."""

from __future__ import annotations

import json

import pytest

from simulator import Simulator
from simulator.tokens import b64url_decode

from .conftest import (
    APP,
    APP_NO_ROLES,
    EXPIRED_SECRET,
    GRAPH_SCOPE,
    OPERATOR,
    OPERATOR_SECRET,
    OTHER_SECRET,
    OTHER_TENANT,
    SECRET,
    SECRET_ID,
    TENANT,
    http,
    msal_app,
)

UNKNOWN = "99999999-9999-4999-8999-999999999999"


def claims_of(token: str) -> dict[str, object]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def test_discovery_document_points_msal_at_the_simulator(sim: Simulator) -> None:
    response = http(sim).get(f"{sim.base_url}/{TENANT}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["token_endpoint"] == f"{sim.base_url}/{TENANT}/oauth2/v2.0/token"
    assert config["issuer"] == f"{sim.base_url}/{TENANT}/v2.0"
    assert config["authorization_endpoint"].startswith(f"{sim.base_url}/{TENANT}/")


def test_good_secret_gets_a_graph_token_with_the_consented_roles(sim: Simulator) -> None:
    result = msal_app(sim).acquire_token_for_client(GRAPH_SCOPE)
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] > 3000
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == TENANT
    assert claims["appid"] == APP
    assert claims["roles"] == ["GroupMember.Read.All", "User.Read.All"]


def test_consent_without_roles_gives_a_token_without_roles(sim: Simulator) -> None:
    result = msal_app(sim, APP_NO_ROLES, OTHER_SECRET).acquire_token_for_client(GRAPH_SCOPE)
    assert "roles" not in claims_of(result["access_token"])


def test_unknown_tenant_fails_discovery_with_90002(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration") as raised:
        msal_app(sim, tenant=UNKNOWN)
    assert "AADSTS90002" in str(raised.value.__context__)  # MSAL wraps the discovery error
    response = http(sim).post(
        f"{sim.base_url}/{UNKNOWN}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": APP,
            "client_secret": SECRET,
            "scope": GRAPH_SCOPE[0],
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["error_codes"]) == ("invalid_request", [90002])


@pytest.mark.parametrize(
    ("client_id", "secret", "tenant", "error", "code"),
    [
        (UNKNOWN, SECRET, TENANT, "unauthorized_client", 700016),
        (APP, "not-the-secret", TENANT, "invalid_client", 7000215),
        (APP, SECRET_ID, TENANT, "invalid_client", 7000215),  # the secret's ID, not its value
        (APP, EXPIRED_SECRET, TENANT, "invalid_client", 7000222),
        (APP, SECRET, OTHER_TENANT, "unauthorized_client", 700016),  # not consented there
    ],
    ids=["unknown-app", "wrong-secret", "secret-id", "expired", "no-service-principal"],
)
def test_token_errors_reach_msal_with_entra_codes(
    sim: Simulator, client_id: str, secret: str, tenant: str, error: str, code: int
) -> None:
    result = msal_app(sim, client_id, secret, tenant).acquire_token_for_client(GRAPH_SCOPE)
    assert result["error"] == error
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert result["correlation_id"]
    assert result["trace_id"]


def test_missing_secret_is_7000218(sim: Simulator) -> None:
    response = http(sim).post(
        f"{sim.base_url}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": APP, "scope": GRAPH_SCOPE[0]},
    )
    assert response.status_code == 401
    assert response.json()["error_codes"] == [7000218]


def test_wrong_secret_message_says_value_not_id(sim: Simulator) -> None:
    result = msal_app(sim, APP, SECRET_ID).acquire_token_for_client(GRAPH_SCOPE)
    assert "client secret value, not the client secret ID" in result["error_description"]
    assert SECRET_ID not in json.dumps(result)


def test_vault_scope_needs_a_vault_principal(sim: Simulator) -> None:
    denied = msal_app(sim).acquire_token_for_client(["https://vault.azure.net/.default"])
    assert denied["error_codes"] == [500011]
    granted = msal_app(sim, OPERATOR, OPERATOR_SECRET).acquire_token_for_client(
        ["https://vault.azure.net/.default"]
    )
    assert claims_of(granted["access_token"])["aud"] == "https://vault.azure.net"


def test_scope_without_default_suffix_is_rejected(sim: Simulator) -> None:
    result = msal_app(sim).acquire_token_for_client(["https://graph.microsoft.com/User.Read.All"])
    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [1002012]


def test_partner_center_scope_is_granted(sim: Simulator) -> None:
    result = msal_app(sim).acquire_token_for_client(
        ["https://api.partnercenter.microsoft.com/.default"]
    )
    assert claims_of(result["access_token"])["aud"] == "https://api.partnercenter.microsoft.com"


def test_tokens_issued_are_counted(sim: Simulator) -> None:
    before = sim.stats()["tokens_issued"]
    msal_app(sim).acquire_token_for_client(GRAPH_SCOPE)
    assert sim.stats()["tokens_issued"] == before + 1
