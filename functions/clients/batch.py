"""Graph JSON batching: many single reads, 20 to a ``POST /$batch``, each retried on its own.

As Microsoft's "Combine multiple HTTP requests using JSON batching" documents: at most 20
requests a batch, URLs relative to the version, answers in any order matched by ``id``,
and each request evaluated on its own against throttling limits, so one answer can be a 429
with its own ``Retry-After`` inside a batch answered 200. Only the requests that were
throttled or failed transiently are sent again, each after its own wait and under its own
budget of the client's retry policy (the one every Graph request has); every request sent,
retries included, is first granted by the pacer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from functions.clients.graph import GraphClient
from functions.clients.pacing import Deadline, RequestPacer
from functions.clients.paging import LinkGuard
from functions.clients.retry import RetryBudget, RetryPolicy
from functions.core.errors import GraphError, GraphThrottledError
from functions.core.usage import carried

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
    budget: RetryBudget
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
    ``in_flight`` batches at once (each still takes one of the process's Graph slots).
    ``retry`` is the client's own policy unless given."""

    def __init__(self, graph: GraphClient, pacer: RequestPacer | None = None, *,
                 retry: RetryPolicy | None = None, in_flight: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._graph = graph
        self._in_flight = max(1, in_flight)
        self._pacer = pacer
        self._retry = retry or graph.retry
        self._clock = clock
        self._sleep = sleep

    def link_guard(self) -> LinkGuard:
        """A guard for the links of one walk whose pages go in batches."""
        return LinkGuard(self._graph.sender)

    def run(self, requests: Sequence[SubRequest], deadline: Deadline | None = None, *,
            budgets: dict[str, RetryBudget] | None = None) -> BatchOutcome:
        """Send every request (20 to a batch, ``in_flight`` batches at a time: a new one as
        soon as one comes back) until each has a final answer, or the deadline would pass
        before the next batch could go (the rest is returned undone). Each request retries
        under its own budget, or under ``budgets[key]`` (kept there) when its pages are a
        walk that goes on in later calls.

        Raises:
            GraphError: a batch itself failed (after the client's own retries).
        """
        deadline = deadline or Deadline.never()
        outcome = BatchOutcome()
        own = {} if budgets is None else budgets
        waiting = [_Pending(r, own.setdefault(r.key, self._retry.budget())) for r in requests]
        running: dict[Future[list[tuple[SubAnswer, float | None]]], list[_Pending]] = {}
        stopped = False
        with ThreadPoolExecutor(self._in_flight) as pool:
            while (waiting and not stopped) or running:
                while not stopped and len(running) < self._in_flight:
                    sent = self._next(waiting, deadline, wait=not running)
                    if sent is None:  # the budget or the deadline says no more
                        stopped = True
                    elif sent:
                        running[pool.submit(carried(self._send), sent)] = sent
                    else:
                        break  # nothing due now
                if not running:
                    if stopped or not waiting:
                        break
                    pause = min(p.due for p in waiting) - self._clock()
                    if pause > deadline.remaining():
                        break
                    self._sleep(max(0.0, pause))
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    sent = running.pop(future)
                    for item, (answer, retry_after) in zip(sent, future.result(), strict=True):
                        if answer.status == 429 and self._pacer is not None:
                            # The budget is spent where our pacer did not see it (another
                            # process, one killed mid-run): send nothing until it refills.
                            self._pacer.refused(retry_after)
                        if (self._retry.retriable(answer.status)
                                and item.budget.may_retry(status=answer.status)):
                            # Only this request goes again, after the wait it was given.
                            item.due = self._clock() + item.budget.spend(retry_after)
                            waiting.append(item)
                        else:
                            outcome.answers[item.request.key] = answer
        outcome.undone = [p.request for p in waiting]
        return outcome

    def _next(self, waiting: list[_Pending], deadline: Deadline, *, wait: bool
              ) -> list[_Pending] | None:
        """The next batch to send (taken out of ``waiting``): up to 20 requests that are due,
        as many as the pacer grants; [] when none is due; None when the pacer would make
        the batch wait past the deadline (or, without ``wait``, has no room now)."""
        now = self._clock()
        due = [p for p in waiting if p.due <= now][:MAX_BATCH]
        if not due:
            return []
        granted = self._pacer.take(len(due), deadline, wait=wait) if self._pacer else len(due)
        if granted == 0:
            return None if wait else []
        sent = due[:granted]
        for item in sent:
            waiting.remove(item)
        return sent

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
