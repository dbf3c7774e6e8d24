"""A running run's lease: the worker that took the run renews it while the run is alive.

The run record carries ``lease_until``; every write of a taken run is conditional on the
ETag the worker last wrote, so a worker whose run was closed or taken over by another (its
lease ran out: it was killed, or stalled longer than the lease) cannot overwrite what the
other wrote. A worker that finds its lease lost stops without writing anything more.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from functions.core.crew import CREW, named
from functions.core.errors import StorageError
from functions.core.model import Run
from functions.core.usage import carried
from functions.storage.runs import RunTable

log = logging.getLogger("tenantsync.lease")


class LeaseLost(Exception):
    """The run was closed or taken over by another worker: stop, and write nothing more."""


class Lease:
    """The lease of one taken run (``run`` is the worker's copy of its record)."""

    def __init__(self, runs: RunTable, run: Run, etag: str, *, seconds: float,
                 clock: Callable[[], datetime]) -> None:
        self.runs, self.run = runs, run
        self.seconds = seconds
        self._etag = etag
        self._clock = clock
        self._lock = threading.Lock()
        self.lost = threading.Event()

    def renew(self) -> None:
        """Push ``lease_until`` on by a lease; sets ``lost`` if the record changed under us.

        Raises:
            StorageError: storage did not answer (the next renewal tries again).
        """
        with self._lock:
            if self.lost.is_set():
                return
            self.run.lease_until = self._clock() + timedelta(seconds=self.seconds)
            etag = self.runs.renew_if(self.run, self._etag)
            if etag is None:
                log.warning("run %s of tenant %s was closed or taken over by another worker; "
                            "this worker stops without writing", self.run.run_id,
                            self.run.tenant_id)
                self.lost.set()
            else:
                self._etag = etag

    def check(self) -> None:
        """Raise LeaseLost if another worker closed or took the run."""
        if self.lost.is_set():
            raise LeaseLost(self.run.run_id)

    def save(self, run: Run) -> bool:
        """Write the run's final record (conditional); False if the lease was lost.

        Raises:
            StorageError: storage did not answer.
        """
        with self._lock:
            if self.lost.is_set():
                return False
            etag = self.runs.save_if(run, self._etag)
            if etag is None:
                self.lost.set()
                return False
            self._etag = etag
            return True

    def release(self) -> None:
        """Let the run go at once (best effort): a worker that failed for want of storage
        hands it to the next delivery of its job, which may then take it over."""
        with self._lock, contextlib.suppress(StorageError):
            self.run.lease_until = self._clock()
            etag = self.runs.renew_if(self.run, self._etag)
            if etag is not None:
                self._etag = etag

    @contextmanager
    def kept(self) -> Iterator[Lease]:
        """Renew the lease in the background, every quarter lease, until the block ends."""
        stop, ended = threading.Event(), threading.Event()

        def keep() -> None:
            try:
                with named(f"lease-{self.run.run_id}"):
                    while not stop.wait(self.seconds / 4):
                        try:
                            self.renew()
                        except StorageError:
                            log.warning("could not renew the lease of run %s (storage); "
                                        "trying again", self.run.run_id)
                        if self.lost.is_set():
                            return
            finally:
                ended.set()

        CREW.run(carried(keep))  # a kept thread (functions/core/crew.py), not a new one
        try:
            yield self
        finally:
            stop.set()
            ended.wait()
