"""Staying inside a request budget by waiting, not by collecting 429s; and deadlines.

Intune limits each app in each tenant to a number of requests per sliding window. A
:class:`RequestPacer` remembers what it sent in the last window and grants a request only
when it still fits, so that the service never has to refuse one of ours. Graph's
identity and access budget is the app's across all tenants: a :class:`SharedPacer` draws on
a record every instance shares, so K instances together stay inside it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Deadline:
    """A moment by which work must stop starting new things (monotonic clock)."""

    def __init__(self, seconds: float | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at = None if seconds is None else clock() + seconds

    @classmethod
    def never(cls) -> Deadline:
        return cls(None)

    def remaining(self) -> float:
        """Seconds left (infinite for no deadline, never negative)."""
        return math.inf if self._at is None else max(0.0, self._at - self._clock())

    def passed(self) -> bool:
        return self._at is not None and self._clock() >= self._at

    def extended(self, seconds: float) -> Deadline:
        """The same deadline, ``seconds`` later."""
        later = Deadline(None, clock=self._clock)
        later._at = None if self._at is None else self._at + seconds
        return later


class RequestPacer:
    """At most ``limit`` requests in any ``window`` seconds (a sliding window of what was sent).

    Thread-safe. ``take`` waits until a request fits and grants as many as fit at once.
    """

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[tuple[float, int]] = deque()  # (when, how many)
        self._in_window = 0
        self._lock = threading.Lock()
        self._refused_until = 0.0  # the service said its window is full until then
        self.waited = 0.0  # seconds spent waiting, for the run's figures

    def refused(self, retry_after: float | None) -> None:
        """The service answered 429: its window is full although ours is not (requests of
        another process, or of a run that died, share the budget). Grant nothing for
        ``retry_after`` seconds (a whole window when the service named no wait)."""
        wait = self.window if retry_after is None else min(max(0.0, retry_after), self.window)
        with self._lock:
            self._refused_until = max(self._refused_until, self._clock() + wait)

    def _expire(self, now: float) -> None:
        cutoff = now - self.window + 1e-6  # a wait computed to the end of a window ends it
        while self._sent and self._sent[0][0] <= cutoff:
            self._in_window -= self._sent.popleft()[1]

    def _wait_for_room(self, wanted: int, now: float) -> float:
        """Seconds until ``wanted`` (at most ``limit``) more requests fit."""
        room = self.limit - self._in_window
        if room >= wanted:
            return 0.0
        freed = 0
        for when, count in self._sent:
            freed += count
            if room + freed >= wanted:
                return max(0.0, when + self.window - now)
        return self.window  # unreachable while wanted <= limit

    def recent(self, now_unix: float) -> list[list[float]]:
        """What was sent in the last window, as ``[unix time, requests]``: for the next run
        of the same tenant, whose requests share the window with these."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            return [[round(now_unix - (now - when), 3), count] for when, count in self._sent]

    def prime(self, sent: list[list[float]], now_unix: float) -> None:
        """Count requests an earlier run sent (``recent``'s answer) as sent by this pacer."""
        with self._lock:
            now = self._clock()
            for when_unix, count in sorted(sent):
                when = now - (now_unix - when_unix)
                if when > now - self.window and count > 0:
                    self._sent.append((when, int(count)))
                    self._in_window += int(count)

    def wait_for(self, count: int) -> float:
        """About how long sending ``count`` requests would have to wait, in all."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            first = min(count, self.limit)
            rounds = math.ceil(count / self.limit) - 1
            refused = max(0.0, self._refused_until - now)
            return max(self._wait_for_room(first, now), refused) + rounds * self.window

    def take(self, count: int, deadline: Deadline | None = None, *, wait: bool = True) -> int:
        """Wait until ``count`` requests fit (``limit`` at most), record and grant them.

        Without ``wait``, grants at once what fits now (maybe fewer, maybe none). Returns 0,
        having waited for nothing, when the wait would pass ``deadline``.
        """
        wanted = max(1, min(count, self.limit))
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                room = self.limit - self._in_window if now >= self._refused_until else 0
                if room >= wanted or (not wait and room >= 1):
                    granted = min(count, room)
                    self._sent.append((now, granted))
                    self._in_window += granted
                    return granted
                if not wait:
                    return 0
                needed = max(self._wait_for_room(wanted, now), self._refused_until - now)
            if deadline is not None and needed > deadline.remaining():
                return 0
            self.waited += needed
            self._sleep(needed)


class BudgetClaims(Protocol):
    """Where every instance records what it claimed of a shared budget (a table row per
    budget and time slot, ``functions.storage.budgets``)."""

    def claim(self, key: str, slot: int, limit: int, wanted: int) -> int:
        """Claim up to ``wanted`` of the ``limit`` of slot number ``slot``; what was granted
        (0: every instance together has claimed the slot's limit)."""
        ...


class SharedPacer:
    """At most ``limit`` requests in any ``window`` seconds, across every instance that draws
    on the same ``key`` (Graph's per-app budgets are the app's across all tenants and all
    instances, not one instance's).

    Time is cut into ``parts`` slots of ``window / parts`` seconds on the wall clock; each
    slot admits ``limit / (parts + 1)``, so that any window, which overlaps at most
    ``parts + 1`` slots, stays inside the limit. An instance claims a chunk of a slot at a
    time (one storage write per chunk, not per request); what it leaves unused at the end of
    the slot is lost, never carried over. When the slot is spent, ``take`` waits for the
    next one: a request that would be throttled waits for its window instead of failing.
    """

    def __init__(self, claims: BudgetClaims, key: str, limit: int, window: float, *,
                 parts: int = 4, chunk: int = 0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.key = key
        self.slot_seconds = window / max(1, parts)
        self.slot_limit = max(1, limit // (max(1, parts) + 1))
        self.chunk = max(1, min(chunk or self.slot_limit // 10, self.slot_limit))
        self._claims, self._clock, self._sleep = claims, clock, sleep
        self._slot, self._left, self._spent = -1, 0, False
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for a slot, for the figures
        self.claimed = 0  # requests claimed from the shared record (used or not)

    def take(self) -> None:
        """Wait until one more request fits the shared budget, and count it."""
        while True:
            with self._lock:
                now = self._clock()
                slot = int(now // self.slot_seconds)
                if slot != self._slot:
                    self._slot, self._left, self._spent = slot, 0, False
                if self._left > 0:
                    self._left -= 1
                    return
                if not self._spent:
                    granted = self._claims.claim(self.key, slot, self.slot_limit, self.chunk)
                    self.claimed += granted
                    # A grant belongs to its slot: one that arrives after the slot ended
                    # is dropped (already counted against that slot, never sent in another).
                    if granted and int(self._clock() // self.slot_seconds) == slot:
                        self._left = granted - 1
                        return
                    self._spent = granted == 0
                    if not self._spent:
                        continue
                wait = (slot + 1) * self.slot_seconds - self._clock()
            wait = max(0.001, wait)
            self.waited += wait
            self._sleep(wait)


class SharedBudget:
    """The process's pacers of one shared budget, one per key (an app's id)."""

    def __init__(self, claims: BudgetClaims, limit: int, window: float, *,
                 prefix: str = "") -> None:
        self.claims, self.limit, self.window, self.prefix = claims, limit, window, prefix
        self._pacers: dict[str, SharedPacer] = {}
        self._lock = threading.Lock()

    def pacer(self, key: str) -> SharedPacer:
        with self._lock:
            found = self._pacers.get(key)
            if found is None:
                found = self._pacers[key] = SharedPacer(
                    self.claims, self.prefix + key, self.limit, self.window)
            return found


class PacedSlots:
    """A Graph request's slot, taken after the shared budget granted the request: waiting
    for the budget holds no slot, so other apps' requests go on meanwhile."""

    def __init__(self, pacer: SharedPacer, slots: AbstractContextManager[Any] | None) -> None:
        self._pacer, self._slots = pacer, slots

    def __enter__(self) -> PacedSlots:
        self._pacer.take()
        if self._slots is not None:
            self._slots.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._slots is not None:
            self._slots.__exit__(*exc)
