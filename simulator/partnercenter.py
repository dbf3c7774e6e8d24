"""Partner Center (api.partnercenter.microsoft.com) under {base}/partnercenter: customers.

GET /partnercenter/v1/customers?size=N answers a seek-based collection. Every page but the
last has links.next = {"uri": "/v1/customers?size=N&seekOperation=Next", "method": "GET",
"headers": [{"key": "MS-ContinuationToken", "value": TOKEN}]}: the client sends that
header with that uri to read the next page.
"""

from __future__ import annotations

import json
from typing import Any

from . import paging
from .model import PartnerCenter
from .state import SimState
from .tokens import PARTNER_CENTER, bearer_claims, is_expired
from .wire import Request, Response, partner_center_error, raw_json

PREFIX = "/partnercenter"
CONTINUATION = "MS-ContinuationToken"
MAX_SIZE = 500  # the Partner Center SDKs allow 1..500 customers per page


def _unauthorized(description: str) -> Response:
    return partner_center_error(401, 900420, description, {"WWW-Authenticate": "Bearer"})


def _forbidden(description: str) -> Response:
    return partner_center_error(403, 1002, description)


def _bad_request(description: str) -> Response:
    return partner_center_error(400, 400, description)


def handle(state: SimState, req: Request) -> Response:
    """Route a request under /partnercenter."""
    parts = req.path[len(PREFIX) :].strip("/").split("/")
    if [part.lower() for part in parts] != ["v1", "customers"]:
        return partner_center_error(404, 404, f"The resource '{req.path}' was not found.")
    if req.method != "GET":
        return partner_center_error(405, 405, f"The method {req.method} is not allowed.")
    claims = bearer_claims(state.signing_key, req.header("authorization"))
    if claims is None:
        return _unauthorized("Invalid Token")
    if is_expired(claims):
        return _unauthorized("Invalid Token: the token is expired")
    if claims.get("aud") != PARTNER_CENTER:
        return _unauthorized(f"The audience '{claims.get('aud')}' in the token is invalid.")
    tenant_id, client_id = str(claims.get("tid", "")), str(claims.get("appid", ""))
    with state.lock:
        tenant = state.tenant(tenant_id)
        if tenant is None:
            return _unauthorized("Invalid Token: unknown tenant")
        center: PartnerCenter | None = tenant.partner_center
        installed = frozenset(tenant.roles)
    if center is None:
        return _forbidden("Authorization Failed: the tenant is not a Partner Center partner.")
    allowed = installed if center.app_access is None else center.app_access
    if client_id not in allowed:
        return _forbidden("Authorization Failed: the application has no Partner Center access.")
    return _customers(state, req, center)


def _size(req: Request) -> int | Response:
    raw = req.query.get("size")
    if raw is None or raw == "0":
        return MAX_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SIZE:
        return _bad_request(f"Invalid size '{raw}': allowed page sizes are 0-{MAX_SIZE}.")
    return int(raw)


def _customers(state: SimState, req: Request, center: PartnerCenter) -> Response:
    size = _size(req)
    if isinstance(size, Response):
        return size
    offset, page = 0, 1
    seek = req.query.get("seekOperation")
    if seek is not None:
        if seek.lower() != "next":
            return _bad_request(f"The seek operation '{seek}' is not supported (only Next).")
        token = req.header(CONTINUATION.lower())
        cursor = paging.decode(state.marker, token) if token else None
        if cursor is None:
            return _bad_request(f"A valid {CONTINUATION} header is required with seekOperation.")
        offset, page = cursor.offset, cursor.page
    items = center.customers.page(offset, size)
    links: dict[str, Any] = {
        "self": {"uri": f"/v1/customers?size={size}", "method": "GET", "headers": []}
    }
    body: dict[str, Any] = {"totalCount": len(items), "items": items}
    if offset + size < len(center.customers):
        token = paging.encode(state.marker, paging.Cursor(offset=offset + size, page=page + 1))
        links["next"] = {
            "uri": f"/v1/customers?size={size}&seekOperation=Next",
            "method": "GET",
            "headers": [{"key": CONTINUATION, "value": token}],
        }
        body["continuationToken"] = token
    body["links"] = links
    body["attributes"] = {"objectType": "Collection"}
    return raw_json(200, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8")


def page_of(state: SimState, req: Request) -> int | None:
    """Page number of a request, for faults: 1 unless it seeks with a continuation token."""
    if req.query.get("seekOperation") is None:
        return 1
    return paging.page_of(state.marker, req.header(CONTINUATION.lower()) or "")
