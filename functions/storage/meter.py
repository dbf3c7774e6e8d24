"""How many storage operations this process has sent: every HTTP request to Table or Queue
storage, each retry included, as each is a billed transaction. The fleet benchmark reads it
(``python -m bench.fleet``); it costs one locked increment a request."""

from __future__ import annotations

import os
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


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                   "all_proxy")


def proxies_in_environment() -> bool:
    """Whether a proxy is configured in the environment (as the Graph session asks too)."""
    return any(os.environ.get(name) for name in PROXY_VARIABLES)


# The client keywords: one counts each request (the retry policy comes first in the
# pipelines of azure-data-tables and azure-storage-queue, so every attempt is counted); the
# other reads the environment only when a proxy is set there: with it on, requests scans the
# whole environment (and looks for .netrc) on every request (~0.2 ms of CPU each).
METERED: dict[str, Any] = {"raw_request_hook": count_operation,
                           "use_env_settings": proxies_in_environment()}
