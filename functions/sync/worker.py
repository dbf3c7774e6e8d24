"""Running queued jobs: the queue-triggered functions in Azure, and the local worker
(``tenantsync worker``, ``scripts/serve.sh``) that stands in for them.

Both are at-least-once, as the Functions host is: a message is deleted only once its run is
recorded. A storage outage leaves the message to be delivered again; a second delivery of
a job whose run is taken ends at once (the engine records it as a duplicate).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace

from functions.core.errors import ConflictError, InputError, NotFoundError, StorageError
from functions.core.model import Run, SyncKind
from functions.storage.queues import Delivery, JobQueue, SyncJob
from functions.sync.engine import SyncEngine
from functions.sync.poison import MAX_DELIVERIES, PoisonedJobs
from functions.sync.starts import SyncStarter

log = logging.getLogger("tenantsync.worker")


@dataclass
class JobRunner:
    """Turns a queue message into a run."""

    engine: SyncEngine
    starter: SyncStarter

    def handle(self, text: str, kind: SyncKind) -> Run | None:
        """Run the job a message carries; None for a message that carries no job we can
        run (it is logged and should be dropped).

        Raises:
            StorageError: storage did not answer: the message must be delivered again.
        """
        try:
            job = SyncJob.from_json(text)
            if job.kind != kind:
                raise InputError(f"a {job.kind} job on the {kind} queue", code="invalid_job")
            if job.run_id is None:
                # A message put on the queue by hand: it starts a run like any other start.
                job = replace(job, run_id=self.starter.start(
                    job.tenant_id, job.kind, job.trigger, job.options, enqueue=False).run_id)
            run = self.engine.execute(job)
            # A run that stopped part-way queues its own continuation at once.
            self.starter.resume(run)
            return run
        except (NotFoundError, ConflictError) as exc:
            log.warning("%s job dropped: %s", kind, exc.message)
        except InputError as exc:
            log.error("%s job rejected: %s", kind, exc.message)
        return None


@dataclass
class QueueWorker:
    """Drains the job queues locally, as the queue-triggered functions do in Azure."""

    runner: JobRunner
    queues: Mapping[SyncKind, JobQueue]
    visibility_seconds: int
    # What the host's poison queue does: a job past its last delivery becomes a failed run.
    poisoned: PoisonedJobs | None = None

    def drain(self, stop: threading.Event | None = None) -> list[Run]:
        """Run every job on the queues until they are empty (or ``stop`` is set).

        Raises:
            StorageError: the queues could not be read.
        """
        runs: list[Run] = []
        while not (stop and stop.is_set()):
            took = False
            for kind, queue in self.queues.items():
                for delivery in queue.receive(visibility_seconds=self.visibility_seconds):
                    took = True
                    try:
                        run = self._handle(delivery, kind)
                    except StorageError as exc:
                        # Left on the queue: delivered again once its visibility runs out.
                        log.warning("%s job left on the queue: %s", kind, exc.message)
                        continue
                    queue.delete(delivery)
                    if run is not None:
                        runs.append(run)
            if not took:
                break
        return runs

    def _handle(self, delivery: Delivery, kind: SyncKind) -> Run | None:
        if self.poisoned is not None and delivery.dequeue_count > MAX_DELIVERIES:
            # The host would have moved it to its poison queue after the last failure.
            return self.poisoned.handle(delivery.text, kind, delivery.dequeue_count - 1)
        return self.runner.handle(delivery.text, kind)

    def serve(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Drain the queues every ``poll_seconds`` until ``stop`` is set."""
        while not stop.wait(poll_seconds):
            try:
                self.drain(stop)
            except StorageError as exc:
                log.warning("worker: %s", exc.message)
            except Exception:
                log.exception("worker: a queued job crashed; going on with the next")
