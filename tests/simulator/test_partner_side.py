"""The simulator's partner side: a partner user's sign-in, Partner Center application
consent, service principals and app role assignments with GDAP roles enforced, and the
propagation delay before app-only tokens carry new roles."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from simulator import Simulator
from tests.conftest import fresh_port

from .conftest import http, msal_app
from .partner_side import (
    AGENT,
    CONSENTABLE,
    EXPIRED,
    INVENTORY_APP,
    NO_MFA,
    NO_ROLE,
    NOT_AGENT,
    PARTNER,
    PARTNER_APP,
    REDIRECT,
    SECRET,
    build_partner_side_fixture,
)

PC_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
GRAPH_SP = "00000003-0000-0000-c000-000000000000"
WANTED_SCOPES = "Application.ReadWrite.All,AppRoleAssignment.ReadWrite.All"
MANAGED_DEVICES_ROLE = "2f51be20-0bb4-4fed-bf7b-db946066c75e"


@pytest.fixture
def psim() -> Iterator[Simulator]:
    simulator = Simulator(copy.deepcopy(build_partner_side_fixture(0.6)), port=fresh_port())
    simulator.start()
    yield simulator
    simulator.stop()


def sign_in(sim: Simulator, user: str = AGENT) -> dict[str, Any]:
    """The authorization-code flow through MSAL, the partner user answering at once."""
    with sim.state.lock:
        sim.state.partner_access.partners[PARTNER].signed_in_user = user
    app = msal_app(sim, PARTNER_APP, SECRET, PARTNER)
    flow = app.initiate_auth_code_flow([PC_SCOPE], redirect_uri=REDIRECT)
    answer = http(sim).get(flow["auth_uri"], allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    params = dict(parse_qsl(urlsplit(location).query))
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    return dict(result)


def consent(sim: Simulator, token: str, customer: str, scope: str = WANTED_SCOPES) -> Any:
    body = {"applicationId": PARTNER_APP,
            "applicationGrants": [{"enterpriseApplicationId": GRAPH_SP, "scope": scope}]}
    return http(sim).post(f"{sim.partner_center_url}/v1/customers/{customer}/applicationconsents",
                          json=body, headers={"Authorization": f"Bearer {token}"})


def customer_token(sim: Simulator, refresh_token: str, customer: str) -> dict[str, Any]:
    app = msal_app(sim, PARTNER_APP, SECRET, customer)
    return dict(app.acquire_token_by_refresh_token(refresh_token, [GRAPH_DEFAULT]))


def test_sign_in_yields_a_refresh_token_and_an_mfa_partner_center_token(psim: Simulator) -> None:
    result = sign_in(psim)
    assert result["refresh_token"]
    assert result["id_token_claims"]["oid"] == AGENT
    assert consent(psim, result["access_token"], CONSENTABLE).status_code == 201


def test_partner_center_consent_enforces_mfa_admin_agents_and_gdap_roles(psim: Simulator) -> None:
    agent = sign_in(psim)["access_token"]
    repeated = (consent(psim, agent, CONSENTABLE), consent(psim, agent, CONSENTABLE))
    assert [r.status_code for r in repeated] == [201, 400]
    assert "already exists" in repeated[1].json()["description"]
    assert consent(psim, agent, NO_ROLE).status_code == 403
    assert "cannot consent" in consent(psim, agent, NO_ROLE).json()["description"]
    assert "no active GDAP" in consent(psim, agent, EXPIRED).json()["description"]
    no_mfa = consent(psim, sign_in(psim, NO_MFA)["access_token"], CONSENTABLE)
    assert no_mfa.status_code == 401 and "Multi-factor" in no_mfa.json()["description"]
    outsider = consent(psim, sign_in(psim, NOT_AGENT)["access_token"], CONSENTABLE)
    assert outsider.status_code == 403 and "AdminAgents" in outsider.json()["description"]


def test_refresh_token_reaches_a_customer_only_after_partner_center_consent(
        psim: Simulator) -> None:
    signed = sign_in(psim)
    before = customer_token(psim, signed["refresh_token"], CONSENTABLE)
    assert 65001 in before["error_codes"]
    consent(psim, signed["access_token"], CONSENTABLE)
    after = customer_token(psim, signed["refresh_token"], CONSENTABLE)
    assert "access_token" in after, after
    assert 50020 in customer_token(psim, signed["refresh_token"], EXPIRED)["error_codes"]


def test_revoked_and_expired_refresh_tokens_are_refused(psim: Simulator) -> None:
    signed = sign_in(psim)
    consent(psim, signed["access_token"], CONSENTABLE)
    with psim.state.lock:
        psim.state.partner_access.refresh_tokens[signed["refresh_token"]].state = "revoked"
    assert 50173 in customer_token(psim, signed["refresh_token"], CONSENTABLE)["error_codes"]
    other = sign_in(psim)["refresh_token"]
    with psim.state.lock:
        psim.state.partner_access.refresh_tokens[other].state = "expired"
    assert 700082 in customer_token(psim, other, CONSENTABLE)["error_codes"]


@pytest.mark.slow
def test_service_principal_and_app_roles_reach_app_only_tokens_after_the_delay(
        psim: Simulator) -> None:
    signed = sign_in(psim)
    consent(psim, signed["access_token"], CONSENTABLE)
    graph = customer_token(psim, signed["refresh_token"], CONSENTABLE)["access_token"]
    session, base = http(psim), f"{psim.base_url}/v1.0"
    auth = {"Authorization": f"Bearer {graph}"}
    created = session.post(f"{base}/servicePrincipals", json={"appId": INVENTORY_APP},
                           headers=auth)
    assert created.status_code == 201, created.text
    assert session.post(f"{base}/servicePrincipals", json={"appId": INVENTORY_APP},
                        headers=auth).status_code == 409
    resource = session.get(f"{base}/servicePrincipals(appId='{GRAPH_SP}')", headers=auth).json()
    listed = session.get(f"{base}/servicePrincipals", headers=auth,
                         params={"$filter": f"appId eq '{INVENTORY_APP}'"}).json()["value"]
    assert [sp["id"] for sp in listed] == [created.json()["id"]]
    body = {"principalId": created.json()["id"], "resourceId": resource["id"],
            "appRoleId": MANAGED_DEVICES_ROLE}
    url = f"{base}/servicePrincipals/{resource['id']}/appRoleAssignedTo"
    assert session.post(url, json=body, headers=auth).status_code == 201
    assert session.post(url, json=body, headers=auth).status_code == 400
    pending = msal_app(psim, INVENTORY_APP, SECRET, CONSENTABLE).acquire_token_for_client(
        [GRAPH_DEFAULT])
    assert 700016 in pending["error_codes"]
    time.sleep(0.7)
    ready = msal_app(psim, INVENTORY_APP, SECRET, CONSENTABLE).acquire_token_for_client(
        [GRAPH_DEFAULT])
    assert "access_token" in ready, ready


def test_graph_app_roles_need_privileged_role_administrator(psim: Simulator) -> None:
    with psim.state.lock:  # the agent keeps Application Administrator only
        side = psim.state.partner_access.partners[PARTNER]
        side.assignments["rel-consentable"] = side.assignments["rel-consentable"][:1]
    signed = sign_in(psim)
    consent(psim, signed["access_token"], CONSENTABLE)
    graph = customer_token(psim, signed["refresh_token"], CONSENTABLE)["access_token"]
    session, base = http(psim), f"{psim.base_url}/v1.0"
    auth = {"Authorization": f"Bearer {graph}"}
    created = session.post(f"{base}/servicePrincipals", json={"appId": INVENTORY_APP},
                           headers=auth).json()
    resource = session.get(f"{base}/servicePrincipals(appId='{GRAPH_SP}')", headers=auth).json()
    body = {"principalId": created["id"], "resourceId": resource["id"],
            "appRoleId": MANAGED_DEVICES_ROLE}
    refused = session.post(f"{base}/servicePrincipals/{resource['id']}/appRoleAssignedTo",
                           json=body, headers=auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
