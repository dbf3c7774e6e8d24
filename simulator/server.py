"""HTTPS transport: a threading HTTP/1.1 server whose connections are wrapped in TLS."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from .wire import Request, Response, json_response

logger = logging.getLogger("simulator")

MAX_BODY = 1024 * 1024
# Credentials a misbehaving client might put in a URL: never let them reach a log line.
_CREDENTIAL_IN_URL = re.compile(
    r"(client_secret|client_assertion|password|refresh_token|access_token)=[^&\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return _CREDENTIAL_IN_URL.sub(r"\1=***", text)


Dispatch = Callable[[Request, str], Response]


class TLSServer(ThreadingHTTPServer):
    """Accepts plain sockets and does the TLS handshake in the connection's own thread,
    so that one slow client never blocks the accept loop. Without a context it serves plain
    HTTP (the managed identity endpoint, which is plain HTTP on the Functions host too)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(
        self, address: tuple[str, int], context: ssl.SSLContext | None, dispatch: Dispatch
    ) -> None:
        super().__init__(address, Handler)
        self.context = context
        self.dispatch = dispatch
        scheme = "http" if context is None else "https"
        self.base_url = f"{scheme}://{address[0]}:{self.server_address[1]}"
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        # Headers and body go out in separate writes: without NODELAY, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive response.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is None:
            tls = request
        else:
            try:
                tls = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                logger.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
        with self._open_lock:
            self._open.add(tls)
        try:
            Handler(tls, client_address, self)
        except OSError as exc:  # the client went away mid-request
            logger.debug("connection from %s ended: %s", client_address, exc)
        finally:
            with self._open_lock:
                self._open.discard(tls)
            tls.close()

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection (used when stopping)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tenantsync-simulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this
    server: TLSServer

    def parse_request(self) -> bool:
        # The request line has just been read (a keep-alive connection waits for it before):
        # the request's time in the service starts now, its headers and body included.
        self._arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), redact(format % args))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # each request is logged once, in _handle

    def _read_body(self) -> bytes | None:
        """The request body, or None if it is too large."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        started = time.monotonic()
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(target.path),
            query_string=target.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=b"",
            base_url=self.server.base_url,
            arrived=self._arrived,
        )
        try:
            body = self._read_body()
        except ValueError:
            body = None
        if body is None:
            self.close_connection = True
            response = json_response(
                413, {"error": {"code": "RequestTooLarge", "message": "Body too large."}}
            )
        else:
            request.body = body
            try:
                response = self.server.dispatch(request, self.client_address[0])
            except Exception:
                logger.exception("simulator failed on %s %s", request.method, request.path)
                response = json_response(
                    500, {"error": {"code": "InternalServerError", "message": "Simulator bug."}}
                )
        if response.drop:
            self.close_connection = True
            logger.debug("%s %s -> dropped", request.method, redact(self.path))
            return
        self._send(request, response)
        logger.debug(
            "%s %s -> %d (%.1f ms)",
            request.method,
            redact(self.path),
            response.status,
            (time.monotonic() - started) * 1000,
        )

    def _send(self, request: Request, response: Response) -> None:
        self.send_response(response.status)
        headers = dict(response.headers)
        headers.setdefault("request-id", request.request_id)
        headers.setdefault("x-ms-request-id", request.request_id)
        client_request_id = request.header("client-request-id")
        if client_request_id:
            headers.setdefault("client-request-id", client_request_id)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()


def make_server(
    host: str, port: int, context: ssl.SSLContext | None, dispatch: Dispatch
) -> TLSServer:
    """Bind (port 0 picks a free port) and return the server, not yet serving."""
    return TLSServer((host, port), context, dispatch)
