"""The control API under /_sim: the same operations as the Simulator methods, over HTTPS."""

from __future__ import annotations

from typing import Any

from .delta_log import PERMANENTLY_DELETED, SOFT_DELETED
from .export_jobs import parse_export_config
from .fixture import FixtureError, fail
from .state import SimState
from .wire import Request, Response, json_response

_OK = {"ok": True}


def _body(req: Request) -> Any:
    try:
        return req.json_body()
    except ValueError:
        fail("body", "is not valid JSON")


def _id_list(raw: object, name: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        fail(name, "must be a list of object ids")
    return raw


def handle(state: SimState, req: Request) -> Response:
    """Route /_sim/...; invalid input gives 400 {"error": message}."""
    try:
        return _route(state, req)
    except FixtureError as exc:
        return json_response(400, {"error": str(exc)})


def _route(state: SimState, req: Request) -> Response:
    parts = req.path[len("/_sim/") :].strip("/").split("/")
    method = req.method
    if parts == ["faults"] and method == "PUT":
        state.set_faults(_body(req))
        return json_response(200, _OK)
    if parts == ["faults"] and method == "DELETE":
        state.clear_faults()
        return json_response(200, _OK)
    if parts == ["stats"] and method == "GET":
        return json_response(200, state.stats())
    if parts == ["stats", "reset"] and method == "POST":
        state.reset_stats()
        return json_response(200, _OK)
    if parts == ["latency"] and method == "PUT":
        body = _body(req)
        if not isinstance(body, dict) or "seconds" not in body:
            fail("body", 'must be {"seconds": number}')
        state.set_latency(body["seconds"])
        return json_response(200, _OK)
    if parts == ["throttling"] and method == "PUT":
        state.set_throttling(_body(req))
        return json_response(200, _OK)
    if parts == ["export_jobs"] and method == "PUT":
        state.exports.configure(parse_export_config(_body(req)))
        return json_response(200, _OK)
    if parts == ["delta"] and method == "PUT":
        state.set_delta_paging(_body(req))
        return json_response(200, _OK)
    expiry = len(parts) == 3 and parts[0] == "tenants" and parts[2] in ("delta_expiry",
                                                                         "delta_resync")
    if expiry and method == "POST":
        state.expire_delta_tokens(parts[1], resync=parts[2] == "delta_resync")
        return json_response(200, _OK)
    if len(parts) == 2 and parts[0] == "tenants" and method == "PATCH":
        state.update_tenant(parts[1], _body(req))
        return json_response(200, _OK)
    if len(parts) == 3 and parts[0] == "applications" and method == "PUT":
        return _application_route(state, req, parts[1], parts[2])
    if parts == ["federation_delay"] and method == "PUT":
        state.set_federation_delay(_field(_body(req), "seconds", '{"seconds": number}'))
        return json_response(200, _OK)
    if parts == ["signed_in_admin"] and method == "PUT":
        state.set_signed_in_admin(_field(_body(req), "tenant", '{"tenant": id or null}'))
        return json_response(200, _OK)
    consent = len(parts) == 3 and parts[0] == "tenants" and parts[2] == "admin_consent"
    if consent and method == "PUT":
        decision = _field(_body(req), "decision", '{"decision": "accept" or "refuse"}')
        state.set_admin_consent(parts[1], decision)
        return json_response(200, _OK)
    if len(parts) >= 4 and parts[0] == "tenants":
        return _tenant_route(state, req, parts[1], parts[2:])
    if parts[0] in ("subscriptions", "notification_delay", "subscription_quota",
                    "notifications"):
        return _subscription_route(state, req, parts)
    return json_response(404, {"error": f"no control route {method} {req.path}"})


def _subscription_route(state: SimState, req: Request, parts: list[str]) -> Response:
    """Change notifications: the delay, the quota, lifecycle events, removals."""
    subs, method = state.subscriptions, req.method
    if parts == ["notification_delay"] and method == "PUT":
        subs.set_delay(_field(_body(req), "seconds", '{"seconds": number}'))
    elif parts == ["subscription_quota"] and method == "PUT":
        subs.set_quota(_field(_body(req), "limit", '{"limit": number}'))
    elif parts == ["notifications"] and method == "GET":
        return json_response(200, {"value": [
            {"url": d.url, "status": d.status, "at": d.at, "seconds": round(d.seconds, 4),
             "count": len(d.body.get("value") or [])} for d in subs.notifier.recorded()]})
    elif parts == ["subscriptions"] and method == "GET":
        return json_response(200, {"value": [{**s.as_json(), "tenantId": s.tenant_id}
                                             for s in subs.live()]})
    elif len(parts) == 2 and method == "DELETE":
        subs.remove(parts[1])
    elif len(parts) == 3 and parts[2] == "reauthorization_required" and method == "POST":
        subs.require_reauthorization(parts[1])
    else:
        return json_response(404, {"error": f"no control route {method} {req.path}"})
    return json_response(200, _OK)


def _field(body: object, name: str, shape: str) -> Any:
    if not isinstance(body, dict) or name not in body or len(body) != 1:
        fail("body", f"must be {shape}")
    return body[name]


def _application_route(state: SimState, req: Request, client_id: str, part: str) -> Response:
    """PUT /_sim/applications/{id}/secrets|certificates|federated_credentials [...]."""
    setters = {
        "secrets": state.set_app_secrets,
        "certificates": state.set_app_certificates,
        "federated_credentials": state.set_federated_credentials,
    }
    setter = setters.get(part)
    if setter is None:
        return json_response(404, {"error": f"no control route {req.method} {req.path}"})
    setter(client_id, _body(req))
    return json_response(200, _OK)


def _tenant_route(state: SimState, req: Request, tenant: str, rest: list[str]) -> Response:
    method = req.method
    if len(rest) == 3 and rest[0] == "groups" and rest[2] == "members" and method == "POST":
        body = _body(req)
        if not isinstance(body, dict):
            fail("body", 'must be {"add": [ids], "remove": [ids]}')
        add, remove = _id_list(body.get("add"), "add"), _id_list(body.get("remove"), "remove")
        state.change_members(tenant, rest[1], add, remove)
        return json_response(200, _OK)
    if len(rest) == 2 and rest[0] == "objects" and method == "PUT":
        state.upsert_object(tenant, rest[1], _body(req))
        return json_response(200, _OK)
    if len(rest) == 3 and rest[0] == "objects" and method == "DELETE":
        # ?permanent=true: a hard delete (users/groups delta say `deleted`, not `changed`).
        permanent = req.query.get("permanent") == "true"
        state.delete_object(tenant, rest[1], rest[2],
                            PERMANENTLY_DELETED if permanent else SOFT_DELETED)
        return json_response(200, _OK)
    if len(rest) == 2 and rest[0] == "service_principals" and method in ("PUT", "DELETE"):
        roles = None
        if method == "PUT":
            body = _body(req)
            if not isinstance(body, dict) or not isinstance(body.get("roles"), list):
                fail("body", 'must be {"roles": [names]}')
            roles = body["roles"]
        state.set_roles(tenant, rest[1], roles)
        return json_response(200, _OK)
    return json_response(404, {"error": f"no control route {method} {req.path}"})
