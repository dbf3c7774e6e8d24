"""Change notifications in tests: a directory tenant whose app may subscribe to groups, its
subscriptions made through the real upkeep (the simulator validates the live API), and
notifications shaped as Graph sends them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn

from devstack.stack import free_port
from functions.api import create_app
from tests.conftest import Harness
from tests.world import DIRECTORY_ROLES, Tenant, World, seed_example

T = TypeVar("T")
NOTIFY_ROLES = [*DIRECTORY_ROLES, "Group.Read.All"]


@contextmanager
def serve_api() -> Iterator[str]:
    """The API under uvicorn on a free loopback port, for tests outside tests/api."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def start_notified(harness: Harness, world: World, base_url: str, *,
                   roles: list[str] | None = None, subscribe: bool = True,
                   **overrides: str) -> tuple[Tenant, dict[str, str]]:
    """The seed's example tenant, onboarded and synced once (its level-1 group stored),
    with notifications to ``base_url`` and, with ``subscribe``, its subscriptions made
    (without, the first sync's message to make them waits on the notification queue)."""
    tenant, ids = seed_example(world)
    tenant.data["service_principals"][tenant.app_id]["roles"] = list(roles or NOTIFY_ROLES)
    harness.start(TENANTSYNC_NOTIFICATION_URL=base_url, **overrides)
    harness.onboard(tenant)
    harness.sync(tenant)  # its first success queues the making of its subscriptions
    if subscribe:
        harness.services.notified.drain()
        harness.services.subscriber.ensure(tenant.id)  # made already: nothing to do
    return tenant, ids


def graph_subscriptions(harness: Harness) -> list[dict[str, Any]]:
    assert harness.sim is not None
    return harness.sim.subscriptions()


def notification(sub: dict[str, Any], object_id: str, *, client_state: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """One notification as Graph shapes it (ids only), for ``sub`` as Graph lists it."""
    return {"id": str(uuid.uuid4()), "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "changeType": "updated", "resource": f"Users/{object_id}",
            "clientState": sub["clientState"] if client_state is None else client_state,
            "tenantId": sub["tenantId"],
            "resourceData": {"@odata.type": "#Microsoft.Graph.User",
                             "@odata.id": f"Users/{object_id}", "id": object_id}, **extra}


def body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"value": list(items)}).encode()


def wait_for(probe: Callable[[], T], timeout: float = 20.0) -> T:
    """The first truthy answer of ``probe``, polled until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
