"""The HTTP API served for real: uvicorn on a free loopback port, once per session.

The app reads its services through ``get_services()``, which each test's ``harness.start()``
resets to that test's Azurite tables and simulator, so one server serves every test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
import requests
import uvicorn
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from devstack.stack import free_port
from functions.api import create_app
from functions.core.sensitive import SecretValue
from tests.conftest import Harness, indexed_functions
from tests.world import Partner, Tenant


@dataclass
class LiveServer:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    port = free_port()
    # log_config=None: uvicorn's loggers propagate to the root logger, so caplog sees them.
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_config=None,
                            lifespan="off", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start under uvicorn")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", server, thread)
    server.should_exit = True
    thread.join(timeout=10)


@dataclass
class Api:
    """A client of the live API that keeps every answer, for the secret scans."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)
    answers: list[requests.Response] = field(default_factory=list)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
        self.answers.append(response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def transcript(self) -> str:
        """Every answer's status line, headers and body, as text."""
        return "\n".join(
            f"{r.status_code} {dict(r.headers)!r} {r.text}" for r in self.answers
        )


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[Api]:
    client = Api(live_server.base_url)
    yield client
    client.session.close()


# Filter values that try to break out of a Table Storage query.
INJECTIONS = [
    "'", "''", "' or ''='", "x' or PartitionKey ne '", "' or 1 eq 1 or '",
    "PartitionKey ne ''", "a') or (PartitionKey ne 'a", "\\'", "%27%20or%20%27",
    "J' or RowKey ge '", "Jane Doe' or DisplayName ne '",
]


def tenant_body(t: Tenant, **overrides: Any) -> dict[str, Any]:
    body = {"tenantId": t.id, "clientId": t.app_id, "clientSecret": t.secret,
            "groupId": t.level0}
    body.update(overrides)
    return body


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is ``status`` with the one error body and ``code``; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "runId"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    return dict(body["error"])


def vault_state(harness: Harness) -> tuple[dict[str, int], set[str]]:
    """Key Vault as the simulator holds it: live secrets (name -> versions), deleted names."""
    assert harness.sim is not None
    with harness.sim.state.lock:
        vault = harness.sim.state.vault
        return ({n: len(e.versions) for n, e in vault.live.items()}, set(vault.deleted))


def partner_body(p: Partner, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partnerTenantId": p.id, "partnerClientId": p.partner_app,
        "partnerClientSecret": p.partner_secret, "inventoryClientId": p.inventory_app,
        "inventoryClientSecret": p.inventory_secret, "source": "gdap",
    }
    body.update(overrides)
    return body


def connect_partner(harness: Harness, partner: Partner, source: str = "list",
                    **kwargs: Any) -> None:
    """Save a partner connection through the services and discover its customers."""
    if source == "list" and "customers" not in kwargs:
        kwargs["customers"] = list(partner.customers)
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source=source, **kwargs)
    harness.services.partners.discover(partner.id)


def _queue(harness: Harness, kind: str) -> QueueClient:
    name = harness.env[f"TENANTSYNC_{kind.upper()}_QUEUE"]
    return QueueClient.from_connection_string(
        harness.azurite.connection_string, name, message_decode_policy=TextBase64DecodePolicy(),
    )


def queued_jobs(harness: Harness, kind: str = "directory") -> list[dict[str, Any]]:
    """Peek at the directory (or devices) queue (messages stay)."""
    try:
        return [json.loads(m.content)
                for m in _queue(harness, kind).peek_messages(max_messages=32)]
    except Exception:  # the queue does not exist yet
        return []


def run_queued_jobs(harness: Harness, kind: str) -> int:
    """Take each job off the Azurite queue and run it as the queue function does in Azure."""
    functions = indexed_functions()
    queue, ran = _queue(harness, kind), 0
    while messages := list(queue.receive_messages(max_messages=32)):
        for message in messages:
            functions[f"{kind}_job"].get_user_function()(
                func.QueueMessage(body=message.content.encode())
            )
            queue.delete_message(message)
            ran += 1
    return ran


def stored(harness: Harness) -> tuple[list[dict[str, Any]], tuple[dict[str, int], set[str]],
                                      list[dict[str, Any]], list[dict[str, Any]]]:
    """Everything a request could change: tables, Key Vault and both job queues."""
    return (harness.entities(), vault_state(harness), queued_jobs(harness),
            queued_jobs(harness, "devices"))
