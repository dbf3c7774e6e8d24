"""Microsoft Graph v1.0 `/subscriptions` for users and groups: create, list, get, renew,
delete, reauthorize; notifications after a change made through the control API; and
`reauthorizationRequired` lifecycle events on demand.

Follows the subscription resource and "Create subscription" pages and the facts in
shared/reference/directory-changes.md section 2: one id per resource (`/users`,
`/users/{id}`, `/groups`, `/groups/{id}`, `/groups/{id}/members`); changeType `updated`
and `deleted` only; clientState at most 128 characters; at most 41,760 minutes of life;
100 user and 100 group subscriptions per app and tenant (403 naming the limit); the
validation handshake before the create answers (400 when it fails). Notifications carry
ids only. Expired subscriptions are gone, as Graph deletes them.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .notifier import Notifier, handshake, loopback_url
from .validate import FixtureError, fail
from .wire import Request, Response, graph_error, json_response, now_utc

if TYPE_CHECKING:
    from .state import SimState

MAX_MINUTES = 41_760  # "Maximum length of subscription: 41,760 minutes (under 29 days)"
MAX_CLIENT_STATE = 128
DEFAULT_QUOTA = 100  # per app and tenant, for user and for group subscriptions
CHANGE_TYPES = frozenset({"updated", "deleted"})
_RESOURCE = re.compile(
    r"^/?(users|groups)(?:/([0-9a-fA-F-]{36})(/members)?)?$", re.IGNORECASE)
_KEYS = frozenset({"changeType", "notificationUrl", "resource", "expirationDateTime",
                   "clientState", "lifecycleNotificationUrl", "latestSupportedTlsVersion",
                   "includeResourceData", "@odata.type"})
# App permissions that allow a subscription (Create subscription, "Permissions"): users need
# User.Read.All; groups need Group.Read.All (GroupMember.Read.All is not listed for it).
_USERS = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                    "Directory.ReadWrite.All"})
_GROUPS = frozenset({"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
                     "Directory.ReadWrite.All"})


@dataclass
class Subscription:
    id: str
    tenant_id: str
    app_id: str
    resource: str  # as given
    entity_set: str  # users | groups
    object_id: str | None
    members_only: bool
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    reauthorize: bool = False  # a reauthorizationRequired event is pending

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "resource": self.resource, "applicationId": self.app_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state, "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _iso(self.expires), "creatorId": self.app_id,
            "includeResourceData": False, "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None, "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    def matches(self, entity_set: str, object_id: str, change: str, membership: bool) -> bool:
        if self.reauthorize or change not in self.change_types or entity_set != self.entity_set:
            return False
        if self.object_id is not None and self.object_id != object_id:
            return False
        return membership or not self.members_only


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Subscriptions:
    """Every subscription of the simulator, with its own lock (the handshake and the
    deliveries run outside the state's lock)."""

    notifier: Notifier = field(default_factory=Notifier)
    quota: int = DEFAULT_QUOTA
    items: dict[str, Subscription] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self) -> list[Subscription]:
        now = now_utc()
        with self.lock:
            for sub_id in [s.id for s in self.items.values() if s.expires <= now]:
                del self.items[sub_id]
            return list(self.items.values())

    def changed(self, tenant_id: str, entity_set: str, object_id: str, change: str, *,
                membership: bool = False) -> None:
        """A change made through the control API: one notification per matching
        subscription, batched per notification URL."""
        batches: dict[str, list[dict[str, Any]]] = {}
        for sub in self.live():
            if sub.tenant_id == tenant_id and sub.matches(entity_set, object_id, change,
                                                          membership):
                batches.setdefault(sub.notification_url, []).append(
                    _notification(sub, entity_set, object_id, change))
        for url, value in batches.items():
            self.notifier.send(url, {"value": value})

    def require_reauthorization(self, sub_id: str) -> None:
        """Send a `reauthorizationRequired` lifecycle event; until the subscription is
        reauthorized or renewed, no notification is delivered for it."""
        with self.lock:
            sub = self.items.get(sub_id.lower())
            if sub is None:
                fail("subscription", f"no subscription '{sub_id}'")
            sub.reauthorize = True
        if sub.lifecycle_url:
            self.notifier.send(sub.lifecycle_url, {"value": [{
                "subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso(sub.expires),
                "tenantId": sub.tenant_id, "clientState": sub.client_state,
                "lifecycleEvent": "reauthorizationRequired"}]})

    def remove(self, sub_id: str) -> None:
        """Graph removes a subscription (as after a missed renewal)."""
        with self.lock:
            if self.items.pop(sub_id.lower(), None) is None:
                fail("subscription", f"no subscription '{sub_id}'")

    def set_quota(self, raw: object) -> None:
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100_000:
            fail("limit", "must be a whole number from 0 to 100000")
        with self.lock:
            self.quota = raw

    def set_delay(self, raw: object) -> None:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 <= raw <= 900:
            fail("seconds", "must be a number from 0 to 900")
        self.notifier.delay = float(raw)


