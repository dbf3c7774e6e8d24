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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

from functions.clients.graph import GraphClient
from functions.clients.pacing import Deadline, RequestPacer
from functions.clients.paging import LinkGuard
from functions.clients.retry import RetryBudget, RetryPolicy
from functions.core.crew import CREW, named
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
class _Run:
    """One call of :meth:`GraphBatch.run`: what it found, the budgets of its requests, the
    requests due now (in order) and those waiting for a retry's time."""

    outcome: BatchOutcome
    budgets: dict[str, RetryBudget]
    ready: deque[_Pending]
    later: list[_Pending]

    def waiting(self) -> bool:
        return bool(self.ready or self.later)


@dataclass
class _Pending:
    request: SubRequest
    budget: RetryBudget | None = None  # taken at its first retry: most requests never retry
    due: float = 0.0


_UNANSWERED: dict[str, Any] = {"status": 503}  # a request a batch's answer left out
# One $batch's answers in the order of its requests, each with its Retry-After (or None).
_Answers = list[tuple[SubAnswer, float | None]]


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


class _Senders:
    """Up to ``count`` of the process's kept threads (``functions/core/crew.py``), each
    sending the batches handed to it one after the other; every batch's answers (or what it
    raised) come back through ``take``. Plain queues, not an executor's futures: their
    waiters and conditions cost a third of a batch's CPU."""

    def __init__(self, send: Callable[[list[_Pending]], _Answers], count: int) -> None:
        self._send = send
        self._count = count
        self._todo: SimpleQueue[list[_Pending] | None] = SimpleQueue()
        self._done: SimpleQueue[tuple[list[_Pending], _Answers | BaseException]] = SimpleQueue()
        self._workers = 0
        self._left: SimpleQueue[None] = SimpleQueue()  # one a worker, as it stops
        self._out = 0  # batches handed over whose answers were not taken yet

    def submit(self, items: list[_Pending], busy: int) -> None:
        """Hand a batch over; ``busy`` batches are being sent already."""
        if busy >= self._workers < self._count:
            # Its CPU is the run's that started it (functions/core/usage.py).
            CREW.run(carried(self._work))
            self._workers += 1
        self._out += 1
        self._todo.put(items)

    def take(self) -> tuple[list[_Pending], _Answers | BaseException]:
        """The next batch sent, with its answers or what sending it raised."""
        done = self._done.get()
        self._out -= 1
        return done

    def _work(self) -> None:
        with named("graph-batch"):
            while (items := self._todo.get()) is not None:
                try:
                    self._done.put((items, self._send(items)))
                except BaseException as exc:  # raised again on the caller's thread
                    self._done.put((items, exc))
        self._left.put(None)

    def close(self) -> None:
        """Let each batch in flight come back, then give the threads back to the crew
        (nothing of this batch is being sent once this returns)."""
        while self._out:
            self.take()
        for _ in range(self._workers):
            self._todo.put(None)
        for _ in range(self._workers):
            self._left.get()


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
        run = _Run(BatchOutcome(), {} if budgets is None else budgets,
                   deque(_Pending(r) for r in requests), [])
        senders = _Senders(self._send, self._in_flight) if self._in_flight > 1 else None
        running = 0
        stopped = False
        try:
            while (run.waiting() and not stopped) or running:
                while not stopped and running < self._in_flight:
                    sent = self._next(run, deadline, wait=not running)
                    if sent is None:  # the budget or the deadline says no more
                        stopped = True
                    elif not sent:
                        break  # nothing due now
                    elif senders is None or not (running or run.waiting()):
                        # Nothing could go beside it: sent here, no thread to hand it to.
                        self._settle(run, sent, self._send(sent))
                    else:
                        senders.submit(sent, running)
                        running += 1
                if not running:
                    if stopped or not run.waiting():
                        break
                    pause = min(p.due for p in run.later) - self._clock()
                    if pause > deadline.remaining():
                        break
                    self._sleep(max(0.0, pause))
                    continue
                assert senders is not None
                sent, answers = senders.take()
                running -= 1
                if isinstance(answers, BaseException):
                    raise answers
                self._settle(run, sent, answers)
        finally:
            if senders is not None:
                senders.close()
        run.outcome.undone = [p.request for p in (*run.ready, *run.later)]
        return run.outcome

    def _settle(self, run: _Run, sent: list[_Pending], answers: _Answers) -> None:
        """Keep each final answer; put each request to retry back, due after its wait."""
        for item, (answer, retry_after) in zip(sent, answers, strict=True):
            if answer.status == 429 and self._pacer is not None:
                # The budget is spent where our pacer did not see it (another process,
                # one killed mid-run): send nothing until it refills.
                self._pacer.refused(retry_after)
            if self._retry.retriable(answer.status):
                key = item.request.key
                if item.budget is None:
                    item.budget = run.budgets.setdefault(key, self._retry.budget())
                if item.budget.may_retry(status=answer.status):
                    # Only this request goes again, after the wait it was given.
                    item.due = self._clock() + item.budget.spend(retry_after)
                    run.later.append(item)
                    continue
            run.outcome.answers[item.request.key] = answer

    def _next(self, run: _Run, deadline: Deadline, *, wait: bool) -> list[_Pending] | None:
        """The next batch to send (taken out of the waiting requests): up to 20 that are
        due, as many as the pacer grants; [] when none is due; None when the pacer would
        make the batch wait past the deadline (or, without ``wait``, has no room now)."""
        if run.later:
            now = self._clock()
            due = [p for p in run.later if p.due <= now]
            if due:
                run.later = [p for p in run.later if p.due > now]
                run.ready.extend(due)  # after the first tries, as they were queued
        if not run.ready:
            return []
        count = min(MAX_BATCH, len(run.ready))
        granted = self._pacer.take(count, deadline, wait=wait) if self._pacer else count
        if granted == 0:
            return None if wait else []
        return [run.ready.popleft() for _ in range(granted)]

    def _send(self, items: list[_Pending]) -> _Answers:
        """One ``$batch``: each answer with its ``Retry-After``, in the order of ``items`` (a
        request the batch did not answer counts as a 503, to be retried). The answer is
        parsed once; each sub-answer's body is handed over as parsed, not copied."""
        body = {"requests": [{"id": str(n), "method": "GET", "url": item.request.url}
                             for n, item in enumerate(items)]}
        answer = self._graph.post("/$batch", body)
        by_id: dict[str, dict[str, Any]] = {}
        for response in answer.get("responses") or ():
            if isinstance(response, dict):
                by_id[str(response.get("id"))] = response
        answers: _Answers = []
        throttled = 0
        retriable = self._retry.retriable
        for n, item in enumerate(items):
            response = by_id.get(str(n)) or _UNANSWERED
            status = int(response.get("status") or 503)
            throttled += status == 429
            got = response.get("body")
            # Only an answer to be retried needs its Retry-After looked up.
            wait = _retry_after(response.get("headers")) if retriable(status) else None
            answers.append((SubAnswer(item.request.key, status,
                                      got if isinstance(got, dict) else {}), wait))
        self._graph.count_batched(len(items), throttled=throttled)
        return answers
