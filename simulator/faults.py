"""Injected faults: status codes, throttling, latency, dropped connections, and next links
that repeat (``repeat_link``) or point at another host (``foreign_link``, with ``host``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .fixture import fail, guid, mapping
from .wire import Request, Response

FAULT_KINDS = ("status", "throttle", "latency", "drop", "repeat_link", "foreign_link")
# Faults that let the route answer and then change the answer's next link.
LINK_KINDS = ("repeat_link", "foreign_link")
_FAULT_KEYS = (
    "match",
    "kind",
    "status",
    "code",
    "message",
    "retry_after",
    "times",
    "after",
    "page",
    "seconds",
    "host",
)
_MATCH_KEYS = ("path_contains", "tenant", "method")

_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_MESSAGES = {
    429: "Too many requests. Retry after the number of seconds in the Retry-After header.",
    503: "The service is temporarily unavailable. Please retry.",
    504: "The gateway timed out.",
}


@dataclass
class Fault:
    """One fault rule. `seen` counts matching requests, `applied` the ones it acted on."""

    kind: str
    path_contains: str | None = None
    tenant: str | None = None
    method: str | None = None
    status: int = 503
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    times: int | None = None
    after: int = 0
    page: int | None = None
    seconds: float = 0.0
    host: str | None = None  # foreign_link: the host:port the next link points at
    seen: int = 0
    applied: int = 0

    @property
    def error_code(self) -> str:
        return self.code or _CODES.get(self.status, "UnknownError")

    @property
    def error_message(self) -> str:
        return self.message or _MESSAGES.get(self.status, "Simulated failure.")

    def matches(self, method: str, path: str, tenant: str | None, page: int | None) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        if self.tenant is not None and self.tenant != tenant:
            return False
        return self.page is None or self.page == page


@dataclass
class FaultOutcome:
    """What the faults decided for one request: a delay, and maybe a fault that answers it."""

    delay: float = 0.0
    answer: Fault | None = None
    link: Fault | None = None  # a repeat_link or foreign_link fault to apply to the answer


def _number(value: object, path: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        fail(path, f"must be a number >= {minimum:g}")
    return float(value)


def _count(value: object, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(path, f"must be an integer >= {minimum}")
    return value


def parse_fault(raw: object, path: str) -> Fault:
    """Validate one fault dict. Raises FixtureError."""
    entry = mapping(raw, path, _FAULT_KEYS)
    kind = entry.get("kind")
    if kind not in FAULT_KINDS:
        fail(f"{path}.kind", f"must be one of: {', '.join(FAULT_KINDS)}")
    match = mapping(entry.get("match", {}), f"{path}.match", _MATCH_KEYS)
    fault = Fault(kind=str(kind))
    if match.get("path_contains") is not None:
        fault.path_contains = str(match["path_contains"])
    if match.get("tenant") is not None:
        fault.tenant = guid(match["tenant"], f"{path}.match.tenant")
    if match.get("method") is not None:
        fault.method = str(match["method"]).upper()
    if kind == "throttle":
        fault.status = 429
        fault.retry_after = 1.0  # Graph sends Retry-After on a 429; null in the fixture omits it
    if "status" in entry:
        status = _count(entry["status"], f"{path}.status", 100)
        if status > 599:
            fail(f"{path}.status", "must be an HTTP status (100-599)")
        fault.status = status
    if "retry_after" in entry:
        value = entry["retry_after"]
        fault.retry_after = None if value is None else _number(value, f"{path}.retry_after", 0)
    for name in ("code", "message"):
        if entry.get(name) is not None:
            setattr(fault, name, str(entry[name]))
    if entry.get("times") is not None:
        fault.times = _count(entry["times"], f"{path}.times", 1)
    fault.after = _count(entry.get("after", 0), f"{path}.after", 0)
    if entry.get("page") is not None:
        fault.page = _count(entry["page"], f"{path}.page", 1)
    fault.seconds = _number(entry.get("seconds", 0), f"{path}.seconds", 0)
    if kind == "latency" and "seconds" not in entry:
        fail(f"{path}.seconds", "a latency fault needs 'seconds'")
    if entry.get("host") is not None:
        fault.host = str(entry["host"])
    if kind == "foreign_link" and not fault.host:
        fail(f"{path}.host", "a foreign_link fault needs 'host' (host:port)")
    return fault


def parse_faults(raw: object) -> list[Fault]:
    if not isinstance(raw, list):
        fail("faults", "must be a list of fault objects")
    return [parse_fault(item, f"faults[{index}]") for index, item in enumerate(raw)]


def evaluate(
    faults: list[Fault], method: str, path: str, tenant: str | None, page: int | None
) -> FaultOutcome:
    """Apply the faults to one request (call under the state lock: it updates counters).

    Latency faults add up; the first status/throttle/drop fault that fires answers the
    request, and the ones after it are not consulted.
    """
    outcome = FaultOutcome()
    for fault in faults:
        if not fault.matches(method, path, tenant, page):
            continue
        fault.seen += 1
        if fault.seen <= fault.after or (fault.times is not None and fault.applied >= fault.times):
            continue
        fault.applied += 1
        if fault.kind == "latency":
            outcome.delay += fault.seconds
            continue
        if fault.kind in LINK_KINDS:
            outcome.link = outcome.link or fault
            continue
        outcome.answer = fault
        break
    return outcome


def describe(fault: Fault) -> dict[str, Any]:
    """A fault as JSON, with its counters (for the stats endpoint)."""
    return {
        "kind": fault.kind,
        "status": fault.status,
        "path_contains": fault.path_contains,
        "seen": fault.seen,
        "applied": fault.applied,
    }


def relink(fault: Fault | None, req: Request, response: Response, prefix: str = "") -> Response:
    """The route's answer with its next link changed by a link fault: ``repeat_link`` gives
    the link of the page just requested (a service stuck on one page), ``foreign_link`` a
    link to ``fault.host``. Graph's ``@odata.nextLink`` and Partner Center's ``links.next``
    (``prefix``: the path Partner Center's relative uris leave out) are both changed."""
    if fault is None or response.status != 200 or not response.body:
        return response
    try:
        body = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(body, dict):
        return response
    query = f"?{req.query_string}" if req.query_string else ""
    if "value" in body:  # Graph
        link = body.get("@odata.nextLink") or f"{req.base_url}{req.path}{query}"
        if fault.kind == "repeat_link":
            link = f"{req.base_url}{req.path}{query}"
        else:
            parts = urlsplit(link)
            link = f"https://{fault.host}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        body["@odata.nextLink"] = link
    elif "items" in body:  # Partner Center
        token = req.header("MS-ContinuationToken")
        uri = f"{req.path.removeprefix(prefix)}{query}"
        if fault.kind == "foreign_link":
            uri = f"https://{fault.host}{req.path}{query}"
        body.setdefault("links", {})["next"] = {
            "uri": uri, "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": token}] if token else []}
    else:
        return response
    return Response(response.status, json.dumps(body).encode("utf-8"), response.headers)