def _notification(sub: Subscription, entity_set: str, object_id: str,
                  change: str) -> dict[str, Any]:
    name = "Users" if entity_set == "users" else "Groups"
    return {
        "id": str(uuid.uuid4()),
        "subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso(sub.expires),
        "changeType": change, "resource": f"{name}/{object_id}",
        "clientState": sub.client_state, "tenantId": sub.tenant_id,
        "resourceData": {"@odata.type": f"#Microsoft.Graph.{name[:-1]}",
                         "@odata.id": f"{name}/{object_id}", "id": object_id,
                         "organizationId": sub.tenant_id},
    }


# --- the Graph endpoint -----------------------------------------------------------------

def _bad(req: Request, message: str, code: str = "InvalidRequest") -> Response:
    return graph_error(req, 400, code, message)


def _not_found(req: Request, sub_id: str) -> Response:
    return graph_error(req, 404, "ResourceNotFound",
                       f"The object was not found. Subscription '{sub_id}'.")


def _expiry(req: Request, raw: object) -> datetime | Response:
    if not isinstance(raw, str):
        return _bad(req, "expirationDateTime is required.")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return _bad(req, f"expirationDateTime '{raw}' is not a date and time.")
    if moment.tzinfo is None:
        return _bad(req, "expirationDateTime needs a time zone.")
    now = now_utc()
    if moment <= now:
        return _bad(req, "Subscription expiration can only be in the future.",
                    "ExtensionError")
    if moment > now + timedelta(minutes=MAX_MINUTES):
        return _bad(req, f"Subscription expiration can only be {MAX_MINUTES} minutes in the "
                    "future.", "ExtensionError")
    return moment


def handle(state: SimState, req: Request, claims: dict[str, Any]) -> Response:
    """/v1.0/subscriptions[/{id}[/reauthorize]] for the app and tenant of the token."""
    subs = state.subscriptions
    parts = req.path[len("/v1.0/"):].strip("/").split("/")
    tenant_id, app_id = str(claims.get("tid", "")), str(claims.get("appid", ""))
    if len(parts) == 1:
        if req.method == "POST":
            return _create(state, req, tenant_id, app_id, claims)
        if req.method == "GET":
            mine = [s.as_json() for s in subs.live()
                    if s.tenant_id == tenant_id and s.app_id == app_id]
            return json_response(200, {"value": mine})
        return graph_error(req, 405, "BadRequest", "The method is not allowed.")
    found = {s.id: s for s in subs.live()}.get(parts[1].lower())
    if found is None or found.tenant_id != tenant_id or found.app_id != app_id:
        return _not_found(req, parts[1])
    if len(parts) == 3 and parts[2] == "reauthorize" and req.method == "POST":
        found.reauthorize = False
        return Response(204)
    if len(parts) != 2:
        return _not_found(req, "/".join(parts[1:]))
    if req.method == "GET":
        return json_response(200, found.as_json())
    if req.method == "DELETE":
        with subs.lock:
            subs.items.pop(found.id, None)
        return Response(204)
    if req.method == "PATCH":
        body = _json(req)
        if not isinstance(body, dict) or set(body) - {"expirationDateTime", "notificationUrl"}:
            return _bad(req, "Only expirationDateTime can be changed.")
        expiry = _expiry(req, body.get("expirationDateTime"))
        if isinstance(expiry, Response):
            return expiry
        found.expires, found.reauthorize = expiry, False  # a renewal reauthorizes too
        return json_response(200, found.as_json())
    return graph_error(req, 405, "BadRequest", "The method is not allowed.")


