"""When to send a request to a Microsoft endpoint again, and how long to wait first (pure).

One policy for Graph (single requests, walks of pages, the requests inside a ``$batch``), the
token endpoint and Key Vault: a bounded number of retries, each after the wait the service
asked for (``Retry-After``) or else an exponential one, capped at the policy's ``max_wait``,
with a little jitter so that many workers do not come back in step. A :class:`RetryBudget`
is the retries one request, or one walk through all the pages of a listing, may still spend.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Graph and Entra ask for a retry with these (429 throttled, 503/504 unavailable).
RETRIABLE_STATUSES = frozenset({429, 503, 504})
# A 429 says a budget's window is full (Intune's is per app and tenant, shared by every
# process of the deployment, a killed one's requests included), not that the service is
# down: it is waited out this many times, whatever ``max_retries`` allows for outages.
THROTTLED_RETRIES = 15


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    max_wait: float = 60.0
    max_throttled_retries: int = THROTTLED_RETRIES

    def wait(self, attempt: int, hinted: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), jitter included."""
        base = hinted if hinted is not None else 2.0**attempt  # exponential when no hint
        wait = min(max(0.0, base), self.max_wait)
        return wait + random.uniform(0, min(1.0, wait * 0.1))  # noqa: S311 - jitter

    def may_retry(self, attempt: int, *, status: int = 0) -> bool:
        """Whether a request that failed on attempt ``attempt`` (0-based), answered
        ``status`` (0: no answer), may be sent again; a 429 waits for its window longer
        than an outage is retried (see ``THROTTLED_RETRIES``)."""
        if status == 429:
            return attempt < max(self.max_retries, self.max_throttled_retries)
        return attempt < self.max_retries

    @staticmethod
    def retriable(status: int) -> bool:
        """Whether an answer with this status asks to be sent again (429, 503, 504)."""
        return status in RETRIABLE_STATUSES

    def budget(self) -> RetryBudget:
        """A fresh budget of ``max_retries`` retries, for one request or one walk."""
        return RetryBudget(self)


@dataclass
class RetryBudget:
    """The retries left to one request or one walk of pages: every retry of any of its
    requests (throttled, unavailable, or a dropped connection) spends from the same budget,
    so a walk of a thousand pages cannot wait out a thousand times ``max_retries`` waits."""

    policy: RetryPolicy
    spent: int = 0

    def may_retry(self, *, status: int = 0) -> bool:
        """Whether one more retry is left for a request answered ``status`` (0: none)."""
        return self.policy.may_retry(self.spent, status=status)

    def spend(self, hinted: float | None = None) -> float:
        """Take one retry from the budget; the seconds to wait before it (``hinted`` is the
        service's ``Retry-After``, honoured up to the policy's ``max_wait``)."""
        wait = self.policy.wait(self.spent, hinted)
        self.spent += 1
        return wait
