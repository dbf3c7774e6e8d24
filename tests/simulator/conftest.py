"""One Simulator per test module, from a small fixture, and the real clients pointed at it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from simulator import Simulator
from tests.conftest import fresh_port

from .inventory import build_inventory_fixture
from .onboarding import build_onboarding_fixture
from .partners import build_partner_fixture

TENANT = "8f0c1a52-3d7e-4b1a-9c55-0d2e4f6a8b10"  # Contoso
OTHER_TENANT = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"  # Fabrikam: no service principals
APP = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"  # TinyMDM, fully consented
APP_GROUPS_ONLY = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"  # GroupMember.Read.All only
APP_NO_ROLES = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"  # consented without any role
OPERATOR = "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a"  # the Key Vault principal

SECRET = "Tiny~Good.Secret_value-1"
SECRET_ID = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
EXPIRED_SECRET = "Tiny~Old.Secret_value-0"
OTHER_SECRET = "Other~App.Secret_value-2"
OPERATOR_SECRET = "Operator~Vault.Secret-3"

USERS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(1, 6)]
GROUP_FIVE = "10000000-0000-4000-8000-000000000001"  # the five users, nothing else
LEVEL0 = "10000000-0000-4000-8000-000000000002"  # user, group, device, contact
NESTED = "10000000-0000-4000-8000-000000000003"
DEVICE = "20000000-0000-4000-8000-000000000001"
CONTACT = "30000000-0000-4000-8000-000000000001"

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


def _secret(secret_id: str, value: str, expires: str = "2099-01-01T00:00:00Z") -> dict[str, str]:
    return {"id": secret_id, "value": value, "expires": expires}


def build_fixture() -> dict[str, Any]:
    users = {
        uid: {
            "displayName": f"User {n}",
            "mail": None if n == 5 else f"user{n}@contoso.example",
            "userPrincipalName": f"user{n}@contoso.onmicrosoft.com",
            "givenName": "User",
            "surname": str(n),
            "jobTitle": "Engineer",
            "accountEnabled": True,
        }
        for n, uid in enumerate(USERS, start=1)
    }
    return {
        "applications": {
            APP: {
                "home_tenant": TENANT,
                "display_name": "TinyMDM",
                "secrets": [
                    _secret(
                        "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e",
                        EXPIRED_SECRET,
                        "2020-01-01T00:00:00Z",
                    ),
                    _secret(SECRET_ID, SECRET),
                ],
            },
            APP_GROUPS_ONLY: {
                "home_tenant": TENANT,
                "secrets": [_secret("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", OTHER_SECRET)],
            },
            APP_NO_ROLES: {
                "home_tenant": TENANT,
                "secrets": [_secret("0d1e2f3a-4b5c-4d6e-9f7a-0b1c2d3e4f5a", OTHER_SECRET)],
            },
            OPERATOR: {
                "home_tenant": TENANT,
                "secrets": [_secret("0e1f2a3b-4c5d-4e6f-8a7b-1c2d3e4f5a6b", OPERATOR_SECRET)],
            },
        },
        "tenants": {
            TENANT: {
                "display_name": "Contoso",
                "service_principals": {
                    APP: {"roles": ["GroupMember.Read.All", "User.Read.All"]},
                    APP_GROUPS_ONLY: {"roles": ["GroupMember.Read.All"]},
                    APP_NO_ROLES: {"roles": []},
                    OPERATOR: {"roles": []},
                },
                "users": users,
                "groups": {
                    GROUP_FIVE: {"displayName": "Five", "members": list(USERS)},
                    NESTED: {"displayName": "Management", "members": [USERS[1], USERS[2]]},
                    LEVEL0: {
                        "displayName": "TinyMDM",
                        "description": "Level 0",
                        "members": [USERS[0], NESTED, DEVICE, CONTACT],
                    },
                },
                "devices": {DEVICE: {"displayName": "Kiosk"}},
                "contacts": {CONTACT: {"displayName": "Supplier", "mail": "s@supplier.example"}},
            },
            OTHER_TENANT: {"display_name": "Fabrikam"},
        },
        "key_vault": {"principals": [OPERATOR], "secrets": {"seeded": "seed-value"}},
    }


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(copy.deepcopy(build_fixture()), port=fresh_port())
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def partner_sim() -> Iterator[Simulator]:
    """A partner tenant (GDAP, Partner Center) and customers with Intune: see partners.py."""
    simulator = Simulator(build_partner_fixture(), port=fresh_port())
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def inventory_sim() -> Iterator[Simulator]:
    """The partner fixture whose Contoso devices list their detected apps: see inventory.py."""
    simulator = Simulator(build_inventory_fixture(), port=fresh_port())
    simulator.start()
    yield simulator
    simulator.stop()


def http(sim: Simulator) -> requests.Session:
    """A session that trusts the simulator's CA.

    trust_env=False matters: with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE set, requests
    otherwise replaces `session.verify` by the bundle from the environment.
    """
    session = requests.Session()
    session.verify = sim.ca_path
    session.trust_env = False
    return session


def msal_app(
    sim: Simulator, client_id: str = APP, secret: str = SECRET, tenant: str = TENANT
) -> msal.ConfidentialClientApplication:
    """A fresh MSAL app (MSAL caches failed requests per app, so tests never share one)."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=f"{sim.base_url}/{tenant}",
        instance_discovery=False,
        http_client=http(sim),
    )


def graph_token(sim: Simulator, client_id: str = APP, secret: str = SECRET) -> str:
    result = msal_app(sim, client_id, secret).acquire_token_for_client(GRAPH_SCOPE)
    assert "access_token" in result, result
    return str(result["access_token"])


def graph_get(sim: Simulator, url: str, token: str, **headers: str) -> requests.Response:
    target = url if url.startswith("https://") else f"{sim.base_url}/v1.0{url}"
    return http(sim).get(
        target, headers={"Authorization": f"Bearer {token}", **headers}, timeout=10
    )


def vault_client(sim: Simulator) -> tuple[SecretClient, ClientSecretCredential]:
    """The real SecretClient signed in as the fixture's vault principal, and its credential
    (for the caller to close)."""
    credential = ClientSecretCredential(
        TENANT,
        OPERATOR,
        OPERATOR_SECRET,
        authority=sim.base_url,
        disable_instance_discovery=True,
        connection_verify=sim.ca_path,
    )
    client = SecretClient(
        f"{sim.base_url}/keyvault/",
        credential,
        verify_challenge_resource=False,
        connection_verify=sim.ca_path,
    )
    return client, credential


@pytest.fixture(scope="module")
def onboarding_sim() -> Iterator[Simulator]:
    """An ISV tenant with a secretless multitenant app and customers: see onboarding.py."""
    simulator = Simulator(build_onboarding_fixture(), port=fresh_port())
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def host_identity(onboarding_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """IDENTITY_ENDPOINT and IDENTITY_HEADER point at the simulator, as on the Functions host."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", onboarding_sim.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", onboarding_sim.identity_header)
    return onboarding_sim
