"""How many storage operations this process has sent: every HTTP request to Table or Queue
storage, each retry included, as each is a billed transaction. The fleet benchmark reads it
(``python -m bench.fleet``); it costs one locked increment a request. Each is also counted
by the table or queue it went to, so that a run's own bookkeeping can be measured."""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from typing import Any
from urllib.parse import unquote, urlsplit

from functions.core.usage import count_storage_operation
from functions.storage.transport import storage_transport

_lock = threading.Lock()
_sent = 0
_by_request: dict[tuple[str, str], int] = {}  # (HTTP method, table or queue) -> requests
# A transaction (POST .../$batch) names its table in its first operation's URL, near the
# start of its multipart body: it is counted against that table.
_BATCH_TABLE = re.compile(rb"\r\n[A-Z]+ \S*?/([A-Za-z][A-Za-z0-9]*)(?:\(| HTTP/)")


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
    sent = getattr(request, "http_request", None)
    name = target(str(getattr(sent, "url", "")))
    body = getattr(sent, "body", None)
    if name == "$batch" and isinstance(body, bytes):
        found = _BATCH_TABLE.search(body, 0, 2048)
        name = found.group(1).decode() if found else name
    key = (str(getattr(sent, "method", "")), name)
    with _lock:
        _sent += 1
        _by_request[key] = _by_request.get(key, 0) + 1
    count_storage_operation()  # and against the run this thread works for, if any


def storage_operations() -> int:
    """Table and queue requests this process has sent since it started."""
    with _lock:
        return _sent


def operations_by_table() -> dict[tuple[str, str], int]:
    """Requests sent so far by (HTTP method, table or queue): what a run read and wrote where."""
    with _lock:
        return dict(_by_request)


def operations_by_target() -> dict[str, int]:
    """Table and queue requests this process has sent since it started, by table or queue."""
    counts: Counter[str] = Counter()
    for (_, name), sent in operations_by_table().items():
        counts[name] += sent
    return dict(counts)


# The client keyword that counts each request (the retry policy comes first in the
# pipelines of azure-data-tables and azure-storage-queue, so every attempt is counted).
METERED: dict[str, Any] = {"raw_request_hook": count_operation}


# The proxy variables: as for the sign-in session (``clients.identity``), storage reads the
# environment only when one is set. Storage is verified against the default CA store.
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                   "all_proxy")


def proxies_in_environment() -> bool:
    """Whether a proxy is configured in the environment (as the Graph session asks too)."""
    return any(os.environ.get(name) for name in PROXY_VARIABLES)


def client_options() -> dict[str, Any]:
    """The keywords every storage client is built with: the meter, the environment's proxy
    settings only when it has any (requests otherwise scans the whole environment, and
    looks for .netrc, on every request: ~0.2 ms of CPU each), and a transport of its own
    that sends without ``Session.request``'s merging (``functions/storage/transport.py``)."""
    use_env = proxies_in_environment()
    return {**METERED, "use_env_settings": use_env,
            "transport": storage_transport(use_env_settings=use_env)}
