"""Graph v1.0 `GET /groups`: a tenant's groups, for choosing a level-0 group by name.

Only the filters an onboarding portal needs are simulated: `securityEnabled eq true`
(security groups), optionally `and startswith(displayName,'...')` (case-insensitive, as
Graph's `startswith` is). Anything else in `$filter`, and `$search`, `$orderby`, `$count`,
`$expand`, get 400 `Request_UnsupportedQuery`. Permissions: "List groups" (v1.0) lists
GroupMember.Read.All first, then Group.Read.All, Directory.Read.All and the ReadWrite forms.
"""

from __future__ import annotations

import re
from typing import Any

from . import paging
from .graph import GROUP_READ, _context, authenticate, denied, next_link, render, select_of
from .state import SimState
from .wire import GRAPH_JSON, Request, Response, graph_error, json_response

_FILTER = re.compile(
    r"^\s*securityEnabled\s+eq\s+true"
    r"(?:\s+and\s+startswith\(\s*displayName\s*,\s*'((?:[^']|'')*)'\s*\))?\s*$"
)
_UNSUPPORTED = ("$orderby", "$search", "$expand", "$count", "$skip")
_DEFAULT_TOP = 100  # "The default and maximum page sizes are 100 and 999 group objects"


def _unsupported(req: Request, message: str) -> Response:
    return graph_error(req, 400, "Request_UnsupportedQuery", message)


def handle(state: SimState, req: Request) -> Response:
    """GET /v1.0/groups with the simulated filters, paged with $top and $skiptoken."""
    if req.method != "GET":
        return graph_error(req, 405, "Request_BadRequest",
                           "Specified HTTP method is not allowed for the request uri.")
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    for option in _UNSUPPORTED:
        if option in req.query:
            return _unsupported(req, f"The query option '{option}' is not simulated on groups.")
    match = _FILTER.match(req.query.get("$filter", ""))
    if match is None:
        return _unsupported(req, "Only $filter=securityEnabled eq true [and "
                                 "startswith(displayName,'...')] is simulated on groups.")
    prefix = (match.group(1) or "").replace("''", "'").lower()
    raw_top = req.query.get("$top", str(_DEFAULT_TOP))
    if not raw_top.isdigit() or not 1 <= int(raw_top) <= 999:
        return _unsupported(req, f"Invalid page size specified: '{raw_top}'. Must be between "
                                 "1 and 999 inclusive.")
    top = int(raw_top)
    start = paging.start_of(state.marker, req.query.get("$skiptoken"))
    if start is None:
        return graph_error(req, 400, "Request_BadRequest", "The $skiptoken is not valid.")
    offset, page = start.offset, start.page
    if not set(claims.get("roles") or []) & GROUP_READ:
        return denied(req)
    select = select_of(req)
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        groups = [
            obj for obj in (tenant.objects.values() if tenant else [])
            if obj.kind == "groups" and obj.props.get("securityEnabled", True) is True
            and str(obj.props.get("displayName") or "").lower().startswith(prefix)
        ]
        chunk = groups[offset: offset + top]
        value = [render(g, select, can_read_users=True, with_type=False) for g in chunk]
        more = offset + top < len(groups)
    body: dict[str, Any] = {"@odata.context": _context(req, "groups", select)}
    if more:
        body["@odata.nextLink"] = next_link(req, state, paging.Cursor(offset + top, page + 1),
                                            ("$filter", "$top", "$select"))
    body["value"] = value
    return json_response(200, body, content_type=GRAPH_JSON)
