"""How many storage operations this process has sent: every HTTP request to Table or Queue
storage, each retry included, as each is a billed transaction. The fleet benchmark reads it
(``python -m bench.fleet``); it costs one locked increment a request."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_sent = 0


def count_operation(_request: Any) -> None:
    """azure-core's ``raw_request_hook``: called once for every request the pipeline sends."""
    global _sent
    with _lock:
        _sent += 1


def storage_operations() -> int:
    """Table and queue requests this process has sent since it started."""
    with _lock:
        return _sent


# The client keyword that counts each request (the retry policy comes first in the
# pipelines of azure-data-tables and azure-storage-queue, so every attempt is counted).
METERED: dict[str, Any] = {"raw_request_hook": count_operation}
