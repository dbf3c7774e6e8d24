"""Routing of the partner side's endpoints (sign-in, Partner Center consent, service
principals), kept out of `sim.py`: which kind a path is, and the handler of each kind."""

from __future__ import annotations

from typing import Any

from . import partner_consent, partner_signin, partnercenter, service_principals
from .partner_access import parse_partner_access
from .state import SimState
from .wire import Request, Response

_AUTHORIZE_PATH = ["oauth2", "v2.0", "authorize"]


def classify(parts: list[str]) -> tuple[str, str | None] | None:
    """(kind, tenant named in the path) of a partner-side path, None for any other."""
    lowered = [part.lower() for part in parts]
    if lowered and lowered[0] == "partnercenter" and partner_consent.matches(lowered[1:]):
        return "partnercenter.applicationconsents", None
    if lowered and lowered[0] == "v1.0" and service_principals.is_path(lowered[1:]):
        gdap = lowered[1] == "tenantrelationships"
        return ("graph.accessAssignments" if gdap else "graph.servicePrincipals"), None
    if len(parts) == 4 and lowered[1:] == _AUTHORIZE_PATH:
        return "authorize", parts[0]
    return None


def load(state: SimState, fixture: dict[str, Any]) -> None:
    """Read the fixture's `partner_access` into the state. Raises FixtureError."""
    state.partner_access = parse_partner_access(fixture.get("partner_access"), state.world)


def route(state: SimState, kind: str, path_tenant: str | None, req: Request) -> Response | None:
    """The answer of a partner-side kind (None: not one of them)."""
    if kind == "token" and path_tenant is not None and req.method == "POST":
        with state.lock:  # principals and roles whose propagation delay has passed
            state.partner_access.settle(state.world)
        if partner_signin.is_delegated_grant(req):
            return partner_signin.token(state, req, path_tenant)
        return None
    if kind == "authorize" and path_tenant is not None:
        return partner_signin.authorize(state, req, path_tenant)
    if kind in ("graph.servicePrincipals", "graph.accessAssignments"):
        return service_principals.handle(state, req)
    if kind == "partnercenter.applicationconsents":
        parts = req.path[len(partnercenter.PREFIX):].strip("/").split("/")
        return partner_consent.handle(state, req, [p.lower() for p in parts])
    return None
