"""Syncs run now, in this process or in worker processes (the command line, the benchmarks),
through the same start and engine as queued ones.

Each tenant is started as any sync is (its claim taken, its run recorded as queued), then
its job is executed here instead of through the queue: a sync started from the command line
while another of the same tenant is queued or running is refused like an HTTP start.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from functions.core.config import Settings
from functions.core.errors import ConflictError, NotFoundError
from functions.core.model import Run, RunOptions
from functions.storage.queues import SyncJob
from functions.storage.runs import RunTable
from functions.sync.engine import SyncEngine
from functions.sync.starts import SyncStarter

log = logging.getLogger("tenantsync.pool")

# In a worker process: what runs its share of the jobs (set by the pool's initializer).
ShareRunner = Callable[[list[SyncJob]], list[Run]]


@dataclass
class LocalRunner:
    """Starts syncs and runs them at once: ``TENANTSYNC_DEVICE_CONCURRENCY`` tenants at a
    time on threads, or over ``TENANTSYNC_WORKER_PROCESSES`` worker processes (each with
    its share of that, all under one Graph request limit), so that one tenant's storage
    calls and parsing overlap the others' Graph requests and parsing uses every core.

    ``start_worker``/``run_share`` are the composition root's: a worker process builds its
    own services from the settings and runs jobs with them.
    """

    settings: Settings
    starter: SyncStarter
    engine: SyncEngine
    runs: RunTable
    start_worker: Callable[[Settings, Any], None]
    run_share: ShareRunner
    _pool: ProcessPoolExecutor | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run_one(self, kind: str, tenant_id: str, trigger: str,
                options: RunOptions | None = None) -> Run:
        """Start one tenant's sync and run it here.

        Raises:
            NotFoundError: ``unknown_tenant``. ConflictError: ``sync_running``.
            StorageError: storage did not answer.
        """
        job = self.starter.start(tenant_id, kind, trigger, options, enqueue=False)
        return self.engine.execute(job)

    def run_many(self, kind: str, tenant_ids: list[str], trigger: str,
                 options: RunOptions | None = None) -> list[Run]:
        """Start and run many tenants' syncs; runs come back in the order of
        ``tenant_ids``. A tenant whose sync is already queued or running gets that run
        back as it is (still queued or running); one tenant's failure is its own run. A run
        that stops part-way (a read too large for one run) is continued at once until the
        read is done; the last run of each tenant comes back."""
        started: dict[str, Run] = {}
        jobs: list[SyncJob] = []
        for tenant_id in tenant_ids:
            try:
                jobs.append(self.starter.start(tenant_id, kind, trigger, options, enqueue=False))
            except ConflictError as exc:
                if exc.run_id:
                    try:
                        started[tenant_id] = self.runs.get(tenant_id, exc.run_id)
                    except NotFoundError:
                        log.warning("tenant %s: %s", tenant_id, exc.message)
        runs = self.execute(jobs)
        while runs:
            for run in runs:
                started[run.tenant_id] = run
            # A read too large for one run goes on at once, from where it stopped.
            again = [job for job in (self.starter.resume(r, enqueue=False) for r in runs)
                     if job is not None]
            runs = self.execute(again) if again else []
        return [started[t] for t in tenant_ids if t in started]

    def execute(self, jobs: list[SyncJob]) -> list[Run]:
        """Run started jobs here (threads) or in worker processes."""
        processes = self.settings.worker_processes
        if processes <= 1 or len(jobs) <= 1:
            return self.execute_here(jobs)
        shares = [share for share in (jobs[i::processes] for i in range(processes)) if share]
        pool = self._worker_pool(processes)
        futures: list[Future[list[Run]]] = [pool.submit(self.run_share, s) for s in shares]
        runs: list[Run] = []
        lost: list[SyncJob] = []
        for share, future in zip(shares, futures, strict=True):
            try:
                runs.extend(future.result())
            except BrokenProcessPool:
                lost.extend(share)
        if lost:
            # A worker process died (killed, out of memory): the pool is unusable. Its runs
            # that ended are kept; the others are taken over here (their worker is known to
            # be dead, whatever their lease says) and synced again.
            log.error("a worker process died; syncing its %d tenants here", len(lost))
            self.close()
            runs.extend(self._recover(lost))
        return runs

    def execute_here(self, jobs: list[SyncJob], *, take_over: bool = False) -> list[Run]:
        with ThreadPoolExecutor(max_workers=max(1, self.settings.device_concurrency)) as threads:
            return list(threads.map(lambda job: self.engine.execute(job, take_over=take_over),
                                    jobs))

    def _recover(self, jobs: list[SyncJob]) -> list[Run]:
        ended: list[Run] = []
        again: list[SyncJob] = []
        for job in jobs:
            assert job.run_id is not None
            run = self.runs.get(job.tenant_id, job.run_id)
            if run.active:
                again.append(job)
            else:
                ended.append(run)
        return ended + self.execute_here(again, take_over=True)

    def _worker_pool(self, processes: int) -> ProcessPoolExecutor:
        """Worker processes kept for the life of this runner (their token and secret caches
        stay warm between calls); each builds its own clients from the settings."""
        with self._lock:
            if self._pool is None:
                share = _share_settings(self.settings, processes)
                # spawn, not fork: this process has threads (HTTP pools, SDK clients) whose
                # locks a forked child could inherit held.
                context = multiprocessing.get_context("spawn")
                slots = context.BoundedSemaphore(max(1, self.settings.graph_concurrency))
                self._pool = ProcessPoolExecutor(processes, mp_context=context,
                                                 initializer=self.start_worker,
                                                 initargs=(share, slots))
            return self._pool

    def start_workers(self) -> None:
        """Start the worker processes now rather than at the first sync (a long-lived host
        does this once; each process imports the app and builds its clients)."""
        processes = self.settings.worker_processes
        if processes > 1:
            pool = self._worker_pool(processes)
            for future in [pool.submit(self.run_share, []) for _ in range(processes)]:
                future.result()

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


def _share_settings(settings: Settings, processes: int) -> Settings:
    return replace(settings, worker_processes=1,
                   device_concurrency=math.ceil(settings.device_concurrency / processes))
