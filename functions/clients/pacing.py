"""Staying inside a request budget by waiting, not by collecting 429s; and deadlines.

Intune limits each app in each tenant to a number of requests per sliding window. A
:class:`RequestPacer` remembers what it sent in the last window and grants a request only
when it still fits, so that the service never has to refuse one of ours.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


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
