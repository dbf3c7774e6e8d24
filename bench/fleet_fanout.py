"""The fleet benchmark's separate measurements: the timer's fan-out over many tenant rows
(no syncs), and what the deployment chooses per instance (read from infra/ and host.json)."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class InstanceShape:
    """One Flex Consumption instance as the deployment sets it up."""

    memory_mb: int  # infra: instanceMemoryMB
    threads: int  # the Python worker's thread pool for sync functions
    batch: int  # host.json extensions.queues.batchSize
    threshold: int  # host.json extensions.queues.newBatchThreshold
    max_instances: int  # infra: maximumInstanceCount

    @property
    def cores(self) -> int:
        # Flex: 2,048 MB is about one core, 4,096 MB two (512 MB a quarter, counted as one).
        return max(1, self.memory_mb // 2048)


def instance_shape() -> InstanceShape:
    """What infra/main.bicep and host.json choose (defaults where they set nothing)."""
    bicep = (ROOT / "infra" / "main.bicep").read_text()
    app = (ROOT / "infra" / "modules" / "functionapp.bicep").read_text()

    def param(name: str, default: int) -> int:
        found = re.search(rf"param {name} int = (\d+)", bicep)
        return int(found.group(1)) if found else default

    memory = param("instanceMemoryMB", 2048)
    queues: dict[str, Any] = json.loads((ROOT / "host.json").read_text()).get(
        "extensions", {}).get("queues", {})
    batch = int(queues.get("batchSize", 16))
    cores = max(1, memory // 2048)
    # Unset, the Python worker's pool is Python's default: min(32, cores + 4).
    threads_set = re.search(r"PYTHON_THREADPOOL_THREAD_COUNT:\s*'?(\d+)", app)
    threads = int(threads_set.group(1)) if threads_set else min(32, cores + 4)
    # The queue extension's default newBatchThreshold: batchSize / 2 x cores.
    threshold = int(queues.get("newBatchThreshold", math.ceil(batch / 2) * cores))
    return InstanceShape(memory, threads, batch, threshold, param("maximumInstanceCount", 100))


def measure_fanout(count: int) -> dict[str, Any]:
    """Time the directory timer's fan-out (Scheduler.schedule) over ``count`` tenant rows on a
    fresh Azurite: one run and one queue message each, nothing synced."""
    from devstack.stack import AzuriteProcess, local_settings
    from functions.core.config import Settings
    from functions.core.model import (
        CredentialType,
        DirectoryConnection,
        SyncKind,
        TenantRecord,
        Trigger,
        utcnow,
    )
    from functions.services import Services
    from functions.storage import entities as ent
    from functions.storage.meter import storage_operations

    azurite = AzuriteProcess().start()
    try:
        env = local_settings(
            storage_connection=azurite.connection_string, sim_base_url="https://127.0.0.1:9",
            ca_path="", operator={"tenant_id": str(uuid.uuid4()),
                                  "client_id": str(uuid.uuid4()), "secret": "unused"})
        services = Services(Settings.from_env(env))
        now, app = utcnow(), str(uuid.uuid4())

        def row(n: int) -> dict[str, Any]:
            tenant = str(uuid.UUID(int=n + 1, version=4))
            connection = DirectoryConnection(tenant, app, str(uuid.uuid4()),
                                             "https://graph.microsoft.com/.default", "",
                                             CredentialType.FEDERATED)
            return ent.tenant_entity(TenantRecord(tenant, connection, f"Tenant {n}",
                                                  created_at=now))

        started = time.perf_counter()
        services.tables.write("tenants", (row(n) for n in range(count)))
        written_s = time.perf_counter() - started
        services.scheduler  # noqa: B018 - its clients are built before the timer fires
        services.queues  # noqa: B018
        ops = storage_operations()
        started, cpu = time.perf_counter(), time.process_time()
        enqueued, skipped = services.scheduler.schedule(SyncKind.DIRECTORY, Trigger.TIMER)
        seconds = time.perf_counter() - started
        # tenantsync's own CPU (this process: the timer's threads), not Azurite's.
        cpu_s = time.process_time() - cpu
        return {"tenants": count, "enqueued": enqueued, "skipped": skipped,
                "seconds": round(seconds, 2), "cpu_s": round(cpu_s, 2),
                "rows_written_s": round(written_s, 2),
                "storage_ops": storage_operations() - ops,
                "queued": services.queues[SyncKind.DIRECTORY].peek_count()}
    finally:
        azurite.stop()
