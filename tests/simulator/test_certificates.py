"""Certificate credentials: MSAL signs client assertions, the simulator verifies them."""

from __future__ import annotations

import json
from typing import Any

import msal
import pytest
import requests

from simulator import Simulator
from simulator.tokens import b64url_decode

from .conftest import http
from .onboarding import (
    EXPIRED,
    GOOD,
    GRAPH_SCOPE,
    HOME,
    JWT_BEARER,
    ROLES,
    SYNC,
    SYNC_SECRET,
    UNREGISTERED,
    GeneratedCert,
    assertion_claims,
    b64url,
    signed_assertion,
)


def claims_of(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def cert_app(
    sim: Simulator, credential: Any, tenant: str = HOME
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        SYNC,
        client_credential=credential,
        authority=f"{sim.base_url}/{tenant}",
        instance_discovery=False,
        http_client=http(sim),
    )


def thumbprint_credential(cert: GeneratedCert) -> dict[str, str]:
    """MSAL 1.39 treats "thumbprint" as SHA-1: RS256 with an x5t header."""
    return {"private_key": cert.key_pem, "thumbprint": cert.sha1_hex}


def endpoint(sim: Simulator, tenant: str = HOME) -> str:
    return f"{sim.base_url}/{tenant}/oauth2/v2.0/token"


def post_assertion(sim: Simulator, assertion: str, **extra: str) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": SYNC,
        "scope": GRAPH_SCOPE[0],
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        **extra,
    }
    return http(sim).post(endpoint(sim), data=data, timeout=10)


def test_thumbprint_credential_rs256_gets_the_same_roles_as_a_secret(
    onboarding_sim: Simulator,
) -> None:
    with_cert = cert_app(onboarding_sim, thumbprint_credential(GOOD)).acquire_token_for_client(
        GRAPH_SCOPE
    )
    with_secret = cert_app(onboarding_sim, SYNC_SECRET).acquire_token_for_client(GRAPH_SCOPE)
    assert "access_token" in with_cert, with_cert
    cert_claims, secret_claims = (
        claims_of(with_cert["access_token"]),
        claims_of(with_secret["access_token"]),
    )
    assert cert_claims["roles"] == ROLES
    ignored = {"iat", "nbf", "exp", "uti"}
    assert {k: v for k, v in cert_claims.items() if k not in ignored} == {
        k: v for k, v in secret_claims.items() if k not in ignored
    }


def test_public_certificate_credential_ps256_with_x5t_s256(onboarding_sim: Simulator) -> None:
    # Without "thumbprint", MSAL computes SHA-256 and signs PS256 (x5t#S256 header, and x5c).
    credential = {"private_key": GOOD.key_pem, "public_certificate": GOOD.cert_pem}
    result = cert_app(onboarding_sim, credential).acquire_token_for_client(GRAPH_SCOPE)
    assert claims_of(result["access_token"])["appid"] == SYNC


def test_signature_must_match_the_declared_algorithm(onboarding_sim: Simulator) -> None:
    claims = assertion_claims(endpoint(onboarding_sim))
    head = {"alg": "PS256", "typ": "JWT", "x5t#S256": b64url(GOOD.sha256)}
    assertion = signed_assertion(GOOD, claims, head)  # RS256-signed under a PS256 header
    response = post_assertion(onboarding_sim, assertion)
    assert response.json()["error_codes"] == [700027]  # the signature does not verify


@pytest.mark.parametrize(
    ("cert", "code", "text"),
    [
        (UNREGISTERED, 700027, "The key was not found"),
        (EXPIRED, 1000502, "not within its validity window"),
    ],
    ids=["unregistered-key", "expired-certificate"],
)
def test_msal_with_a_bad_certificate_gets_the_documented_code(
    onboarding_sim: Simulator, cert: GeneratedCert, code: int, text: str
) -> None:
    result = cert_app(onboarding_sim, thumbprint_credential(cert)).acquire_token_for_client(
        GRAPH_SCOPE
    )
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [code]
    assert text in result["error_description"]


def forged(cert: GeneratedCert, registered: GeneratedCert, claims: dict[str, Any]) -> str:
    """Signed by `cert` but naming `registered`'s thumbprint."""
    head = {"alg": "RS256", "typ": "JWT", "x5t": b64url(bytes.fromhex(registered.sha1_hex))}
    return signed_assertion(cert, claims, head)


