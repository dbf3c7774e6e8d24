"""Microsoft Graph v1.0: groups, their direct members, and users."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from . import delta, paging
from .fixture import is_guid
from .model import DirectoryObject, Tenant
from .state import SimState
from .throttle import ACROSS_TENANTS, retry_after_header
from .tokens import GRAPH, bearer_claims, is_expired
from .wire import GRAPH_JSON, Request, Response, graph_error, json_response

GROUP_READ = frozenset(
    {
        "GroupMember.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.ReadWrite.All",
    }
)
USER_READ = frozenset(
    {"User.Read.All", "Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}
)

ODATA_TYPES = {
    "users": "#microsoft.graph.user",
    "groups": "#microsoft.graph.group",
    "devices": "#microsoft.graph.device",
    "contacts": "#microsoft.graph.orgContact",
}
CASTS = {
    "microsoft.graph.user": "users",
    "microsoft.graph.group": "groups",
    "microsoft.graph.device": "devices",
    "microsoft.graph.orgContact": "contacts",
}
# Properties Graph returns when there is no $select.
DEFAULT_PROPS = {
    "users": [
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ],
    "groups": [
        "description",
        "displayName",
        "groupTypes",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ],
    "devices": [
        "accountEnabled",
        "deviceId",
        "displayName",
        "operatingSystem",
        "operatingSystemVersion",
    ],
    "contacts": ["companyName", "displayName", "givenName", "jobTitle", "mail", "surname"],
}
# Further properties each type has (returned only when selected).
EXTRA_PROPS = {
    "users": [
        "accountEnabled",
        "companyName",
        "createdDateTime",
        "department",
        "employeeId",
        "onPremisesSyncEnabled",
        "otherMails",
        "proxyAddresses",
        "usageLocation",
        "userType",
    ],
    "groups": ["createdDateTime", "onPremisesSyncEnabled", "proxyAddresses", "visibility"],
    "devices": ["approximateLastSignInDateTime", "isCompliant", "isManaged", "trustType"],
    "contacts": ["department", "proxyAddresses"],
}
DEFAULT_VALUES: dict[str, Any] = {
    "businessPhones": [],
    "groupTypes": [],
    "proxyAddresses": [],
    "otherMails": [],
    "securityEnabled": True,
    "mailEnabled": False,
    "accountEnabled": True,
}
_UNSUPPORTED_OPTIONS = ("$filter", "$orderby", "$search", "$expand", "$count")
_DEFAULT_TOP = 100


def _not_found(req: Request, object_id: str) -> Response:
    return graph_error(
        req,
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def denied(req: Request) -> Response:
    return graph_error(
        req,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )


def bad_segment(req: Request, segment: str) -> Response:
    return graph_error(req, 400, "BadRequest", f"Resource not found for the segment '{segment}'.")


_CHALLENGE = {
    "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
    'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
}


def _unauthenticated(req: Request, message: str) -> Response:
    return graph_error(req, 401, "InvalidAuthenticationToken", message, dict(_CHALLENGE))


def authenticate(state: SimState, req: Request) -> dict[str, Any] | Response:
    """The token's claims, or the 401 Graph sends for a missing or invalid token."""
    header = req.header("authorization")
    if not header:
        return _unauthenticated(req, "Access token is empty.")
    claims = bearer_claims(state.signing_key, header)
    if claims is None:
        return _unauthenticated(req, "IDX14100: JWT is not well formed.")
    if is_expired(claims):
        return _unauthenticated(req, "Lifetime validation failed, the token is expired.")
    if claims.get("aud") != GRAPH:
        return _unauthenticated(req, "Access token validation failure. Invalid audience.")
    with state.lock:
        known = state.tenant(str(claims.get("tid", ""))) is not None
    if not known:
        return _unauthenticated(req, "Access token validation failure. Invalid issuer.")
    return claims


def select_of(req: Request) -> list[str] | None:
    raw = req.query.get("$select")
    if raw is None:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def render(
    obj: DirectoryObject, select: list[str] | None, can_read_users: bool, with_type: bool
) -> dict[str, Any]:
    """A directory object as Graph returns it; user properties are null without User.Read.All."""
    out: dict[str, Any] = {}
    if with_type:
        out["@odata.type"] = ODATA_TYPES[obj.kind]
    out["id"] = obj.id
    known = set(DEFAULT_PROPS[obj.kind]) | set(EXTRA_PROPS[obj.kind])
    hidden = obj.kind == "users" and not can_read_users
    for name in select if select is not None else DEFAULT_PROPS[obj.kind]:
        if name == "id" or (name not in known and name not in obj.props):
            continue  # Graph leaves out properties the type does not have
        out[name] = None if hidden else obj.props.get(name, DEFAULT_VALUES.get(name))
    return out


def _context(req: Request, entity_set: str, select: list[str] | None, suffix: str = "") -> str:
    chosen = f"({','.join(select)})" if select else ""
    return f"{req.base_url}/v1.0/$metadata#{entity_set}{chosen}{suffix}"


def _check_query(req: Request, paged: bool) -> Response | int:
    """Validate query options; returns the page size (or an error response)."""
    query = req.query
    for option in _UNSUPPORTED_OPTIONS:
        if option in query:
            return graph_error(
                req,
                400,
                "Request_UnsupportedQuery",
                f"The query option '{option}' is not supported by the simulator.",
            )
    if not paged or "$top" not in query:
        return _DEFAULT_TOP
    raw = query["$top"]
    if not raw.lstrip("-").isdigit():
        return graph_error(req, 400, "BadRequest", f"Invalid $top query option value '{raw}'.")
    top = int(raw)
    if not 1 <= top <= 999:
        return graph_error(
            req,
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive.",
        )
    return top


