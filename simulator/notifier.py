"""Graph's side of change notifications: the validation handshake and the deliveries.

Follows "Set up notifications for changes in resource data" (change-notifications-delivery-
webhooks) and "Reduce missing subscriptions and change notifications" (lifecycle events):
the handshake POSTs `?validationToken=...` and expects 200, text/plain, the token as the
body, within 10 seconds; a delivery POSTs `{"value": [...]}` and expects a 2xx within 3
seconds, else Graph retries (for up to 4 hours; the simulator retries a few times at once).

The simulator only ever calls loopback addresses: it must never reach the internet.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

logger = logging.getLogger("simulator.notifications")

HANDSHAKE_TIMEOUT = 10.0  # "respond ... within 10 seconds"
DELIVERY_TIMEOUT = 3.0  # "... must respond with a 2xx code within 3 seconds"
DELIVERY_ATTEMPTS = 3  # Graph retries for hours; a few quick tries are enough here


def loopback_url(url: str) -> str | None:
    """Why a notification URL is refused, or None: HTTPS (plain HTTP only on loopback, where
    the local API is served) and a loopback host, since the simulator may reach nothing else."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "must be an absolute https URL"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return "must be on loopback: the simulator calls no other host"
    return None


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with one more query parameter (a notificationUrl may carry its own query)."""
    return f"{url}{'&' if urlsplit(url).query else '?'}{name}={quote(value, safe='')}"


def handshake(url: str, verify: str | bool) -> bool:
    """Validate an endpoint as Graph does: True only for 200, text/plain, the token echoed."""
    token = "Validation: Testing client application reachability for subscription Request-Id: " \
            + secrets.token_hex(16)
    try:
        answer = requests.post(with_query(url, "validationToken", token),
                               headers={"Content-Type": "text/plain; charset=utf-8"},
                               timeout=HANDSHAKE_TIMEOUT, verify=verify)
    except requests.RequestException as exc:
        logger.info("validation of %s failed: %s", url, type(exc).__name__)
        return False
    kind = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return answer.status_code == 200 and kind == "text/plain" and answer.text == token


@dataclass
class Delivery:
    """One POST the simulator made to a subscriber, as the tests read it."""

    url: str
    body: dict[str, Any]
    status: int  # 0: no answer
    at: float
    seconds: float


@dataclass
class Notifier:
    """Delivers notification batches on a thread of its own, ``delay`` seconds after the
    change (0 by default: at once)."""

    verify: str | bool = True
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.Queue[tuple[float, str, dict[str, Any]] | None] = field(
        default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, url: str, body: dict[str, Any], *, due: float | None = None) -> None:
        """Queue a POST of ``body`` to ``url`` (after the delay, or at ``due``)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sim-notifier",
                                                daemon=True)
                self._thread.start()
        self._queue.put((due if due is not None else time.monotonic() + self.delay, url, body))

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5)

    def recorded(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            due, url, body = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            # Each POST on a thread of its own: a slow endpoint holds up no other delivery.
            threading.Thread(target=self._post, args=(url, body), daemon=True).start()

    def _post(self, url: str, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        for attempt in range(DELIVERY_ATTEMPTS):
            started = time.monotonic()
            try:
                answer = requests.post(url, data=data, timeout=DELIVERY_TIMEOUT,
                                       verify=self.verify,
                                       headers={"Content-Type": "application/json"})
                status = answer.status_code
            except requests.RequestException:
                status = 0
            with self._lock:
                self.deliveries.append(Delivery(url, body, status, time.time(),
                                                time.monotonic() - started))
            if 200 <= status < 300 or 400 <= status < 500:
                return  # delivered, or refused: a retry would get the same answer
            time.sleep(0.2 * (attempt + 1))

