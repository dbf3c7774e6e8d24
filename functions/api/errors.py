"""Errors as HTTP answers: one table from our codes and error types to statuses, one body.

Every error answer is ``{"error": {"code": ..., "message": ...}}`` (plus ``runId`` on a
409 caused by a run). Messages are the services' own actionable messages, which are built
from identifiers only; request values are never echoed, so a secret pasted into the wrong
field cannot come back. docs/api.md lists the codes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.api.models import ErrorBody, ErrorDetail
from functions.core.codes import outcome
from functions.core.errors import TenantSyncError

log = logging.getLogger("tenantsync.api")

def status_for(exc: TenantSyncError) -> int:
    """The HTTP status of an error: its code's, from the one table of codes."""
    return outcome(exc.code).status


def error_response(
    status: int, code: str, message: str, *, run_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, runId=run_id))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        headers=dict(headers or {}))


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses an operation can answer."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def located(status: int, what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a success that names a resource in its ``Location`` header."""
    return {status: {"description": what, "headers": {"Location": {
        "description": "Where to read it", "schema": {"type": "string"}}}}}


_DESCRIPTIONS = {
    400: "Malformed request (invalid GUID, wrong type, unknown field or parameter...)",
    404: "Unknown tenant, partner, run or endpoint",
    409: "Conflicts with the current state (a sync already queued or running...)",
    413: "Request body over the size limit",
    422: "The connection test failed; the message names the fix",
    502: "A Microsoft endpoint could not be reached",
    503: "Storage, Key Vault or Graph unavailable; try again later",
}

# --- validation errors -------------------------------------------------------------------

# Our own validators name their error type after the code they mean.
_CUSTOM_TYPES = {"invalid_guid", "invalid_scope", "invalid_run_id", "invalid_filter",
                 "invalid_time", "invalid_source", "invalid_credential_type",
                 "invalid_app_id"}
_FIELD_CODES = {"pageSize": "invalid_page_size", "continuationToken": "invalid_continuation"}
_FRIENDLY = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "json_invalid": "not valid JSON",
}


def _where(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc) or "request"


def validation_code(errors: list[dict[str, Any]]) -> str:
    first = errors[0] if errors else {}
    kind, loc = first.get("type", ""), tuple(first.get("loc", ()))
    if kind in _CUSTOM_TYPES:
        return str(kind)
    if loc and loc[-1] in _FIELD_CODES:
        return _FIELD_CODES[loc[-1]]
    if kind == "json_invalid":
        return "invalid_json"
    return "invalid_request"


def validation_message(errors: list[dict[str, Any]]) -> str:
    # Only where and what: pydantic's "input" (the value) is never copied into the answer.
    parts = []
    for e in errors[:5]:
        where = _where(e.get("loc", ()))
        if e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",):
            parts.append("a JSON body is required")
        else:
            parts.append(f"{where}: {_FRIENDLY.get(e.get('type', ''), e.get('msg', 'invalid'))}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


# --- handlers ----------------------------------------------------------------------------


async def _tenantsync_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TenantSyncError)
    status = status_for(exc)
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(level, "%s %s -> %d %s", request.method, request.url.path, status, exc.code,
            extra={"error_code": exc.code, "status_code": status})
    return error_response(status, exc.code, exc.message,
                          run_id=getattr(exc, "run_id", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    code = validation_code(errors)
    log.info("%s %s -> 400 %s", request.method, request.url.path, code,
             extra={"error_code": code, "status_code": 400})
    return error_response(outcome(code).status, code, validation_message(errors))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "not_found", "no such endpoint; see /api/docs")
    if exc.status_code == 405:
        methods = allowed_methods(request)
        return error_response(
            405, "method_not_allowed",
            f"{request.method} is not allowed on this endpoint; it takes {', '.join(methods)}",
            headers={"Allow": ", ".join(methods)},
        )
    return error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail),
                          headers=exc.headers)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the request's path answers: the ``Allow`` of a 405 (the
    router names only the first route that matched the path). Found by asking the routes
    whether each method would match in full."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TenantSyncError, _tenantsync_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


# --- middleware --------------------------------------------------------------------------


class ErrorBoundary:
    """Turns any unexpected exception into a 500 error body, with no stack trace in it.

    The traceback goes to the log under an error id that the answer quotes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("unexpected error %s in %s %s", error_id, scope.get("method"),
                          scope.get("path"), extra={"error_id": error_id})
            if not started:
                response = error_response(
                    500, "internal_error",
                    f"Unexpected error {error_id}; the function's logs have the details.",
                )
                await response(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, before any of it is parsed, and
    a body that does not arrive within ``timeout`` seconds with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 20.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, "body_too_large",
            f"request body is over the limit of {self.max_bytes // 1024} KiB",
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await error_response(400, "invalid_request", "Content-Length is not a number")(
                scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        # Read the whole (small) body first, so that a body without Content-Length is
        # bounded too, then hand it to the app as one message.
        chunks, size, more = [], 0, True
        deadline = asyncio.get_running_loop().time() + self.timeout
        while more:
            try:
                message = await asyncio.wait_for(
                    receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                # A client that sends headers and then too little (or nothing) of its body
                # would hold a worker forever.
                log.info("%s %s -> 408 request_timeout", scope.get("method"), scope.get("path"))
                await error_response(
                    408, "request_timeout",
                    f"the request body did not arrive within {self.timeout:g} s",
                    headers={"Connection": "close"})(scope, receive, send)
                return
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, delivered = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
