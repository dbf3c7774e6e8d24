"""The process's kept threads: short jobs (a ``$batch`` being sent, a lease being renewed, a
write's transactions, a directory's member listings) run on threads that outlive them.

A run used to start its own threads for such jobs and end them with it: about 10 a tenant
in an unchanged device sync, 19 in a first one. Each new thread costs more than its start:
its stack's pages were given back to the kernel when the last thread on it ended (glibc
advises a finished thread's stack away), so they fault in again, zeroed, on the new one.
Measured with perf on the MSP benchmark, page faults were 15% of an unchanged sync's CPU.
Kept threads touch their stacks once.

``Crew.run`` never queues a job behind another: it hands it to an idle thread or starts one
(jobs wait on each other: a run's senders, a pool inside a pool). A thread idle for
``idle_seconds`` ends, so a quiet process holds no threads. ``CrewPool`` is the executor
face of the crew (``submit``, ``map``, ``with``) with a limit of its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor, Future
from contextlib import contextmanager
from queue import Empty, SimpleQueue
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger("tenantsync.crew")

_P = ParamSpec("_P")
_T = TypeVar("_T")

IDLE_SECONDS = 60.0
_IDLE_NAME = "crew"


class Crew:
    """Threads that take jobs one after the other and wait, idle, for the next."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle_seconds = idle_seconds
        self._jobs: SimpleQueue[Callable[[], object]] = SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job that nobody has promised them yet
        self._threads = 0

    def run(self, job: Callable[[], object]) -> None:
        """Start ``job`` now on an idle thread, or on a new one."""
        with self._lock:
            start = self._idle == 0
            if start:
                self._threads += 1
            else:
                self._idle -= 1  # promised to the job put below
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._serve, name=_IDLE_NAME, daemon=True).start()

    def busy(self) -> int:
        """How many of the crew's threads are working (or about to)."""
        with self._lock:
            return self._threads - self._idle

    def size(self) -> int:
        with self._lock:
            return self._threads

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except Empty:
                with self._lock:
                    if self._idle == 0:
                        continue  # a job was promised to an idle thread: maybe this one
                    self._idle -= 1
                    self._threads -= 1
                    return
            try:
                job()
            except BaseException:  # a job reports its own failures; this is the last net
                log.exception("a background job failed")
            finally:
                with self._lock:
                    self._idle += 1


CREW = Crew()  # the process's


@contextmanager
def named(name: str) -> Iterator[None]:
    """The calling thread named ``name`` for the block (logs and thread listings show what
    a kept thread works on), then ``crew`` again."""
    me = threading.current_thread()
    me.name = name
    try:
        yield
    finally:
        me.name = _IDLE_NAME


class CrewPool(Executor):
    """At most ``max_workers`` of the crew's threads at a time working through the jobs
    submitted here, as a ``ThreadPoolExecutor`` would, without threads of its own."""

    def __init__(self, max_workers: int, *, crew: Crew = CREW, name: str = _IDLE_NAME) -> None:
        self._max = max(1, max_workers)
        self._crew, self._name = crew, name
        self._lock = threading.Lock()
        self._todo: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._workers = 0
        self._futures: list[Future[Any]] = []
        self._closed = False

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args,
               **kwargs: _P.kwargs) -> Future[_T]:
        future: Future[_T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._todo.append((future, lambda: fn(*args, **kwargs)))
            self._futures.append(future)
            start = self._workers < self._max
            if start:
                self._workers += 1
        if start:
            self._crew.run(self._drain)
        return future

    def _drain(self) -> None:
        with named(self._name):
            self._work()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._todo:
                    self._workers -= 1  # under the lock: a submit now starts another
                    return
                future, call = self._todo.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # the caller's to see, through the future
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                for future, _ in self._todo:
                    future.cancel()
                self._todo.clear()
            futures = list(self._futures)
        if wait:
            for future in futures:
                with contextlib.suppress(CancelledError):
                    future.exception()  # waits; the caller reads results from its futures
