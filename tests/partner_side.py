"""A partner whose admin agent can sign in (the simulator's partner_access), with GDAP
access assignments per customer: helpers for the partner-side consent tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from functions.core.sensitive import SecretValue
from tests.conftest import Harness
from tests.world import INVENTORY_ROLES, Partner, World, new_id

PUBLIC_URL = "https://tenantsync.example"
SIGN_IN_CALLBACK = f"{PUBLIC_URL}/api/partners/sign-in/callback"
APPLICATION_ADMIN = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
CONSENT_CAPABLE = [APPLICATION_ADMIN, PRIVILEGED_ROLE_ADMIN]


class PartnerSide:
    """A partner, its admin agent (AdminAgents, MFA) and a GDAP group per role."""

    def __init__(self, world: World, propagation_seconds: float = 0.0) -> None:
        self.world = world
        self.partner = Partner(world)
        self.agent = new_id()
        self.groups = {role: new_id() for role in (*CONSENT_CAPABLE, HELPDESK_ADMIN)}
        world.fixture["applications"][self.partner.inventory_app]["required_roles"] = list(
            INVENTORY_ROLES)
        world.fixture["applications"][self.partner.partner_app].update(
            multitenant=True, redirect_uris=[SIGN_IN_CALLBACK])
        self.assignments: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {self.agent: {
            "userPrincipalName": "agent@partner.example", "groups": list(self.groups.values())}}
        world.fixture["partner_access"] = {
            "propagation_seconds": propagation_seconds,
            "partners": {self.partner.id: {"users": self.users, "signed_in_user": self.agent,
                                           "access_assignments": self.assignments}}}

    def customer(self, name: str, *, roles: list[str] | None = None, consented: bool = False,
                 gdap_status: str = "active") -> str:
        """A GDAP customer whose relationship assigns ``roles`` (default: may consent)."""
        tid = self.partner.customer(name, consented=consented, gdap_status=gdap_status)
        relationship = self.partner.data["gdap"]["relationships"][-1]["id"]
        self.assignments[relationship] = [
            {"group": self.groups[role], "roles": [role]}
            for role in (CONSENT_CAPABLE if roles is None else roles)]
        return tid

    def connect(self, harness: Harness) -> None:
        """Save the partner connection (GDAP) and discover its customers."""
        p = self.partner
        harness.services.partners.add(p.id, p.partner_app, SecretValue(p.partner_secret),
                                      p.inventory_app, SecretValue(p.inventory_secret),
                                      source="gdap")
        harness.services.partners.discover(p.id)


def browser_redirect(harness: Harness, url: str) -> str:
    """Open a sign-in address as the agent's browser, up to Entra's redirect: the address
    the browser is sent to (tenantsync's callback with Entra's answer)."""
    assert harness.sim is not None
    session = requests.Session()
    session.trust_env = False
    answer = session.get(url, allow_redirects=False, verify=harness.sim.ca_path, timeout=10)
    assert answer.status_code == 302, answer.text
    location = str(answer.headers["Location"])
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == SIGN_IN_CALLBACK
    return location


def sign_in(harness: Harness, partner_id: str) -> str:
    """Start the partner's sign-in and answer it as the agent's browser: the callback's
    query (what the browser would bring back to tenantsync)."""
    start = harness.services.partner_signin.start(partner_id)
    return urlsplit(browser_redirect(harness, start.url)).query
