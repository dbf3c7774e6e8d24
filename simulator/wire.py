"""Requests, responses and the error bodies of Entra, Graph and Key Vault."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

JSON = "application/json; charset=utf-8"
GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)


# Request ids: GUID-shaped and unique within a simulator. (uuid4() for each request cost a
# system call each, a visible share of the simulator's CPU under the benchmarks' load.)
_ID_PREFIX = str(uuid.uuid4())[:24]
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


@dataclass
class Request:
    """One parsed HTTP request, as the endpoint handlers see it."""

    method: str
    path: str  # percent-decoded, without the query
    query_string: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    base_url: str
    request_id: str = field(default_factory=new_request_id)
    # time.monotonic() when its request line came in: the simulated latency counts from here
    arrived: float = field(default_factory=time.monotonic)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters; the first value wins when a name repeats."""
        result: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            result.setdefault(name, value)
        return result

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_body(self) -> Any:
        """The body parsed as JSON; raises ValueError if it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    """What to send back; `drop` closes the connection without answering."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


def json_response(
    status: int, payload: object, headers: dict[str, str] | None = None, content_type: str = JSON
) -> Response:
    merged = {"Content-Type": content_type, **(headers or {})}
    return Response(status, json.dumps(payload).encode("utf-8"), merged)


def now_utc() -> datetime:
    return datetime.now(UTC)


def graph_error(
    req: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A Graph error: {"error": {"code", "message", "innerError": {...}}}."""
    inner = {
        "date": now_utc().strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": req.request_id,
        "client-request-id": req.header("client-request-id") or req.request_id,
    }
    payload = {"error": {"code": code, "message": message, "innerError": inner}}
    return json_response(status, payload, headers, content_type="application/json")


def entra_error(req: Request, status: int, error: str, code: int, description: str) -> Response:
    """An Entra token-endpoint error, as MSAL sees it (error, error_description, error_codes...)."""
    correlation = req.header("client-request-id") or str(uuid.uuid4())
    payload = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {req.request_id} Correlation ID: {correlation} "
            f"Timestamp: {now_utc().strftime('%Y-%m-%d %H:%M:%SZ')}"
        ),
        "error_codes": [code],
        "timestamp": now_utc().strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": req.request_id,
        "correlation_id": correlation,
        "error_uri": f"{req.base_url}/error?code={code}",
    }
    return json_response(status, payload)


def vault_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A Key Vault error: {"error": {"code", "message"}}."""
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def intune_message(text: str, url: str) -> str:
    """The JSON Intune puts inside a Graph error's `message` (its "_version": 3 envelope)."""
    envelope = {
        "_version": 3,
        "Message": (
            f"{text} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000"
            f" - Activity ID: {uuid.uuid4()} - Url: {url}"
        ),
        "CustomApiErrorPhrase": "",
        "RetryAfter": None,
        "ErrorSourceService": "",
        "HttpHeaders": "{}",
    }
    return json.dumps(envelope, indent=2).replace("\n", "\r\n")


def partner_center_error(
    status: int, code: int | str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """A Partner Center error: {"code", "description", "data": [], "source": "PartnerFD"}."""
    payload: dict[str, Any] = {
        "code": code,
        "description": description,
        "data": [],
        "source": "PartnerFD",
    }
    return json_response(status, payload, headers)


def raw_json(status: int, body: bytes, content_type: str = JSON) -> Response:
    """A response whose JSON body is already encoded."""
    return Response(status, body, {"Content-Type": content_type})
