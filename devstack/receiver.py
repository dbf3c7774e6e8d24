"""A portal's webhook endpoint for the demo, the tests and the benchmark: HTTPS on loopback
(a certificate from its own CA, made with trustme), recording what it got, verifying each
delivery with the Standard Webhooks reference package, and failing on request."""

from __future__ import annotations

import random
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    """One request the endpoint got, and what it answered."""

    at: float
    headers: dict[str, str]
    body: str
    status: int
    verified: bool | None  # None: no secret to verify with


@dataclass
class Receiver:
    """``fail_rate`` of requests (seeded) and the first ``fail_first`` answer 500;
    ``secrets`` (whsec_ values) verify signatures once given."""

    fail_rate: float = 0.0
    fail_first: int = 0
    seed: int = 7
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    on_receive: Any = None  # called with each Received (the demo prints it)

    def start(self) -> Receiver:
        self._dir = tempfile.TemporaryDirectory(prefix="receiver-")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = str(Path(self._dir.name) / "receiver-ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._random = random.Random(self.seed)  # noqa: S311 - chooses test failures only
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                status = receiver._answer()
                verified = receiver._verify(body, dict(self.headers))
                got = Received(time.time(), {k.lower(): v for k, v in self.headers.items()},
                               body, status, verified)
                with receiver._lock:
                    receiver.received.append(got)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                if receiver.on_receive is not None:
                    receiver.on_receive(got)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/hooks/tenantsync"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _answer(self) -> int:
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
            return 500 if self._random.random() < self.fail_rate else 204

    def _verify(self, body: str, headers: dict[str, str]) -> bool | None:
        if not self.secrets:
            return None
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