def handle(state: SimState, req: Request) -> Response:
    """Route a request under /v1.0."""
    segments = req.path[len("/v1.0/") :].strip("/").split("/")
    if segments[0] not in ("groups", "users"):
        return bad_segment(req, segments[0])
    if len(segments) == 1:
        return graph_error(
            req, 400, "Request_UnsupportedQuery", f"Listing all {segments[0]} is not simulated."
        )
    if req.method != "GET":
        return graph_error(
            req,
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request uri.",
        )
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    throttled = _over_app_budget(state, req, claims)
    if throttled is not None:
        return throttled
    object_id = segments[1]
    if object_id == "delta" and len(segments) == 2:
        roles = USER_READ if segments[0] == "users" else GROUP_READ
        return delta.handle(state, req, claims, segments[0], roles, USER_READ)
    if segments[0] == "users":
        if len(segments) > 2:
            return bad_segment(req, segments[2])
        return _get_object(state, req, claims, object_id, "users")
    if len(segments) == 2:
        return _get_object(state, req, claims, object_id, "groups")
    if segments[2] != "members":
        return bad_segment(req, segments[2])
    cast = None
    if len(segments) == 4:
        cast = CASTS.get(segments[3])
        if cast is None:
            return bad_segment(req, segments[3])
    elif len(segments) > 4:
        return bad_segment(req, segments[4])
    return _members(state, req, claims, object_id, cast)


def _over_app_budget(state: SimState, req: Request, claims: dict[str, Any]) -> Response | None:
    """Graph's 429 when the app has spent its identity and access budget across all tenants
    (throttling-limits: per app across tenants, whatever tenant asks), else None."""
    wait = state.limiter.admit(str(claims.get("appid", "")), ACROSS_TENANTS, "directory")
    if wait is None:
        return None
    return graph_error(req, 429, "TooManyRequests",
                       "Too many requests for this application across all tenants.",
                       {"Retry-After": retry_after_header(wait)})


def _get_object(
    state: SimState, req: Request, claims: dict[str, Any], object_id: str, kind: str
) -> Response:
    checked = _check_query(req, paged=False)
    if isinstance(checked, Response):
        return checked
    if not is_guid(object_id):
        return graph_error(
            req, 400, "Request_BadRequest", f"Invalid object identifier '{object_id}'."
        )
    roles = set(claims.get("roles") or [])
    if not roles & (GROUP_READ if kind == "groups" else USER_READ):
        return denied(req)
    select = select_of(req)
    with state.lock:
        tenant = state.tenant(str(claims["tid"]))
        obj = tenant.objects.get(object_id.lower()) if tenant else None
        if obj is None or obj.kind != kind:
            return _not_found(req, object_id)
        body = {"@odata.context": _context(req, kind, select, "/$entity")}
        body.update(render(obj, select, can_read_users=True, with_type=False))
    return json_response(200, body, content_type=GRAPH_JSON)


def next_link(
    req: Request,
    state: SimState,
    cursor: paging.Cursor,
    options: tuple[str, ...] = ("$top", "$select"),
) -> str:
    """The absolute @odata.nextLink: the request's `options` plus a new $skiptoken."""
    params: list[tuple[str, str]] = []
    query = req.query
    for option in options:
        if option in query:
            params.append((option, query[option]))
    params.append(("$skiptoken", paging.encode(state.marker, cursor)))
    encoded = urlencode(params, safe="$,()'", quote_via=quote)
    return f"{req.base_url}{req.path}?{encoded}"


def _members(
    state: SimState, req: Request, claims: dict[str, Any], group_id: str, cast: str | None
) -> Response:
    checked = _check_query(req, paged=True)
    if isinstance(checked, Response):
        return checked
    top = checked
    if not is_guid(group_id):
        return graph_error(
            req, 400, "Request_BadRequest", f"Invalid object identifier '{group_id}'."
        )
    start = paging.start_of(state.marker, req.query.get("$skiptoken"))
    if start is None:
        return graph_error(req, 400, "Request_BadRequest", "The $skiptoken is not valid.")
    offset, page = start.offset, start.page
    roles = set(claims.get("roles") or [])
    if not roles & GROUP_READ:
        return denied(req)
    select = select_of(req)
    with state.lock:
        tenant: Tenant | None = state.tenant(str(claims["tid"]))
        group = tenant.objects.get(group_id.lower()) if tenant else None
        if tenant is None or group is None or group.kind != "groups":
            return _not_found(req, group_id)
        ids = tenant.members.get(group.id, [])  # every id is an object of the tenant
        if cast is None:  # O(page): slice the ids, then look up only those
            total = len(ids)
            chunk = [tenant.objects[m] for m in ids[offset : offset + top]]
        else:
            members = [tenant.objects[m] for m in ids if tenant.objects[m].kind == cast]
            total = len(members)
            chunk = members[offset : offset + top]
        can_read_users = bool(roles & USER_READ)
        value = [render(m, select, can_read_users, with_type=True) for m in chunk]
        more = offset + top < total
    body: dict[str, Any] = {"@odata.context": _context(req, cast or "directoryObjects", select)}
    if more:
        body["@odata.nextLink"] = next_link(
            req, state, paging.Cursor(offset=offset + top, page=page + 1)
        )
    body["value"] = value
    return json_response(200, body, content_type=GRAPH_JSON)
