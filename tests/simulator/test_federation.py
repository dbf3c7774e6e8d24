"""Federated credentials: the managed identity's token as MSAL's client assertion."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import msal
import pytest
from azure.identity import ManagedIdentityCredential

from simulator import Simulator
from simulator.tokens import b64url_decode, sign

from .conftest import http
from .onboarding import (
    CUSTOMER,
    CUSTOMER_APP,
    EXCHANGE,
    GRAPH_SCOPE,
    HOME,
    IDENTITY,
    OTHER_IDENTITY,
    PRINCIPAL,
    ROLES,
    SYNC,
    SYNC_SECRET,
    issuer,
    mi_credential,
)


def claims_of(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def identity_assertion(client_id: str = IDENTITY) -> Callable[[], str]:
    """What tenantsync will pass as {"client_assertion": callable}: the identity's token."""
    credential = ManagedIdentityCredential(client_id=client_id)
    return lambda: credential.get_token(f"{EXCHANGE}/.default").token


def federated_app(
    sim: Simulator, assertion: Callable[[], str] | str, client_id: str = SYNC, tenant: str = HOME
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential={"client_assertion": assertion},
        authority=f"{sim.base_url}/{tenant}",
        instance_discovery=False,
        http_client=http(sim),
    )


@pytest.fixture
def records(host_identity: Simulator) -> Iterator[Callable[[list[dict[str, Any]]], None]]:
    """Replace the sync app's federated credentials for one test, then restore them."""
    yield lambda creds: host_identity.set_federated_credentials(SYNC, creds)
    host_identity.set_federation_delay(0)
    host_identity.set_federated_credentials(SYNC, [mi_credential()])


def test_identity_token_signs_in_with_the_roles_a_secret_gets(host_identity: Simulator) -> None:
    federated = federated_app(host_identity, identity_assertion()).acquire_token_for_client(
        GRAPH_SCOPE
    )
    secret = msal.ConfidentialClientApplication(
        SYNC,
        client_credential=SYNC_SECRET,
        authority=f"{host_identity.base_url}/{HOME}",
        instance_discovery=False,
        http_client=http(host_identity),
    ).acquire_token_for_client(GRAPH_SCOPE)
    assert "access_token" in federated, federated
    fed_claims, secret_claims = (
        claims_of(federated["access_token"]),
        claims_of(secret["access_token"]),
    )
    assert fed_claims["roles"] == ROLES
    ignored = {"iat", "nbf", "exp", "uti"}
    assert {k: v for k, v in fed_claims.items() if k not in ignored} == {
        k: v for k, v in secret_claims.items() if k not in ignored
    }


def test_multitenant_app_reaches_a_consented_customer(host_identity: Simulator) -> None:
    host_identity.set_roles(CUSTOMER, SYNC, ["Organization.Read.All"])
    try:
        result = federated_app(host_identity, identity_assertion(), tenant=CUSTOMER)
        claims = claims_of(result.acquire_token_for_client(GRAPH_SCOPE)["access_token"])
        assert (claims["tid"], claims["roles"]) == (CUSTOMER, ["Organization.Read.All"])
    finally:
        host_identity.set_roles(CUSTOMER, SYNC, None)


def test_unconsented_customer_is_still_700016(host_identity: Simulator) -> None:
    result = federated_app(host_identity, identity_assertion(), tenant=CUSTOMER)
    assert result.acquire_token_for_client(GRAPH_SCOPE)["error_codes"] == [700016]


@pytest.mark.parametrize(
    ("record", "code", "named"),
    [
        (mi_credential(tenant=CUSTOMER), 700211, issuer(HOME)),
        (mi_credential(subject="f9999999-0000-4000-8000-000000000000"), 700213, PRINCIPAL),
        ({**mi_credential(), "audiences": ["api://AzureADTokenExchangeUSGov"]}, 700212, EXCHANGE),
        ({**mi_credential(), "subject": PRINCIPAL.upper()}, 700213, PRINCIPAL),
    ],
    ids=["issuer", "subject", "audience", "subject-case"],
)
def test_no_matching_record_names_the_claim(
    host_identity: Simulator,
    records: Callable[[list[dict[str, Any]]], None],
    record: dict[str, Any],
    code: int,
    named: str,
) -> None:
    records([record])
    result = federated_app(host_identity, identity_assertion()).acquire_token_for_client(
        GRAPH_SCOPE
    )
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [code]
    assert f"'{named}'" in result["error_description"]


def test_identity_of_another_tenant_cannot_sign_in_a_home_app(host_identity: Simulator) -> None:
    # OTHER_IDENTITY lives in CUSTOMER: its issuer matches no record of the sync app.
    result = federated_app(host_identity, identity_assertion(OTHER_IDENTITY))
    assert result.acquire_token_for_client(GRAPH_SCOPE)["error_codes"] == [700211]


def test_app_registered_in_another_tenant_than_the_identity_is_700236(
    host_identity: Simulator,
) -> None:
    app = federated_app(
        host_identity, identity_assertion(), client_id=CUSTOMER_APP, tenant=CUSTOMER
    )
    result = app.acquire_token_for_client(GRAPH_SCOPE)
    assert result["error_codes"] == [700236]
    assert issuer(HOME) in result["error_description"]


def test_forged_and_expired_identity_tokens(host_identity: Simulator) -> None:
    now = int(time.time())
    claims = {
        "aud": EXCHANGE,
        "iss": issuer(HOME),
        "sub": PRINCIPAL,
        "tid": HOME,
        "nbf": now,
        "exp": now + 600,
    }
    forged = sign(b"not the simulator's key", claims)
    result = federated_app(host_identity, lambda: forged).acquire_token_for_client(GRAPH_SCOPE)
    assert result["error_codes"] == [50027]
    expired = sign(
        host_identity.state.signing_key, {**claims, "nbf": now - 7200, "exp": now - 3600}
    )
    result = federated_app(host_identity, lambda: expired).acquire_token_for_client(GRAPH_SCOPE)
    assert result["error_codes"] == [700024]


@pytest.mark.slow
def test_new_record_answers_70021_until_it_propagates(
    host_identity: Simulator, records: Callable[[list[dict[str, Any]]], None]
) -> None:
    records([])
    host_identity.set_federation_delay(1.0)
    records([mi_credential()])
    assertion = identity_assertion()
    early = federated_app(host_identity, assertion).acquire_token_for_client(GRAPH_SCOPE)
    assert early["error"] == "invalid_request"
    assert early["error_codes"] == [70021]
    assert f"Assertion Subject: '{PRINCIPAL}'" in early["error_description"]
    time.sleep(1.1)
    # A fresh MSAL app: MSAL would answer an identical request from its 60 s cache of 400s.
    late = federated_app(host_identity, assertion).acquire_token_for_client(GRAPH_SCOPE)
    assert claims_of(late["access_token"])["roles"] == ROLES


def test_unchanged_records_keep_working_during_a_propagation_delay(
    host_identity: Simulator, records: Callable[[list[dict[str, Any]]], None]
) -> None:
    host_identity.set_federation_delay(60)
    extra = mi_credential(subject="f9999999-0000-4000-8000-000000000000")
    response = http(host_identity).put(
        f"{host_identity.base_url}/_sim/applications/{SYNC}/federated_credentials",
        json=[mi_credential(), extra],
        timeout=10,
    )
    assert response.status_code == 200
    result = federated_app(host_identity, identity_assertion()).acquire_token_for_client(
        GRAPH_SCOPE
    )
    assert "access_token" in result, result
