"""Graph JSON batching: POST /v1.0/$batch with up to 20 requests.

Follows Microsoft's "Combine multiple HTTP requests using JSON batching": each request has
an `id` (unique, compared without regard to case), a `method` and a `url` relative to the
version (`/users/{id}` or `users/{id}`), optional `headers` and `body` (a body needs a
Content-Type header) and optional `dependsOn`. The batch answers 200 with `responses`, one
per request, `{id, status, headers, body}`, in an order unrelated to the request's; a
malformed batch answers 400. Each request goes through the simulator's own routing, with
its own faults and Intune budget: a throttled one is a 429 inside a 200 batch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import orjson

from .graph import authenticate
from .state import SimState
from .wire import Request, Response, graph_error, raw_json

MAX_REQUESTS = 20  # "JSON batch requests are currently limited to 20 individual requests."
_KEYS = frozenset({"id", "method", "url", "headers", "body", "dependsOn"})
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

# Answers one request of the batch: its response, the seconds of latency its faults add,
# and its path kind (for the stats).
SubAnswer = Callable[[Request], tuple[Response, float, str]]


class BatchError(ValueError):
    """The batch as a whole is malformed: 400, with this message."""


@dataclass
class Step:
    """One request of a batch, validated."""

    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    depends_on: list[str] = field(default_factory=list)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BatchError(f"{where} must be a non-empty string.")
    return value


def _step(raw: object, index: int) -> Step:
    where = f"requests[{index}]"
    if not isinstance(raw, dict):
        raise BatchError(f"{where} must be an object.")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise BatchError(f"{where} has an unknown property '{unknown[0]}'.")
    method = _text(raw.get("method"), f"{where}.method").upper()
    if method not in _METHODS:
        raise BatchError(f"{where}.method '{raw['method']}' is not an HTTP method.")
    url = _text(raw.get("url"), f"{where}.url")
    if urlsplit(url).scheme or url.startswith("//"):
        raise BatchError(f"{where}.url must be relative to the version, such as '/users'.")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise BatchError(f"{where}.headers must be an object of strings.")
    body = b""
    if "body" in raw:
        if not any(name.lower() == "content-type" for name in headers):
            # "When a body is included with the request, the headers object must contain a
            # value for Content-Type."
            raise BatchError(f"{where} has a body but no Content-Type header.")
        body = _body(raw["body"], where)
    depends = raw.get("dependsOn") or []
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise BatchError(f"{where}.dependsOn must be a list of request ids.")
    step_id = _text(raw.get("id"), f"{where}.id")
    return Step(step_id, method, url, {k.lower(): v for k, v in headers.items()}, body, depends)


def _body(value: object, where: str) -> bytes:
    """A JSON body as its JSON, or a string body as the base64 it is ("might be a JSON
    object or a base64 URL-encoded value")."""
    if isinstance(value, str):
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise BatchError(f"{where}.body is a string but not base64.") from None
    return json.dumps(value).encode("utf-8")


def parse_steps(body: bytes) -> tuple[list[Step], list[Step]]:
    """The batch's requests as given, and in the order they may run (dependencies first).
    Raises BatchError for a malformed batch."""
    try:
        payload = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        raise BatchError("Invalid batch payload format: the body is not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise BatchError('Invalid batch payload format: expected {"requests": [...]}.')
    if not payload["requests"]:
        raise BatchError("Invalid batch payload format: no requests.")
    if len(payload["requests"]) > MAX_REQUESTS:
        raise BatchError(
            f"Number of batch request steps exceeds the maximum value of {MAX_REQUESTS}."
        )
    steps = [_step(raw, index) for index, raw in enumerate(payload["requests"])]
    ids = [step.id.lower() for step in steps]
    for index, step_id in enumerate(ids):
        if step_id in ids[:index]:
            # "Must be unique in the batch, otherwise, the batch request fails with a 400."
            raise BatchError(f"Batch request ids must be unique: '{steps[index].id}' repeats.")
    for step in steps:
        for dependency in step.depends_on:
            if dependency.lower() not in ids or dependency.lower() == step.id.lower():
                raise BatchError(f"Request '{step.id}' depends on unknown request '{dependency}'.")
    return steps, _in_dependency_order(steps)


def _in_dependency_order(steps: list[Step]) -> list[Step]:
    """Steps ordered so that each comes after those it depends on (else request order)."""
    done: set[str] = set()
    ordered: list[Step] = []
    pending = list(steps)
    while pending:
        ready = [s for s in pending if all(d.lower() in done for d in s.depends_on)]
        if not ready:
            raise BatchError("The dependsOn of the batch's requests form a cycle.")
        for step in ready:
            done.add(step.id.lower())
            ordered.append(step)
            pending.remove(step)
    return ordered


def _sub_request(req: Request, step: Step) -> Request:
    """The batch step as a request of its own: the batch's token, the step's headers."""
    target = urlsplit("/" + step.url.lstrip("/"))
    headers = dict(step.headers)
    headers["authorization"] = req.header("authorization") or ""  # the batch's token
    return Request(
        method=step.method,
        path="/v1.0" + unquote(target.path),
        query_string=target.query,
        headers=headers,
        body=step.body,
        base_url=req.base_url,
    )


def _rendered(step_id: str, response: Response) -> bytes:
    """One entry of the batch's `responses`, encoded. A JSON body goes in as it is (every
    JSON body the simulator answers is one it encoded), without parsing and encoding it
    again; any other body goes in base64, as Graph does for non-JSON content."""
    head = orjson.dumps({"id": step_id, "status": response.status,
                         "headers": dict(response.headers)})
    if not response.body:
        return head
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.body
    else:
        body = orjson.dumps(base64.b64encode(response.body).decode("ascii"))
    return head[:-1] + b',"body":' + body + b"}"


def _failed_dependency(req: Request, step: Step) -> Response:
    # "If an individual request fails, any request that depends on that request fails with
    # status code 424 (Failed Dependency)."
    message = f"The request depends on a request that failed: {', '.join(step.depends_on)}."
    return graph_error(req, 424, "FailedDependency", message)


def shuffled(items: list[bytes], seed: bytes) -> list[bytes]:
    """`items` in an order seeded by the request, never the request's own order (when there
    are two or more): responses "might appear in a different order than the requests"."""
    order = list(items)
    random.Random(hashlib.sha256(seed).digest()).shuffle(order)
    if len(order) > 1 and order == items:
        order = order[1:] + order[:1]
    return order


def handle(state: SimState, req: Request, answer: SubAnswer) -> Response:
    """POST /v1.0/$batch: authenticate once, run each step through `answer`, in any order."""
    if req.method != "POST":
        return graph_error(
            req, 405, "BadRequest", "Specified HTTP method is not allowed for the request uri."
        )
    claims = authenticate(state, req)
    if isinstance(claims, Response):
        return claims
    try:
        steps, run_order = parse_steps(req.body)
    except BatchError as exc:
        return graph_error(req, 400, "BadRequest", str(exc))
    statuses: dict[str, int] = {}
    rendered: dict[str, bytes] = {}
    slowest = 0.0
    for step in run_order:
        sub = _sub_request(req, step)
        kind = "unrouted"
        if any(statuses[d.lower()] >= 400 for d in step.depends_on):
            response = _failed_dependency(sub, step)
        elif "$batch" in sub.path.split("/"):
            response = graph_error(sub, 400, "BadRequest", "A batch cannot hold a batch.")
        else:
            response, delay, kind = answer(sub)
            slowest = max(slowest, delay)
        if response.drop:  # a `drop` fault cannot close a connection the batch shares
            response = graph_error(sub, 504, "GatewayTimeout", "The request timed out.")
        state.count_subrequest(sub.method, kind, response.status)
        statuses[step.id.lower()] = response.status
        rendered[step.id] = _rendered(step.id, response)
    if slowest > 0:  # the batch answers when its slowest request would have
        time.sleep(slowest)
    requested = [rendered[step.id] for step in steps]
    return raw_json(200, b'{"responses":[' + b",".join(shuffled(requested, req.body)) + b"]}")
