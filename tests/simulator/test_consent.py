"""Admin consent (v2.0): an immediate 302 back to the app, or Entra's own error page."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator import Simulator
from simulator.tokens import b64url_decode
from tests.conftest import fresh_port

from .conftest import http, msal_app
from .onboarding import (
    CUSTOMER,
    GRAPH_SCOPE,
    HOME,
    REDIRECT,
    REFUSER,
    ROLES,
    SINGLE,
    SYNC,
    SYNC_SECRET,
    build_onboarding_fixture,
)

UNKNOWN = "99999999-9999-4999-8999-999999999999"


def consent(sim: Simulator, tenant: str = CUSTOMER, **params: str | None) -> requests.Response:
    query = {
        "client_id": SYNC,
        "scope": GRAPH_SCOPE[0],
        "redirect_uri": REDIRECT,
        "state": "csrf-123",
        **params,
    }
    sent = {name: value for name, value in query.items() if value is not None}
    url = f"{sim.base_url}/{tenant}/v2.0/adminconsent"
    return http(sim).get(url, params=sent, allow_redirects=False, timeout=10)


def redirected(response: requests.Response) -> tuple[str, dict[str, str]]:
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["Location"])
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query


def roles_in(sim: Simulator, tenant: str) -> list[str] | None:
    with sim.state.lock:
        found = sim.state.world.tenants[tenant].roles.get(SYNC)
        return None if found is None else list(found)


@pytest.fixture
def clean(onboarding_sim: Simulator) -> Iterator[Simulator]:
    yield onboarding_sim
    onboarding_sim.set_roles(CUSTOMER, SYNC, None)
    onboarding_sim.set_roles(REFUSER, SYNC, None)
    onboarding_sim.set_signed_in_admin(CUSTOMER)
    onboarding_sim.set_admin_consent(REFUSER, "refuse")


def test_acceptance_installs_the_app_and_redirects_with_the_documented_parameters(
    clean: Simulator,
) -> None:
    assert roles_in(clean, CUSTOMER) is None
    target, query = redirected(consent(clean))
    assert target == REDIRECT
    assert query == {
        "admin_consent": "True",
        "tenant": CUSTOMER,
        "scope": GRAPH_SCOPE[0],
        "state": "csrf-123",
    }
    assert roles_in(clean, CUSTOMER) == ROLES
    token = msal_app(clean, SYNC, SYNC_SECRET, CUSTOMER).acquire_token_for_client(GRAPH_SCOPE)
    claims = json.loads(b64url_decode(token["access_token"].split(".")[1]))
    assert claims["roles"] == ROLES


def test_consent_adds_to_what_was_granted(clean: Simulator) -> None:
    clean.set_roles(CUSTOMER, SYNC, ["User.Read.All", ROLES[1]])
    redirected(consent(clean))
    assert roles_in(clean, CUSTOMER) == ["User.Read.All", ROLES[1], ROLES[0]]


@pytest.mark.parametrize("generic", ["organizations", "common"])
def test_generic_tenant_is_the_signed_in_admins(clean: Simulator, generic: str) -> None:
    _, query = redirected(consent(clean, tenant=generic))
    assert query["tenant"] == CUSTOMER
    response = http(clean).put(
        f"{clean.base_url}/_sim/signed_in_admin", json={"tenant": HOME}, timeout=10
    )
    assert response.status_code == 200
    _, query = redirected(consent(clean, tenant=generic))
    assert query["tenant"] == HOME


def test_refusal_redirects_with_the_error_and_installs_nothing(clean: Simulator) -> None:
    clean.set_signed_in_admin(REFUSER)
    target, query = redirected(consent(clean, tenant="organizations"))
    assert target == REDIRECT
    assert query["admin_consent"] == "True"
    assert query["error"] == "consent_required"
    assert query["error_description"].startswith(
        "AADSTS65004: The resource owner or authorization server denied the request."
    )
    assert query["state"] == "csrf-123"
    assert "tenant" not in query
    assert roles_in(clean, REFUSER) is None


def test_a_refusing_admin_can_change_their_mind(clean: Simulator) -> None:
    assert "error" in redirected(consent(clean, tenant=REFUSER))[1]
    response = http(clean).put(
        f"{clean.base_url}/_sim/tenants/{REFUSER}/admin_consent",
        json={"decision": "accept"},
        timeout=10,
    )
    assert response.status_code == 200
    assert redirected(consent(clean, tenant=REFUSER))[1]["tenant"] == REFUSER
    assert roles_in(clean, REFUSER) == ROLES


def test_state_is_left_out_when_none_was_sent(clean: Simulator) -> None:
    assert "state" not in redirected(consent(clean, state=None))[1]


@pytest.mark.parametrize(
    ("tenant", "params", "code"),
    [
        (CUSTOMER, {"client_id": UNKNOWN}, 700016),
        (CUSTOMER, {"client_id": SINGLE}, 700016),  # single-tenant app, foreign tenant
        (CUSTOMER, {"redirect_uri": "https://evil.example/steal"}, 50011),
        (CUSTOMER, {"redirect_uri": REDIRECT + "/"}, 50011),  # exact match only
        (CUSTOMER, {"client_id": None}, 900144),
        (CUSTOMER, {"redirect_uri": None}, 900971),
        (UNKNOWN, {}, 90002),
    ],
    ids=[
        "unknown-app",
        "single-tenant",
        "foreign-uri",
        "trailing-slash",
        "no-client",
        "no-uri",
        "tenant",
    ],
)
def test_untrusted_requests_get_an_error_page_not_a_redirect(
    clean: Simulator, tenant: str, params: dict[str, str | None], code: int
) -> None:
    response = consent(clean, tenant=tenant, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert f'<p id="error-code">AADSTS{code}</p>' in response.text
    assert roles_in(clean, CUSTOMER) is None


def test_error_page_escapes_what_the_request_carried(clean: Simulator) -> None:
    response = consent(clean, redirect_uri="https://x.example/<script>alert(1)</script>")
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_nobody_signed_in_for_organizations(clean: Simulator) -> None:
    clean.set_signed_in_admin(None)
    response = consent(clean, tenant="organizations")
    assert response.status_code == 400
    assert "AADSTS50058" in response.text


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        ("", "invalid_request", 900144),
        ("https://graph.microsoft.com/User.Read", "invalid_scope", 70011),
        ("openid profile", "invalid_scope", 70011),
    ],
    ids=["missing", "dynamic", "no-default"],
)
def test_scope_problems_go_back_to_the_app(
    clean: Simulator, scope: str, error: str, code: int
) -> None:
    _, query = redirected(consent(clean, scope=scope))
    assert query["error"] == error
    assert query["error_description"].startswith(f"AADSTS{code}: ")
    assert query["state"] == "csrf-123"
    assert roles_in(clean, CUSTOMER) is None


def test_oidc_scopes_beside_default_are_accepted(clean: Simulator) -> None:
    scope = f"openid {GRAPH_SCOPE[0]}"
    assert redirected(consent(clean, scope=scope))[1]["scope"] == scope


class _Callback(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        _Callback.seen.append(self.path)
        body = b"<html><body><p id='done'>connected</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def callback_sim() -> Iterator[tuple[Simulator, str]]:
    """A simulator whose app registers a redirect URI served by a local HTTP server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    callback = f"http://127.0.0.1:{server.server_address[1]}/onboarding/done"
    fixture = build_onboarding_fixture()
    fixture["applications"][SYNC]["redirect_uris"].append(callback)
    sim = Simulator(fixture, port=fresh_port())
    sim.start()
    _Callback.seen.clear()
    yield sim, callback
    sim.stop()
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_a_client_that_follows_redirects_lands_on_the_app(
    callback_sim: tuple[Simulator, str],
) -> None:
    sim, callback = callback_sim
    response = http(sim).get(
        f"{sim.base_url}/organizations/v2.0/adminconsent",
        params={
            "client_id": SYNC,
            "scope": GRAPH_SCOPE[0],
            "redirect_uri": callback,
            "state": "s1",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert "connected" in response.text
    assert len(_Callback.seen) == 1
    assert parse_qs(urlsplit(_Callback.seen[0]).query)["tenant"] == [CUSTOMER]


@pytest.mark.slow
def test_headless_chromium_follows_the_302(
    callback_sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    assert shutil.which("chromium"), "chromium is missing: run scripts/bootstrap.sh as root"
    sim, callback = callback_sim
    url = (
        f"{sim.base_url}/organizations/v2.0/adminconsent?client_id={SYNC}"
        f"&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&redirect_uri={callback}&state=s2"
    )
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path}",
            "--ignore-certificate-errors",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    assert "connected" in dom
    assert any("state=s2" in path for path in _Callback.seen)
