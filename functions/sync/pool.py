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
import queue
import threading
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from functions.core.config import Settings
from functions.core.errors import ConflictError, NotFoundError
from functions.core.model import Run, RunOptions, SyncKind
from functions.storage.queues import SyncJob
from functions.storage.runs import RunTable
from functions.sync.engine import SyncEngine
from functions.sync.starts import SyncStarter

log = logging.getLogger("tenantsync.pool")

# (tenant, kind, run id) of a run a process saved as ended (``RunTable.ended_keys``).
EndedKey = tuple[str, str, str]
# In a worker process: what runs its share of the jobs (set by the pool's initializer).
ShareRunner = Callable[["Share"], tuple[list[Run], list[EndedKey]]]
# Called with each run as it ends, in the thread that asked for the runs.
RunEnded = Callable[[Run], None]
# How often the caller looks for runs the worker processes ended, while it waits (s).
_POLL_SECONDS = 0.05


@dataclass
class Batch:
    """Syncs started for a local run: the jobs to execute here, and the runs that were
    already queued or running elsewhere when asked (returned as they are)."""

    jobs: list[SyncJob] = field(default_factory=list)
    active: list[Run] = field(default_factory=list)


@dataclass
class Share:
    """A worker process's share of the jobs, with the queued runs' records as this process
    recorded them and their ETags, so that the worker takes them without reading them."""

    jobs: list[SyncJob]
    queued: list[tuple[Run, str]] = field(default_factory=list)


