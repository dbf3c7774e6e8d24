"""How many storage operations this process has sent: every HTTP request to Table or Queue
storage, each retry included, as each is a billed transaction. The fleet benchmark reads it
(``python -m bench.fleet``); it costs one locked increment a request. Each is also counted
by the table or queue it went to, so that a run's own bookkeeping can be measured."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from urllib.parse import unquote, urlsplit

_lock = threading.Lock()
_sent = 0
_by_target: Counter[str] = Counter()


def target(url: str) -> str:
    """The table or queue a storage request's URL names (``runs`` for
    ``.../runs(PartitionKey='t',RowKey='r')``, ``jobs`` for ``.../jobs/messages``); the
    account's name is skipped where it leads the path (the emulator's path-style URLs)."""
    parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    if parts and parts[0].startswith("devstoreaccount"):
        parts = parts[1:]
    if not parts:
        return ""
    return parts[0].split("(", 1)[0]


def count_operation(request: Any) -> None:
    """azure-core's ``raw_request_hook``: called once for every request the pipeline sends."""
    global _sent
    url = str(getattr(getattr(request, "http_request", None), "url", ""))
    name = target(url)
    with _lock:
        _sent += 1
        _by_target[name] += 1


def storage_operations() -> int:
    """Table and queue requests this process has sent since it started."""
    with _lock:
        return _sent


def operations_by_target() -> dict[str, int]:
    """Table and queue requests this process has sent since it started, by table or queue."""
    with _lock:
        return dict(_by_target)


# The client keyword that counts each request (the retry policy comes first in the
# pipelines of azure-data-tables and azure-storage-queue, so every attempt is counted).
METERED: dict[str, Any] = {"raw_request_hook": count_operation}
