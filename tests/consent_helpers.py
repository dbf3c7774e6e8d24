"""Helpers for the admin-consent tests: the admin's browser, as far as the redirect."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import Harness
from tests.world import Deployment, Partner, Tenant, World, seed_example


def redirect_of(harness: Harness, url: str) -> str:
    """Open a consent link as the admin's browser does, up to Entra's redirect; returns the
    callback's query string (what the browser would send to tenantsync)."""
    assert harness.sim is not None
    session = requests.Session()
    session.trust_env = False
    response = session.get(url, allow_redirects=False, verify=harness.sim.ca_path, timeout=10)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}".endswith(
        "/api/consent/callback")
    return location.query


def query_of(query: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


def consent_world(world: World, **deployment: Any) -> tuple[Deployment, Tenant, dict[str, str]]:
    """The deployment's apps and the seed's example tenant, which has not consented yet."""
    d = Deployment(world, **deployment)
    t, ids = seed_example(world)
    return d, t, ids


def intune_customer(world: World, name: str = "Northwind") -> str:
    """A tenant with Intune data and an organization (no app of the deployment yet)."""
    partner = Partner(world, name=f"{name} reseller")
    return partner.customer(name, consented=False)