def test_signature_by_another_key_is_700027(onboarding_sim: Simulator) -> None:
    response = post_assertion(
        onboarding_sim, forged(UNREGISTERED, GOOD, assertion_claims(endpoint(onboarding_sim)))
    )
    assert response.status_code == 401
    body = response.json()
    assert body["error_codes"] == [700027]
    assert "invalid signature" in body["error_description"]
    assert GOOD.sha1_hex.upper() in body["error_description"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"iss": HOME}, 700021),
        ({"sub": HOME}, 700021),
        ({"aud": "https://login.microsoftonline.com/common/oauth2/v2.0/token"}, 700023),
        ({"exp": 1_600_000_000}, 700024),
        ({"nbf": 4_000_000_000, "exp": 4_000_000_600}, 700024),
        ({"exp": None}, 700024),
        ({"jti": None}, 50027),
    ],
    ids=["iss", "sub", "aud", "expired", "not-yet-valid", "no-exp", "no-jti"],
)
def test_claim_mismatches_get_their_codes(
    onboarding_sim: Simulator, overrides: dict[str, Any], code: int
) -> None:
    claims = assertion_claims(endpoint(onboarding_sim), **overrides)
    response = post_assertion(onboarding_sim, signed_assertion(GOOD, claims))
    assert response.status_code == 401
    body = response.json()
    assert (body["error"], body["error_codes"]) == ("invalid_client", [code])


def test_assertion_lifetime_message_names_the_times(onboarding_sim: Simulator) -> None:
    claims = assertion_claims(endpoint(onboarding_sim), exp=1_600_000_000)
    body = post_assertion(onboarding_sim, signed_assertion(GOOD, claims)).json()
    assert "Client assertion is not within its valid time range" in body["error_description"]
    assert "expiry time of assertion 2020-09-13T12:26:40" in body["error_description"]


def test_issuer_of_the_tenant_is_an_accepted_audience(onboarding_sim: Simulator) -> None:
    claims = assertion_claims(
        endpoint(onboarding_sim), aud=f"{onboarding_sim.base_url}/{HOME}/v2.0"
    )
    response = post_assertion(onboarding_sim, signed_assertion(GOOD, claims))
    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["roles"] == ROLES


@pytest.mark.parametrize(
    ("assertion", "extra", "status", "code"),
    [
        ("not-a-jwt", {}, 401, 50027),
        ("header-only.e30.", {}, 401, 50027),
        ("", {}, 401, 7000218),
        ("x.y.z", {"client_secret": SYNC_SECRET}, 400, 9002313),
        ("x.y.z", {"client_assertion_type": "urn:other"}, 400, 9002313),
    ],
    ids=["not-a-jwt", "bad-json", "empty", "secret-and-assertion", "wrong-type"],
)
def test_malformed_requests(
    onboarding_sim: Simulator, assertion: str, extra: dict[str, str], status: int, code: int
) -> None:
    response = post_assertion(onboarding_sim, assertion, **extra)
    assert response.status_code == status
    assert response.json()["error_codes"] == [code]


def test_assertion_without_thumbprint_is_50027(onboarding_sim: Simulator) -> None:
    claims = assertion_claims(endpoint(onboarding_sim))
    assertion = signed_assertion(GOOD, claims, {"alg": "RS256", "typ": "JWT"})
    body = post_assertion(onboarding_sim, assertion).json()
    assert body["error_codes"] == [50027]
    assert "No certificate thumbprint" in body["error_description"]


def test_rotation_takes_effect_at_the_next_token_request(onboarding_sim: Simulator) -> None:
    new = {"id": "d2000000-0000-4000-8000-000000000009", "pem": UNREGISTERED.cert_pem}
    old = {"id": "d2000000-0000-4000-8000-000000000001", "pem": GOOD.cert_pem}
    onboarding_sim.set_app_certificates(SYNC, [old, new])
    try:
        fresh = cert_app(onboarding_sim, thumbprint_credential(UNREGISTERED))
        assert "access_token" in fresh.acquire_token_for_client(GRAPH_SCOPE)
        response = http(onboarding_sim).put(
            f"{onboarding_sim.base_url}/_sim/applications/{SYNC}/certificates",
            json=[new],
            timeout=10,
        )
        assert response.status_code == 200
        retired = cert_app(onboarding_sim, thumbprint_credential(GOOD)).acquire_token_for_client(
            GRAPH_SCOPE
        )
        assert retired["error_codes"] == [700027]
    finally:
        onboarding_sim.set_app_certificates(SYNC, [old])
