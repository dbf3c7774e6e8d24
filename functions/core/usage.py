"""What one run uses of the instance that runs it: the CPU seconds of every thread that
worked for it, and the storage operations it sent (docs/scale.md, "What a tenant costs").

On Flex Consumption an instance is billed while it executes, and CPU is what limits how
many tenants it carries; storage operations are billed one by one. A run measures both
while it runs, so that each tenant's cost can be read from its runs (API, CLI and the
workbook) instead of guessed.

The run's own thread opens a meter (``metered``); work it hands to a pool is wrapped with
``carried`` so that the pool's thread counts for the same run. CPU is the thread's own
(``time.thread_time``): waiting for Graph or storage costs nothing, and two runs side by
side in one process each count only their own threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

_local = threading.local()


class Usage:
    """The CPU seconds and storage operations of one run, from all its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cpu = 0.0  # of the threads' stretches that ended
        self._storage = 0
        self._open: dict[int, float] = {}  # thread id -> thread_time when it began

    def begin(self) -> None:
        with self._lock:
            self._open[threading.get_ident()] = time.thread_time()

    def end(self) -> None:
        now = time.thread_time()
        with self._lock:
            started = self._open.pop(threading.get_ident(), None)
            if started is not None:
                self._cpu += max(0.0, now - started)

    def count_storage(self, operations: int = 1) -> None:
        with self._lock:
            self._storage += operations

    @property
    def storage_operations(self) -> int:
        with self._lock:
            return self._storage

    def cpu_seconds(self) -> float:
        """So far: the stretches that ended, and the calling thread's open one (a run reads
        its figures from its own thread, once the pools it used are done)."""
        now = time.thread_time()
        with self._lock:
            started = self._open.get(threading.get_ident())
            return self._cpu + (max(0.0, now - started) if started is not None else 0.0)


def current() -> Usage | None:
    """The meter of the run the calling thread works for, if any."""
    found: Usage | None = getattr(_local, "usage", None)
    return found


@contextmanager
def metered(usage: Usage) -> Iterator[Usage]:
    """Count the calling thread's CPU and storage operations for ``usage`` in the block."""
    outer = current()
    if outer is not None:
        outer.end()  # a meter inside another: the inner one counts this stretch
    _local.usage = usage
    usage.begin()
    try:
        yield usage
    finally:
        usage.end()
        _local.usage = outer
        if outer is not None:
            outer.begin()


def carried(work: Callable[_P, _T]) -> Callable[_P, _T]:
    """``work`` run for the calling thread's run, whichever thread runs it (for pools)."""
    usage = current()
    if usage is None:
        return work

    @wraps(work)
    def counted(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with metered(usage):
            return work(*args, **kwargs)

    return counted


def count_storage_operation() -> None:
    """One storage request sent by the calling thread (the storage meter's hook)."""
    usage = current()
    if usage is not None:
        usage.count_storage()
