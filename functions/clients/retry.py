"""When to send a request to a Microsoft endpoint again, and how long to wait first (pure).

One policy for Graph, the token endpoint and Key Vault: a bounded number of retries, each
after the wait the service asked for (``Retry-After``) or else an exponential one, capped,
with a little jitter so that many workers do not come back in step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Graph and Entra ask for a retry with these (429 throttled, 503/504 unavailable).
RETRIABLE_STATUSES = frozenset({429, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    max_wait: float = 60.0

    def wait(self, attempt: int, hinted: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), jitter included."""
        base = hinted if hinted is not None else 2.0**attempt  # exponential when no hint
        wait = min(max(0.0, base), self.max_wait)
        return wait + random.uniform(0, min(1.0, wait * 0.1))  # noqa: S311 - jitter

    def may_retry(self, attempt: int) -> bool:
        """Whether a request that failed on attempt ``attempt`` (0-based) may be sent again."""
        return attempt < self.max_retries
