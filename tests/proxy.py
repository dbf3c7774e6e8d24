"""A TCP proxy in front of a loopback service that a test can cut off and restore: a storage
outage without losing what Azurite holds (its in-memory data would not survive a restart).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from devstack.stack import free_port


class SwitchableProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target``. ``cut()`` resets every open
    connection and every new one until ``restore()``; ``drop_answers(n)`` resets the
    connection of each of the next ``n`` answers instead of passing it on (the request
    reached the service and was carried out; its caller sees a connection reset)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        self._drops = 0
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            for conn in list(self._open):
                _reset(conn)
            self._open.clear()

    def restore(self) -> None:
        self._up.set()

    def drop_answers(self, count: int) -> None:
        with self._lock:
            self._drops = count

    def _drop_this_answer(self) -> bool:
        with self._lock:
            if self._drops <= 0:
                return False
            self._drops -= 1
            return True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b, answers in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, answers), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if answers and self._drop_this_answer():
                    # Wake the other direction's recv on the client socket too: closing a
                    # socket another thread is reading sends nothing on Linux.
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_RDWR)
                    break
                if not self._up.is_set():
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _reset(source)
            _reset(sink)


def _reset(conn: socket.socket) -> None:
    """Close with a reset (RST), as a storage front end that went away does."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()
