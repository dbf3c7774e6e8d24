"""Graph JSON batching: many single reads, 20 to a ``POST /$batch``, each retried on its own.

As Microsoft's "Combine multiple HTTP requests using JSON batching" documents: at most 20
requests a batch, URLs relative to the version, answers in any order matched by ``id``,
and each request evaluated on its own against throttling limits, so one answer can be a 429
with its own ``Retry-After`` inside a batch answered 200. Only the requests that were
throttled or failed transiently are sent again, each after its own wait; every request
sent, retries included, is first granted by the pacer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from functions.clients.graph import GraphClient
from functions.clients.pacing import Deadline, RequestPacer
from functions.clients.retry import RETRIABLE_STATUSES, RetryPolicy
from functions.core.errors import GraphError, GraphThrottledError

MAX_BATCH = 20  # "JSON batch requests are currently limited to 20 individual requests."


@dataclass(frozen=True)
class SubRequest:
    """One GET of a batch: ``key`` is the caller's name for it, ``url`` is relative to the
    Graph version (``/deviceManagement/managedDevices/{id}?$select=...``)."""

    key: str
    url: str


@dataclass(frozen=True)
class SubAnswer:
    """The final answer to one request: a success, or an error that retries did not clear."""

    key: str
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> GraphError:
        """The answer as the error a single request would have raised."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        error = error if isinstance(error, dict) else {}
        inner = error.get("innerError") if isinstance(error.get("innerError"), dict) else {}
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        kind = GraphThrottledError if self.status == 429 else GraphError
        return kind(f"Graph answered {self.status} {code}: {message}".rstrip(": "),
                    status=self.status, graph_code=code,
                    request_id=str((inner or {}).get("request-id") or ""))


@dataclass
class BatchOutcome:
    """What a call finished (``answers`` by key) and what it left undone: requests that were
    not sent, or still waiting to be retried, when the deadline came."""

    answers: dict[str, SubAnswer] = field(default_factory=dict)
    undone: list[SubRequest] = field(default_factory=list)


@dataclass
class _Pending:
    request: SubRequest
    attempt: int = 0
    due: float = 0.0


def _retry_after(headers: Any) -> float | None:
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


class GraphBatch:
    """Sends single GETs in ``$batch`` requests for one tenant's Graph client, up to
    ``in_flight`` batches at once (each still takes one of the process's Graph slots)."""

    def __init__(self, graph: GraphClient, pacer: RequestPacer | None = None, *,
                 retry: RetryPolicy | None = None, in_flight: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._graph = graph
        self._in_flight = max(1, in_flight)
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep

    def run(self, requests: Sequence[SubRequest], deadline: Deadline | None = None
            ) -> BatchOutcome:
        """Send every request (20 to a batch) until each has a final answer, or the deadline
        would pass before the next batch could go (the rest is returned undone).

        Raises:
            GraphError: a batch itself failed (after the client's own retries).
        """
        deadline = deadline or Deadline.never()
        outcome = BatchOutcome()
        pending = [_Pending(r) for r in requests]
        with ThreadPoolExecutor(self._in_flight) as pool:
            while pending:
                now = self._clock()
                due = [p for p in pending if p.due <= now][:MAX_BATCH * self._in_flight]
                if not due:
                    wait = min(p.due for p in pending) - now
                    if wait > deadline.remaining():
                        break
                    self._sleep(wait)
                    continue
                batches = self._granted(due, deadline)
                if not batches:
                    break
                for sent, answers in zip(batches, pool.map(self._send, batches), strict=True):
                    for item, (answer, retry_after) in zip(sent, answers, strict=True):
                        pending.remove(item)
                        if (answer.status in RETRIABLE_STATUSES
                                and self._retry.may_retry(item.attempt)):
                            # Only this request goes again, after the wait it was given.
                            item.due = self._clock() + self._retry.wait(item.attempt,
                                                                        retry_after)
                            item.attempt += 1
                            pending.append(item)
                        else:
                            outcome.answers[item.request.key] = answer
        outcome.undone = [p.request for p in pending]
        return outcome

    def _granted(self, due: list[_Pending], deadline: Deadline) -> list[list[_Pending]]:
        """The batches to send now: 20 requests each, as many as the pacer grants."""
        batches: list[list[_Pending]] = []
        for start in range(0, len(due), MAX_BATCH):
            group = due[start:start + MAX_BATCH]
            # The first batch waits for the budget; the others go only if it has room now.
            granted = (self._pacer.take(len(group), deadline, wait=not batches)
                       if self._pacer else len(group))
            if granted == 0:
                break
            batches.append(group[:granted])
            if granted < len(group):
                break  # the budget is full: the rest waits for the next round
        return batches

    def _send(self, items: list[_Pending]) -> list[tuple[SubAnswer, float | None]]:
        """One ``$batch``: each answer with its ``Retry-After``, in the order of ``items`` (a
        request the batch did not answer counts as a 503, to be retried)."""
        body = {"requests": [{"id": str(n), "method": "GET", "url": item.request.url}
                             for n, item in enumerate(items)]}
        answer = self._graph.post("/$batch", body)
        by_id: dict[str, dict[str, Any]] = {}
        for response in answer.get("responses") or []:
            if isinstance(response, dict):
                by_id[str(response.get("id"))] = response
        answers = []
        throttled = 0
        for n, item in enumerate(items):
            response = by_id.get(str(n), {"status": 503, "body": {}})
            status = int(response.get("status") or 503)
            throttled += status == 429
            got = response.get("body")
            body = got if isinstance(got, dict) else {}
            answers.append((SubAnswer(item.request.key, status, body),
                            _retry_after(response.get("headers"))))
        self._graph.count_batched(len(items), throttled=throttled)
        return answers
