"""One stand-in Function instance of the fleet benchmark: ``python -m bench.fleet_worker``.

It builds its own services (token, secret and client caches) from the environment, as a
Functions host's Python worker does once, and drains the job queues as the host's queue
listener does: up to ``batch`` messages at a time per queue, a new batch once no more than
``threshold`` are in flight, each message run on a pool of ``threads`` (the Python worker's
thread pool for sync functions) by the queue function's code (``JobRunner.handle``, the body
of ``run_queued_job``), deleted once its run is recorded. Like the host, it takes a batch in
one request (``JobQueue.receive`` asks for one message a request: azure-storage-queue's page
size is 1 unless ``messages_per_page`` is given).

It answers the controller on stdin: ``hold`` stops taking messages (while the timer fans
out, so that the drain is timed on its own) and ``go`` starts again; ``status`` prints how
much is in flight and done; ``report`` prints, as one JSON line, its counters since it
started; ``stop`` ends it."""

from __future__ import annotations

import json
import resource
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.core.model import SyncKind


def high_water_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over the
    exec that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Instance:
    def __init__(self, threads: int, batch: int, threshold: int) -> None:
        from functions.services import get_services

        self.services = get_services()
        self.services.tables  # noqa: B018 - the host builds its clients before the first message
        self.queues = self.services.queues
        settings = self.services.settings
        names = {"directory": settings.directory_queue, "devices": settings.devices_queue}
        self.listeners = {kind: _host_listener(settings.storage_connection or "", names[kind])
                          for kind in self.queues}
        self.visibility = self.services.worker.visibility_seconds
        self.batch, self.threshold = batch, threshold
        self.pool = ThreadPoolExecutor(threads)
        self.lock = threading.Lock()  # in flight and runs change under it, atomically with receives
        self.in_flight = dict.fromkeys(self.queues, 0)
        self.runs: list[list[str]] = []  # [tenant, kind, run id, status, error code, seconds]
        self.failures = 0
        self.stop = threading.Event()
        self.go = threading.Event()
        self.go.set()

    def listen(self, kind: SyncKind) -> None:
        """The host's listener for one queue: poll, back off while it is empty."""
        queue, idle = self.listeners[kind], 0.05
        while not self.stop.is_set():
            if not self.go.is_set():
                self.go.wait(0.05)
                continue
            with self.lock:
                took = 0
                if self.in_flight[kind] <= self.threshold:
                    deliveries = list(queue.receive_messages(
                        max_messages=self.batch, messages_per_page=self.batch,
                        visibility_timeout=self.visibility))
                    took = len(deliveries)
                    self.in_flight[kind] += took
                    for delivery in deliveries:
                        self.pool.submit(self.run, kind, delivery)
            if took:
                idle = 0.05
                continue
            # The host backs off up to maxPollingInterval (1 min); the bench up to 1 s.
            self.stop.wait(idle)
            idle = min(1.0, idle * 2)

    def run(self, kind: SyncKind, delivery: Any) -> None:
        record: list[str] = []
        try:
            run = self.services.jobs.handle(delivery.content, kind)
            self.listeners[kind].delete_message(delivery)
            if run is not None:
                took = (run.ended_at - run.started_at).total_seconds() if run.ended_at else 0.0
                record = [run.tenant_id, kind, run.run_id, run.status.value, run.error_code,
                          f"{took:.2f}"]
        except Exception:  # as the host does: the message stays, delivered again later
            record = ["", kind, "", "exception", "", "0"]
            with self.lock:
                self.failures += 1
        finally:
            with self.lock:
                self.in_flight[kind] -= 1
                if record:
                    self.runs.append(record)

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"in_flight": sum(self.in_flight.values()), "done": len(self.runs)}

    def report(self) -> dict[str, Any]:
        from functions.storage.meter import storage_operations

        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self.lock:
            return {"runs": list(self.runs), "failures": self.failures,
                    "storage_ops": storage_operations(),
                    "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                    "peak_mb": high_water_mb()}


def _host_listener(connection: str, name: str) -> Any:
    """The host's own client for a queue (base64 messages, counted by the storage meter)."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    from functions.storage.meter import client_options

    return QueueClient.from_connection_string(
        connection, name, message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(), **client_options())


def main() -> int:
    threads, batch, threshold = (int(a) for a in sys.argv[1:4])
    instance = Instance(threads, batch, threshold)
    listeners = [threading.Thread(target=instance.listen, args=(kind,), daemon=True)
                 for kind in instance.queues]
    for listener in listeners:
        listener.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command in ("hold", "go"):
            (instance.go.clear if command == "hold" else instance.go.set)()
            print(json.dumps(instance.status()), flush=True)
        elif command == "status":
            print(json.dumps(instance.status()), flush=True)
        elif command == "report":
            print(json.dumps(instance.report()), flush=True)
        elif command == "stop":
            break
    instance.stop.set()
    for listener in listeners:
        listener.join(timeout=5)
    instance.pool.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
