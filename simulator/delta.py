"""Microsoft Graph v1.0 `users/delta` and `groups/delta` (delta query).

Documented shapes (learn.microsoft.com/graph/api/user-delta, group-delta, delta-query-overview):
a round without a state token returns every object; a deltaLink's round returns the objects
changed since it was issued, in their current state, `@removed` (with its reason) for those
gone. `$select=members` on groups gives `members@delta`: id and `@odata.type` only, a removed
member with `@removed`. `$filter` takes `id eq '...'` joined by `or`, at most 50 ids.
`$deltatoken=latest` returns just a deltaLink. The query is encoded in the state tokens of
nextLink and deltaLink, which are reused verbatim. A large group continues on the next page
(the same group again, more `members@delta`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

from .delta_log import DeltaLog
from .model import Tenant
from .state import SimState
from .wire import GRAPH_JSON, Request, Response, graph_error, json_response

MAX_FILTER_IDS = 50  # user-delta / group-delta: "up to 50" ids combined with `or`
_ID_CLAUSE = re.compile(r"^id eq '([0-9A-Fa-f-]{36})'$")
_UNSUPPORTED = ("$expand", "$orderby", "$search", "$count")  # $top is silently ignored
_TYPES = {"users": "#microsoft.graph.user", "groups": "#microsoft.graph.group",
          "devices": "#microsoft.graph.device", "contacts": "#microsoft.graph.orgContact"}


def _sign(state: SimState, payload: bytes) -> str:
    return hmac.new(state.signing_key, payload, hashlib.sha256).hexdigest()[:24]


def encode_token(state: SimState, query: dict[str, Any]) -> str:
    payload = json.dumps(query, separators=(",", ":")).encode()
    # Hex, not base64 of JSON: Graph's delta tokens are opaque, and a stored deltaLink must
    # not look like a JWT (the secret scans look for those in every table).
    return f"{payload.hex()}.{_sign(state, payload)}"


def decode_token(state: SimState, token: str) -> dict[str, Any] | None:
    body, _, mac = token.partition(".")
    try:
        payload = bytes.fromhex(body)
        query = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(query, dict) or not hmac.compare_digest(mac, _sign(state, payload)):
        return None
    return query if query.get("m") == state.marker else None


def _parse_filter(raw: str | None) -> list[str] | str | None:
    """The ids of `$filter`, None without one, or an error message."""
    if raw is None:
        return None
    ids = []
    for clause in re.split(r"\s+or\s+", raw.strip()):
        found = _ID_CLAUSE.match(clause.strip())
        if found is None:
            return "Filter not supported: only id eq '{id}' clauses joined by 'or'."
        ids.append(found.group(1).lower())
    if len(ids) > MAX_FILTER_IDS:
        return f"Filter not supported: at most {MAX_FILTER_IDS} ids may be combined."
    return ids


def _link(req: Request, kind: str, name: str, token: str) -> str:
    return f"{req.base_url}/v1.0/{kind}/delta?{urlencode([(name, token)], quote_via=quote)}"


def handle(state: SimState, req: Request, claims: dict[str, Any], kind: str,
           read_roles: frozenset[str], user_roles: frozenset[str]) -> Response:
    """GET /v1.0/users/delta or /v1.0/groups/delta (the caller authenticated the token)."""
    if not set(claims.get("roles") or []) & read_roles:
        return graph_error(req, 403, "Authorization_RequestDenied",
                           "Insufficient privileges to complete the operation.")
    can_read_users = bool(set(claims.get("roles") or []) & user_roles)
    tenant_id = str(claims["tid"])
    state_token = req.query.get("$skiptoken") or req.query.get("$deltatoken")
    if state_token is not None and state_token != "latest":
        query = decode_token(state, state_token)
        if query is None or query.get("k") != kind or query.get("t") != tenant_id:
            return graph_error(req, 400, "Request_BadRequest",
                               "The delta token or skip token is not valid.")
        if "$deltatoken" in req.query:  # a new round: what changed up to now
            with state.lock:
                tenant = state.tenant(tenant_id)
                query = {**query, "upto": tenant.delta.seq if tenant else 0, "a": "", "o": 0}
        return _stale(state, req, kind, query) or _page(state, req, kind, query,
                                                        can_read_users)
    for option in _UNSUPPORTED:
        if option in req.query:
            return graph_error(req, 400, "Request_UnsupportedQuery",
                               f"The query option '{option}' is not supported with delta.")
    ids = _parse_filter(req.query.get("$filter"))
    if isinstance(ids, str):
        return graph_error(req, 400, "Request_BadRequest", ids)
    raw_select = req.query.get("$select")
    select = [s.strip() for s in raw_select.split(",") if s.strip()] if raw_select else None
    with state.lock:
        tenant = state.tenant(tenant_id)
        seq = tenant.delta.seq if tenant else 0
    query = {"m": state.marker, "t": tenant_id, "k": kind, "s": select, "f": ids,
             "since": None, "upto": seq, "a": "", "o": 0, "i": time.time()}
    if state_token == "latest":  # "sync from now": no objects, just a deltaLink
        query["since"] = seq
        body = {"@odata.context": f"{req.base_url}/v1.0/$metadata#{kind}",
                "@odata.deltaLink": _link(req, kind, "$deltatoken", encode_token(state, query)),
                "value": []}
        return json_response(200, body, content_type=GRAPH_JSON)
    return _page(state, req, kind, query, can_read_users)


def _stale(state: SimState, req: Request, kind: str, query: dict[str, Any]) -> Response | None:
    """The answer to a token the service no longer holds state for, if it is one."""
    with state.lock:
        tenant = state.tenant(str(query["t"]))
        log = tenant.delta if tenant else DeltaLog()
        lifetime = state.delta.token_lifetime
    issued = float(query.get("i") or 0)
    if issued < log.reset_before:
        # After tenant maintenance: 410 Gone, Location = the query to start again from.
        fresh: list[tuple[str, str]] = []
        if query.get("s"):
            fresh.append(("$select", ",".join(query["s"])))
        if query.get("f"):
            fresh.append(("$filter", " or ".join(f"id eq '{i}'" for i in query["f"])))
        location = f"{req.base_url}/v1.0/{kind}/delta"
        if fresh:
            location += "?" + urlencode(fresh, safe="$'", quote_via=quote)
        return graph_error(req, 410, "resyncRequired",
                           "The delta token is no longer valid: start a new round.",
                           {"Location": location})
    if issued < log.expired_before or time.time() - issued > lifetime:
        # Tokens of users and groups live 7 days (delta-query-overview, Token duration).
        return graph_error(req, 400, "syncStateNotFound",
                           "The requested sync state was not found: it has expired.")
    return None


def _candidates(tenant: Tenant, kind: str, query: dict[str, Any]) -> list[str]:
    """The round's objects, sorted by id (pages resume after the last id sent)."""
    since, ids = query["since"], query["f"]
    log = tenant.delta
    if since is None:
        found = {o for o, obj in tenant.objects.items() if obj.kind == kind}
    else:
        members = kind == "groups" and (query["s"] is None or "members" in query["s"])
        found = {o for o in log.changed_since(since)
                 if (o in tenant.objects and tenant.objects[o].kind == kind)
                 or (o in log.gone and log.gone[o][0] == kind)}
        if members:
            found |= {g for g in log.members if g in tenant.objects
                      and log.members_since(g, since)}
    if ids is not None:
        found &= set(ids)
    return sorted(found)