def _json(req: Request) -> Any:
    try:
        return req.json_body()
    except ValueError:
        return None


def _create(state: SimState, req: Request, tenant_id: str, app_id: str,
            claims: dict[str, Any]) -> Response:
    body = _json(req)
    if not isinstance(body, dict):
        return _bad(req, "The request body must be a subscription object.")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        return _bad(req, f"Property '{unknown[0]}' does not exist on type "
                    "'microsoft.graph.subscription'.")
    resource = body.get("resource")
    match = _RESOURCE.match(resource) if isinstance(resource, str) else None
    if match is None:
        return _bad(req, f"Resource '{resource}' is not supported by the simulator: use "
                    "/users, /users/{id}, /groups, /groups/{id} or /groups/{id}/members.")
    entity_set, object_id = match.group(1).lower(), (match.group(2) or "").lower() or None
    raw_types = body.get("changeType")
    types = {t.strip() for t in raw_types.split(",")} if isinstance(raw_types, str) else set()
    if not types or types - CHANGE_TYPES:
        return _bad(req, "changeType must be 'updated', 'deleted' or both for users and "
                    "groups.", "ExtensionError")
    client_state = body.get("clientState")
    if client_state is not None and (not isinstance(client_state, str)
                                     or len(client_state) > MAX_CLIENT_STATE):
        return _bad(req, f"clientState can be at most {MAX_CLIENT_STATE} characters.")
    urls = [body.get("notificationUrl"), body.get("lifecycleNotificationUrl")]
    for index, url in enumerate(urls):
        if url is None and index == 1:
            continue
        why = loopback_url(url) if isinstance(url, str) else "is required"
        if why:
            name = ("notificationUrl", "lifecycleNotificationUrl")[index]
            return _bad(req, f"{name} {why}.")
    expiry = _expiry(req, body.get("expirationDateTime"))
    if isinstance(expiry, Response):
        return expiry
    roles = set(claims.get("roles") or [])
    if not roles & (_USERS if entity_set == "users" else _GROUPS):
        return graph_error(req, 403, "ExtensionError", "Operation: Create; Exception: "
                           "[Status Code: Forbidden; Reason: Insufficient privileges to "
                           "complete the operation.]")
    with state.lock:
        tenant = state.tenant(tenant_id)
        exists = tenant is not None and (object_id is None or (
            object_id in tenant.objects and tenant.objects[object_id].kind == entity_set))
    if not exists:
        return graph_error(req, 404, "ResourceNotFound",
                           f"Resource '{resource}' does not exist.")
    subs = state.subscriptions
    mine = [s for s in subs.live() if s.tenant_id == tenant_id and s.app_id == app_id
            and s.entity_set == entity_set]
    if len(mine) >= subs.quota:
        what = "user" if entity_set == "users" else "group"
        return graph_error(req, 403, "ExtensionError", f"Subscription limit reached: at most "
                           f"{subs.quota} {what} subscriptions per application and tenant.")
    # The handshake, for each URL (twice when they are the same), before the answer.
    if not all(handshake(url, subs.notifier.verify) for url in urls if url):
        return _bad(req, "Subscription validation request failed. Notification endpoint must "
                    "respond with 200 OK to validation request.", "ValidationError")
    sub = Subscription(str(uuid.uuid4()), tenant_id, app_id, str(resource), entity_set,
                       object_id, bool(match.group(3)), frozenset(types), str(urls[0]),
                       urls[1], client_state, expiry)
    with subs.lock:
        subs.items[sub.id] = sub
    return json_response(201, {"@odata.context": f"{req.base_url}/v1.0/$metadata#"
                               "subscriptions/$entity", **sub.as_json()})


__all__ = ["FixtureError", "Subscriptions", "handle"]
