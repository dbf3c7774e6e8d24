"""Strict validation of the onboarding fields: certificates, federated credentials,
managed identities, consent; and their control routes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from simulator import FixtureError, Simulator

from .conftest import http
from .onboarding import (
    CUSTOMER,
    EXPIRED,
    GOOD,
    HOME,
    IDENTITY,
    PRINCIPAL,
    SYNC,
    build_onboarding_fixture,
    mi_credential,
)

APP_PATH = f"applications.{SYNC}"


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(fixture: dict[str, Any]) -> None:
        target = fixture
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


CERT = {"id": "d2000000-0000-4000-8000-000000000001", "pem": GOOD.cert_pem}
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "cert-unknown-key",
        _set(["applications", SYNC, "certificates"], [{**CERT, "thumbprint": "x"}]),
        f"{APP_PATH}.certificates[0]: unknown key 'thumbprint'",
    ),
    (
        "cert-private-key",
        _set(["applications", SYNC, "certificates"], [{**CERT, "pem": GOOD.with_key_pem()}]),
        f"{APP_PATH}.certificates[0].pem: holds a private key",
    ),
    (
        "cert-not-pem",
        _set(["applications", SYNC, "certificates"], [{**CERT, "pem": "hello"}]),
        f"{APP_PATH}.certificates[0].pem: is not a PEM X.509 certificate",
    ),
    (
        "cert-twice",
        _set(
            ["applications", SYNC, "certificates"],
            [CERT, {**CERT, "id": "d2000000-0000-4000-8000-000000000003"}],
        ),
        f"{APP_PATH}.certificates[1]: the same certificate is registered twice",
    ),
    (
        "cert-naive-expiry",
        _set(
            ["applications", SYNC, "certificates"],
            [{**CERT, "pem": EXPIRED.cert_pem, "expires": "2020-01-01T00:00:00"}],
        ),
        f"{APP_PATH}.certificates[0].expires: time needs a time zone",
    ),
    (
        "fic-two-audiences",
        _set(
            ["applications", SYNC, "federated_credentials"],
            [{**mi_credential(), "audiences": ["a", "b"]}],
        ),
        f"{APP_PATH}.federated_credentials[0].audiences: must hold exactly one audience",
    ),
    (
        "fic-missing-subject",
        _set(
            ["applications", SYNC, "federated_credentials"],
            [{"issuer": "https://x", "audiences": ["a"]}],
        ),
        f"{APP_PATH}.federated_credentials[0]: missing 'subject'",
    ),
    (
        "fic-duplicate",
        _set(["applications", SYNC, "federated_credentials"], [mi_credential(), mi_credential()]),
        f"{APP_PATH}.federated_credentials[1]: another credential has the same issuer and subject",
    ),
    (
        "fic-21",
        _set(
            ["applications", SYNC, "federated_credentials"],
            [mi_credential(subject=f"s{n}") for n in range(21)],
        ),
        f"{APP_PATH}.federated_credentials: at most 20",
    ),
    (
        "redirect-relative",
        _set(["applications", SYNC, "redirect_uris"], ["/callback"]),
        f"{APP_PATH}.redirect_uris[0]: must be an absolute http(s) URL",
    ),
    (
        "required-roles-type",
        _set(["applications", SYNC, "required_roles"], [1]),
        f"{APP_PATH}.required_roles[0]: must be a non-empty string",
    ),
    (
        "mi-unknown-tenant",
        _set(
            ["managed_identities", IDENTITY, "home_tenant"], "12345678-1234-4234-8234-123456789012"
        ),
        f"managed_identities.{IDENTITY}.home_tenant: unknown tenant",
    ),
    (
        "mi-unknown-key",
        _set(["managed_identities", IDENTITY, "object_id"], PRINCIPAL),
        f"managed_identities.{IDENTITY}: unknown key 'object_id'",
    ),
    (
        "mi-is-an-app",
        _set(["managed_identities", SYNC], {"principal_id": PRINCIPAL, "home_tenant": HOME}),
        f"managed_identities.{SYNC}: client id already used",
    ),
    (
        "consent-decision",
        _set(["tenants", CUSTOMER, "admin_consent"], "maybe"),
        f"tenants.{CUSTOMER}.admin_consent: must be one of: accept, refuse",
    ),
    (
        "signed-in-unknown",
        _set(["signed_in_admin_tenant"], "12345678-1234-4234-8234-123456789012"),
        "signed_in_admin_tenant: unknown tenant",
    ),
    (
        "delay-range",
        _set(["federation_propagation_seconds"], -1),
        "federation_propagation_seconds: must be a number from 0 to 3600",
    ),
    (
        "vault-principal-unknown",
        _set(["key_vault", "principals"], ["12345678-1234-4234-8234-123456789012"]),
        "key_vault.principals[0]: unknown application or managed identity",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in CASES], ids=[i for i, _, _ in CASES]
)
def test_invalid_onboarding_fields_name_the_path(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    fixture = copy.deepcopy(build_onboarding_fixture())
    change(fixture)
    with pytest.raises(FixtureError) as raised:
        Simulator(fixture)
    text = str(raised.value)
    assert text.startswith(message)
    assert "PRIVATE KEY" not in text
    assert "BEGIN CERTIFICATE" not in text


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("PUT", f"/applications/{SYNC}/certificates", [{"id": "x"}], "certificates[0].id"),
        ("PUT", f"/applications/{SYNC}/federated_credentials", {}, "federated_credentials"),
        ("PUT", f"/applications/{SYNC}/nothing", [], "no control route"),
        ("PUT", "/federation_delay", {"seconds": 4000}, "seconds"),
        ("PUT", "/federation_delay", {"wait": 1}, 'body: must be {"seconds": number}'),
        ("PUT", "/signed_in_admin", {"tenant": "nope"}, "tenant: not a GUID"),
        ("PUT", f"/tenants/{CUSTOMER}/admin_consent", {"decision": "no"}, "decision"),
    ],
)
def test_control_routes_reject_bad_input(
    onboarding_sim: Simulator, method: str, path: str, body: Any, error: str
) -> None:
    response = http(onboarding_sim).request(
        method, f"{onboarding_sim.base_url}/_sim{path}", json=body, timeout=10
    )
    assert response.status_code in (400, 404)
    assert error in response.json()["error"]