@dataclass
class LocalRunner:
    """Starts syncs and runs them at once: ``TENANTSYNC_DEVICE_CONCURRENCY`` tenants at a
    time on threads, or over ``TENANTSYNC_WORKER_PROCESSES`` worker processes (each with
    its share of that, all under one Graph request limit), so that one tenant's storage
    calls and parsing overlap the others' Graph requests and parsing uses every core.

    ``start_worker``/``run_share`` are the composition root's: a worker process builds its
    own services from the settings (``start_worker(settings, graph_slots, ended)``), runs
    jobs with them and puts each run it ends on ``ended``, a multiprocessing queue, so that
    the caller hears of every run as it ends.
    """

    settings: Settings
    starter: SyncStarter
    engine: SyncEngine
    runs: RunTable
    start_worker: Callable[[Settings, Any, Any], None]
    run_share: ShareRunner
    _pool: ProcessPoolExecutor | None = field(default=None, init=False, repr=False)
    _ended: Any = field(default=None, init=False, repr=False)  # the workers' queue of runs
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run_one(self, kind: SyncKind, tenant_id: str, trigger: str,
                options: RunOptions | None = None, *,
                on_run: RunEnded | None = None) -> Run:
        """Start one tenant's sync and run it here, continued as every local run is (see
        ``execute``): the last run comes back, ``on_run`` hears of each.

        Raises:
            NotFoundError: ``unknown_tenant``. ConflictError: ``sync_running``.
            StorageError: storage did not answer.
        """
        job = self.starter.start(tenant_id, kind, trigger, options, enqueue=False)
        [run] = self.execute([job], on_run=on_run)
        return run

    def start_many(self, kind: SyncKind, tenant_ids: list[str], trigger: str,
                   options: RunOptions | None = None) -> Batch:
        """Start many tenants' syncs (claim, queued run) without running them.

        A tenant whose sync is already queued or running gets that run in ``active``.

        Raises:
            NotFoundError: ``unknown_tenant``. StorageError: storage did not answer.
        """
        def start(tenant_id: str) -> SyncJob | Run | None:
            try:
                return self.starter.start(tenant_id, kind, trigger, options, enqueue=False)
            except ConflictError as exc:
                if exc.run_id:
                    try:
                        return self.runs.get(tenant_id, exc.run_id)
                    except NotFoundError:
                        log.warning("tenant %s: %s", tenant_id, exc.message)
                return None

        # A start is a few storage round trips (tenant, claim, run record): many tenants
        # are started side by side, not one after the other.
        batch = Batch()
        with ThreadPoolExecutor(max_workers=max(1, self.settings.device_concurrency)) as threads:
            for started in threads.map(start, tenant_ids):
                if isinstance(started, SyncJob):
                    batch.jobs.append(started)
                elif started is not None:
                    batch.active.append(started)
        return batch

    def run_many(self, kind: SyncKind, tenant_ids: list[str], trigger: str,
                 options: RunOptions | None = None, *,
                 on_run: RunEnded | None = None) -> list[Run]:
        """Start and run many tenants' syncs; runs come back in the order of
        ``tenant_ids``. A tenant whose sync is already queued or running gets that run
        back as it is (still queued or running); one tenant's failure is its own run.
        ``on_run`` hears of each run as it ends (the ones already under way first)."""
        batch = self.start_many(kind, tenant_ids, trigger, options)
        started: dict[str, Run] = {}
        for run in batch.active:
            started[run.tenant_id] = run
            if on_run is not None:
                on_run(run)
        for run in self.execute(batch.jobs, on_run=on_run):
            started[run.tenant_id] = run
        return [started[t] for t in tenant_ids if t in started]

    def execute(self, jobs: list[SyncJob], *, on_run: RunEnded | None = None) -> list[Run]:
        """Run started jobs here (threads) or in worker processes. A run that stops part-way
        (a read too large for one run, its progress saved) is continued at once, from where
        it stopped, until its read is done: the last run of each tenant comes back (and
        ``on_run`` hears of every run, the ones that stopped part-way too)."""
        last: dict[tuple[str, str], Run] = {}
        while jobs:
            runs = self._execute_once(jobs, on_run=on_run)
            for run in runs:
                last[(run.tenant_id, run.kind)] = run
            jobs = [job for job in (self.starter.resume(r, enqueue=False) for r in runs)
                    if job is not None]
        return list(last.values())

    def _execute_once(self, jobs: list[SyncJob], *,
                      on_run: RunEnded | None = None) -> list[Run]:
        """Run started jobs here (threads) or in worker processes; ``on_run`` hears of
        each run once, as it ends, in the calling thread."""
        processes = self.settings.worker_processes
        if processes <= 1 or len(jobs) <= 1:
            return self.execute_here(jobs, on_run=on_run)
        shares = [share for share in (jobs[i::processes] for i in range(processes)) if share]
        pool = self._worker_pool(processes)
        report = _Reporter({job.run_id for job in jobs}, on_run)
        futures: list[Future[tuple[list[Run], list[EndedKey]]]] = [
            pool.submit(self.run_share, self._share(s)) for s in shares]
        pending: set[Future[tuple[list[Run], list[EndedKey]]]] = set(futures)
        while pending:
            _, pending = wait(pending, timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
            self._drain(report)
        self._drain(report)
        runs: list[Run] = []
        lost: list[SyncJob] = []
        for share, future in zip(shares, futures, strict=True):
            try:
                share_runs, ended = future.result()
            except BrokenProcessPool:
                lost.extend(share)
                continue
            runs.extend(share_runs)
            # The next start here knows these ended, without reading them.
            self.runs.remember_ended(ended)
        for run in runs:
            report(run)  # what the queue has not delivered yet
        if lost:
            # A worker process died (killed, out of memory): the pool is unusable. Its runs
            # that ended are kept; the others are taken over here (their worker is known to
            # be dead, whatever their lease says) and synced again.
            log.error("a worker process died; syncing its %d tenants here", len(lost))
            self.close()
            runs.extend(self._recover(lost, report))
        return runs

    def _share(self, jobs: list[SyncJob]) -> Share:
        """A worker's share of ``jobs``, with the queued runs this process recorded."""
        queued = [found for found in (
            self.runs.remembered_queued(job.tenant_id, job.kind, job.run_id or "")
            for job in jobs) if found is not None]
        return Share(jobs, queued)

    def run_share_here(self, share: Share, on_run: RunEnded) -> tuple[list[Run], list[EndedKey]]:
        """In a worker process: run a share of the jobs; its runs, and which of them this
        process saved as ended (for the caller's next starts)."""
        for run, etag in share.queued:
            self.runs.remember_queued(run, etag)
        runs = self.execute_here(share.jobs, on_run=on_run)
        return runs, self.runs.ended_keys(runs)

    def _drain(self, report: Callable[[Run], None]) -> None:
        """Report the runs the worker processes have put on their queue so far."""
        while self._ended is not None:
            try:
                run = self._ended.get_nowait()
            except (queue.Empty, OSError, ValueError):  # empty, or closed by close()
                return
            report(run)

    def execute_here(self, jobs: list[SyncJob], *, take_over: bool = False,
                     on_run: RunEnded | None = None) -> list[Run]:
        """Run started jobs on this process's threads; runs come back in the jobs' order
        and ``on_run`` hears of each as it ends."""
        with ThreadPoolExecutor(max_workers=max(1, self.settings.device_concurrency)) as threads:
            futures = [threads.submit(self.engine.execute, job, take_over=take_over)
                       for job in jobs]
            if on_run is not None:
                for future in as_completed(futures):
                    if future.exception() is None:
                        on_run(future.result())
            return [future.result() for future in futures]

    def _recover(self, jobs: list[SyncJob], report: Callable[[Run], None]) -> list[Run]:
        ended: list[Run] = []
        again: list[SyncJob] = []
        for job in jobs:
            assert job.run_id is not None
            run = self.runs.get(job.tenant_id, job.run_id)
            if run.active:
                again.append(job)
            else:
                ended.append(run)
                report(run)
        return ended + self.execute_here(again, take_over=True, on_run=report)

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
                self._ended = context.Queue()
                self._pool = ProcessPoolExecutor(processes, mp_context=context,
                                                 initializer=self.start_worker,
                                                 initargs=(share, slots, self._ended))
            return self._pool

    def start_workers(self) -> None:
        """Start the worker processes now rather than at the first sync (a long-lived host
        does this once; each process imports the app and builds its clients)."""
        processes = self.settings.worker_processes
        if processes > 1:
            pool = self._worker_pool(processes)
            for future in [pool.submit(self.run_share, Share([])) for _ in range(processes)]:
                future.result()

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        with self._lock:
            pool, self._pool = self._pool, None
            ended, self._ended = self._ended, None
        if pool is not None:
            pool.shutdown()
        if ended is not None:
            ended.close()


class _Reporter:
    """Hands each run of one ``execute`` call to ``on_run`` once, whichever way it came
    (the workers' queue, a share's result, a recovery), and nothing of earlier calls."""

    def __init__(self, run_ids: set[str | None], on_run: RunEnded | None) -> None:
        self._expected, self._on_run = run_ids, on_run
        self._seen: set[str] = set()

    def __call__(self, run: Run) -> None:
        if run.run_id in self._expected and run.run_id not in self._seen:
            self._seen.add(run.run_id)
            if self._on_run is not None:
                self._on_run(run)


def _share_settings(settings: Settings, processes: int) -> Settings:
    return replace(settings, worker_processes=1,
                   device_concurrency=math.ceil(settings.device_concurrency / processes))