def _member_entries(tenant: Tenant, group_id: str, since: int | None) -> list[dict[str, Any]]:
    current = tenant.members.get(group_id, [])
    if since is None:
        return [{"@odata.type": _TYPES[tenant.objects[m].kind], "id": m} for m in current]
    present = set(current)
    entries = []
    for member_id, member_kind in sorted(tenant.delta.members_since(group_id, since).items()):
        entry: dict[str, Any] = {"@odata.type": _TYPES.get(member_kind, _TYPES["users"]),
                                 "id": member_id}
        if member_id not in present:
            entry["@removed"] = {"reason": "deleted"}
        entries.append(entry)
    return entries


def _page(state: SimState, req: Request, kind: str, query: dict[str, Any],
          can_read_users: bool) -> Response:
    from .graph import render  # the objects' shapes are the ones GET /users/{id} returns

    select = query["s"]
    with_members = kind == "groups" and (select is None or "members" in select)
    props = [p for p in select if p != "members"] if select is not None else None
    config = state.delta
    value: list[dict[str, Any]] = []
    budget = config.members_page
    after, offset = str(query["a"]), int(query["o"])
    more = False
    with state.lock:
        tenant = state.tenant(str(query["t"]))
        candidates = _candidates(tenant, kind, query) if tenant else []
        start = next((n for n, c in enumerate(candidates)
                      if c > after or (c == after and offset)), len(candidates))
        limit = config.users_page if kind == "users" else config.groups_page
        for object_id in candidates[start:]:
            if len(value) >= limit or (with_members and budget <= 0):
                more = True
                break
            assert tenant is not None
            obj = tenant.objects.get(object_id)
            if obj is None or obj.kind != kind:
                reason = tenant.delta.gone.get(object_id, (kind, "changed"))[1]
                value.append({"id": object_id, "@removed": {"reason": reason}})
                after, offset = object_id, 0
                continue
            item = render(obj, props, can_read_users or kind != "users", with_type=False)
            if with_members:
                skip = offset if object_id == after else 0
                entries = _member_entries(tenant, object_id, query["since"])[skip:]
                chunk = entries[:budget]
                budget -= len(chunk)
                if chunk or not skip:
                    item["members@delta"] = chunk
                if len(chunk) < len(entries):  # the group goes on on the next page
                    value.append(item)
                    after, offset, more = object_id, skip + len(chunk), True
                    break
            value.append(item)
            after, offset = object_id, 0
    if config.repeat and value:
        value.append(value[0])  # replays are documented: the same object twice
    body: dict[str, Any] = {"@odata.context": f"{req.base_url}/v1.0/$metadata#{kind}"}
    if more:
        cursor = {**query, "a": after, "o": offset}
        body["@odata.nextLink"] = _link(req, kind, "$skiptoken", encode_token(state, cursor))
    else:
        done = {**query, "since": query["upto"], "a": "", "o": 0}
        if query["since"] != query["upto"]:
            done["i"] = time.time()  # a new round's token (an unchanged one stays as it was)
        body["@odata.deltaLink"] = _link(req, kind, "$deltatoken", encode_token(state, done))
    body["value"] = value
    return json_response(200, body, content_type=GRAPH_JSON)
