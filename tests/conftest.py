"""Shared fixtures: Azurite (one per test session) and the simulator (one per test)."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from devstack.stack import AzuriteProcess, deployment_settings, free_port, local_settings
from functions import services as services_module
from functions.core.config import Settings
from functions.core.model import Run, RunOptions
from functions.core.sensitive import SecretValue
from functions.directory.model import UserRecord
from functions.directory.store import UserFilter
from functions.services import Services
from functions.storage.tables import TableStore
from simulator import Simulator
from tests.world import Tenant, World, seed_example


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteProcess]:
    process = AzuriteProcess().start()
    yield process
    process.stop()


@pytest.fixture
def store(azurite: AzuriteProcess) -> Iterator[TableStore]:
    """A table store of its own on the session's Azurite, with two tables: ``rows`` for
    what the code under test writes, ``sdk`` for what the SDK writes to compare with."""
    prefix = "s" + uuid.uuid4().hex[:10]
    store = TableStore.from_connection_string(azurite.connection_string, prefix)
    store._service.create_table(prefix + "rows")
    store._service.create_table(prefix + "sdk")
    yield store
    store._service.delete_table(prefix + "rows")
    store._service.delete_table(prefix + "sdk")


_used_ports: set[int] = set()


def fresh_port() -> int:
    """A free port no simulator of this test session has had.

    azure-keyvault-secrets keeps Key Vault's auth challenges in a process-wide cache keyed
    by the vault's URL; a later simulator on a reused port would be sent the tenant of an
    earlier one's challenge.
    """
    while True:
        port = free_port()
        if port not in _used_ports:
            _used_ports.add(port)
            return port


def indexed_functions() -> dict[str, Any]:
    """The function app's functions by name, as the Functions host indexes them.
    get_functions() may be called once per app object, so each call indexes a fresh app."""
    import function_app

    app = importlib.reload(function_app).app
    return {f.get_function_name(): f for f in app.get_functions()}


class TestClock:
    """The wall clock moved on by a test: where waiting (a lease running out, a queued run
    timing out) is what is under test, the test moves the clock instead of sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class Harness:
    """The real tenantsync services pointed at Azurite and an in-process simulator, with a
    clock the test may move on (``clock.advance``)."""

    def __init__(self, azurite: AzuriteProcess, world: World, monkeypatch: pytest.MonkeyPatch):
        self.azurite = azurite
        self.world = world
        self.monkeypatch = monkeypatch
        self.prefix = "t" + uuid.uuid4().hex[:10]
        self.sim: Simulator | None = None
        self.env: dict[str, str] = {}
        self._services: Services | None = None
        self.clock = TestClock()

    def start(self, **overrides: str) -> Harness:
        """Start the simulator on the world as built so far; ``overrides`` are env settings."""
        fixture = self.world.build()
        self.sim = Simulator(fixture, port=fresh_port())
        self.sim.start()
        identities = list(fixture.get("managed_identities", {}))
        self.env = local_settings(
            storage_connection=self.azurite.connection_string, sim_base_url=self.sim.base_url,
            ca_path=self.sim.ca_path, operator=self.world.operator, table_prefix=self.prefix,
            identity={"endpoint": self.sim.identity_endpoint, "header": self.sim.identity_header,
                      "client_id": identities[0]} if identities else None,
        )
        self.env.update(deployment_settings(fixture))
        self.env["TENANTSYNC_DIRECTORY_QUEUE"] = f"q{self.prefix}"
        self.env["TENANTSYNC_DEVICES_QUEUE"] = f"d{self.prefix}"
        self.env["TENANTSYNC_WEBHOOK_QUEUE"] = f"w{self.prefix}"
        self.env["TENANTSYNC_NOTIFICATION_QUEUE"] = f"n{self.prefix}"
        self.env["TENANTSYNC_GRAPH_MAX_RETRY_WAIT"] = "2"
        self.env.update(overrides)
        for name, value in self.env.items():
            self.monkeypatch.setenv(name, value)
        # The function triggers build their services from the environment on first use.
        self.monkeypatch.setattr(services_module, "_services", None)
        return self

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = Services(Settings.from_env(self.env), clock=self.clock)
        return self._services

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()

    # --- conveniences ------------------------------------------------------------------

    def start_onboarded(self, **overrides: str) -> Tenant:
        """The example tenant (``seed_example``) added to the world, started, onboarded."""
        tenant, _ = seed_example(self.world)
        self.start(**overrides)
        self.onboard(tenant)
        return tenant

    def onboard(self, tenant: Tenant, **kwargs: Any) -> None:
        self.services.onboarding.add_directory_tenant(
            tenant.id, tenant.app_id, SecretValue(tenant.secret), tenant.level0, **kwargs
        )

    def sync(self, tenant: Tenant, **kwargs: Any) -> Run:
        return self.services.runner.run_one("directory", tenant.id, "cli", RunOptions(**kwargs))

    def users(self, tenant: Tenant, **flt: Any) -> dict[str, UserRecord]:
        return {u.id: u for u in self.users_of(tenant.id, **flt)}

    def users_of(self, tenant_id: str, **flt: Any) -> list[UserRecord]:
        return list(self.services.directory.users(tenant_id, UserFilter(**flt)))

    def entities(self) -> list[dict[str, Any]]:
        """Every entity of every table of this test (for secret scans and change checks),
        in a stable order: by table, then partition and row key."""
        service = TableServiceClient.from_connection_string(self.azurite.connection_string)
        rows: list[dict[str, Any]] = []
        for table in sorted(service.list_tables(), key=lambda t: t.name):
            if table.name.startswith(self.prefix):
                client = service.get_table_client(table.name)
                rows.extend(
                    {"_table": table.name, "_etag": e.metadata["etag"], **e}
                    for e in client.list_entities()
                )
        return rows


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def harness(azurite: AzuriteProcess, world: World,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    h = Harness(azurite, world, monkeypatch)
    yield h
    h.stop()
