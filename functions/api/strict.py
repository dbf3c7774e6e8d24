"""Strict inputs: a parameter the endpoint does not know, an odd path or a body that never
arrives is an error, never silently ignored or answered by another route."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from functions.api.errors import error_response
from functions.core.errors import ErrorCode, InputError

# The Functions host's function key may come as the `code` query parameter (docs/api.md).
ALWAYS_ALLOWED = frozenset({"code"})
_ENCODED = re.compile(rb"%(2f|5c|2e)", re.IGNORECASE)  # encoded '/', '\' and '.'


def _query_names(dependant: Any) -> set[str]:
    """The query parameters an endpoint and its dependencies declare (by alias)."""
    names = {str(p.alias) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_known: dict[int, frozenset[str]] = {}

_OWN_QUERY = "_checks_own_query"


def checks_own_query(endpoint: Any) -> Any:
    """Mark an endpoint that parses and checks its query string itself, as strictly (the
    consent callback: Entra's redirect, answered with an HTML page)."""
    setattr(endpoint, _OWN_QUERY, True)
    return endpoint


def known_query(request: Request) -> None:
    """Refuse a query parameter the endpoint does not declare, naming it (a typo such as
    ``deletedonly`` must not pass as "no filter").

    Raises:
        InputError: ``unknown_parameter``.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or getattr(route.endpoint, _OWN_QUERY, False):
        return
    allowed = _known.get(id(route))
    if allowed is None:
        allowed = _known[id(route)] = frozenset(_query_names(route.dependant) | ALWAYS_ALLOWED)
    for name in request.query_params:
        if name in allowed:
            continue
        shown = name if len(name) <= 64 and name.isprintable() else name[:64].encode(
            "unicode_escape").decode()
        near = [a for a in sorted(allowed - ALWAYS_ALLOWED) if a.casefold() == name.casefold()]
        known = ", ".join(sorted(allowed - ALWAYS_ALLOWED)) or "none"
        hint = f" (did you mean {near[0]}?)" if near else f" (this endpoint takes: {known})"
        raise InputError(f"query.{shown}: unknown parameter{hint}",
                         code=ErrorCode.UNKNOWN_PARAMETER)


def path_problem(scope: Scope) -> tuple[int, str, str] | None:
    """Why a request's path is refused before routing, if it is: encoded slashes or dots,
    dot or empty segments (404 would hide what is wrong, a match could answer for another
    route), or a trailing slash (no route has one; never redirected)."""
    raw: bytes = scope.get("raw_path") or scope.get("path", "").encode()
    raw = raw.split(b"?", 1)[0]
    if _ENCODED.search(raw):
        return (400, ErrorCode.INVALID_PATH,
                "the path has an encoded '/', '\\' or '.': write IDs and paths as they are")
    segments = raw.split(b"/")[1:]
    if any(s in (b".", b"..") for s in segments) or b"" in segments[:-1]:
        return 400, ErrorCode.INVALID_PATH, "the path has an empty, '.' or '..' segment"
    if len(segments) > 1 and segments[-1] == b"":
        return 404, ErrorCode.NOT_FOUND, "no such endpoint: drop the trailing '/'"
    return None


class StrictPaths:
    """Answers odd paths with a JSON error before any route sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = path_problem(scope)
            if problem is not None:
                status, code, message = problem
                await error_response(status, code, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
