"""The simulator's /subscriptions: create (with the handshake), renew, delete, quotas, the
notifications a change sends, and reauthorizationRequired on demand."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator import Simulator

from .conftest import APP, GROUP_FIVE, TENANT, USERS, graph_token, http


class Subscriber:
    """A loopback endpoint: answers the handshake as ``mode`` says, records notifications."""

    def __init__(self) -> None:
        self.mode = "echo"  # echo | html | wrong
        self.received: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                token = parse_qs(urlsplit(self.path).query).get("validationToken")
                if token:
                    kind = "text/html" if owner.mode == "html" else "text/plain"
                    text = token[0] if owner.mode != "wrong" else "nope"
                    self._answer(200, kind, text.encode())
                    return
                owner.received.append(json.loads(body))
                self._answer(202, "text/plain", b"")

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


@pytest.fixture
def subscriber(sim: Simulator) -> Iterator[Subscriber]:
    endpoint = Subscriber()
    yield endpoint
    for sub in sim.subscriptions():
        sim.remove_subscription(sub["id"])
    endpoint.server.shutdown()
    endpoint.server.server_close()
    sim.set_subscription_quota(100)
    sim.set_roles(TENANT, APP, ["GroupMember.Read.All", "User.Read.All"])


def _expiry(minutes: float = 60) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _create(sim: Simulator, body: dict[str, Any]) -> requests.Response:
    return http(sim).post(f"{sim.base_url}/v1.0/subscriptions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {graph_token(sim)}"})


def _users(subscriber: Subscriber, **extra: Any) -> dict[str, Any]:
    return {"changeType": "updated,deleted", "notificationUrl": subscriber.url,
            "resource": "/users", "expirationDateTime": _expiry(), "clientState": "s3cret",
            **extra}


@pytest.mark.slow
def test_create_validates_the_endpoint_and_a_change_notifies_with_ids_only(
        sim: Simulator, subscriber: Subscriber) -> None:
    created = _create(sim, _users(subscriber))
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["resource"] == "/users" and sub["clientState"] == "s3cret"
    sim.upsert_object(TENANT, "users", {"id": USERS[0], "displayName": "Renamed"})
    [batch] = subscriber.wait(1)
    [note] = batch["value"]
    assert note["subscriptionId"] == sub["id"] and note["clientState"] == "s3cret"
    assert note["changeType"] == "updated" and note["tenantId"] == TENANT
    assert note["resource"] == f"Users/{USERS[0]}"
    assert set(note["resourceData"]) == {"@odata.type", "@odata.id", "id", "organizationId"}
    assert "Renamed" not in json.dumps(batch)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["html", "wrong"])
def test_a_handshake_not_echoed_as_plain_text_fails_the_create(
        sim: Simulator, subscriber: Subscriber, mode: str) -> None:
    subscriber.mode = mode
    refused = _create(sim, _users(subscriber))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ValidationError"
    assert sim.subscriptions() == []


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"changeType": "created"}, "changeType"),
    ({"clientState": "x" * 129}, "128"),
    ({"expirationDateTime": 41_760 + 5}, "41760"),  # minutes from now, when it runs
    ({"notificationUrl": "https://example.com/hook"}, "loopback"),
    ({"resource": "/groups/x/owners"}, "not supported"),
])
@pytest.mark.slow
def test_malformed_subscriptions_are_refused(sim: Simulator, subscriber: Subscriber,
                                             extra: dict[str, Any], fragment: str) -> None:
    if isinstance(extra.get("expirationDateTime"), int):
        extra = {"expirationDateTime": _expiry(extra["expirationDateTime"])}
    refused = _create(sim, _users(subscriber, **extra))
    assert refused.status_code == 400
    assert fragment in refused.json()["error"]["message"]


@pytest.mark.slow
def test_group_subscriptions_need_group_read_all_and_honour_the_quota(
        sim: Simulator, subscriber: Subscriber) -> None:
    body = _users(subscriber, resource=f"/groups/{GROUP_FIVE}/members")
    denied = _create(sim, body)
    assert denied.status_code == 403  # GroupMember.Read.All is not enough
    sim.set_roles(TENANT, APP, ["GroupMember.Read.All", "User.Read.All", "Group.Read.All"])
    assert _create(sim, body).status_code == 201
    sim.set_subscription_quota(1)
    over = _create(sim, _users(subscriber, resource="/groups"))
    assert over.status_code == 403
    assert "at most 1 group subscriptions" in over.json()["error"]["message"]
    sim.remove_member(TENANT, GROUP_FIVE, USERS[4])
    [batch] = subscriber.wait(1)
    assert batch["value"][0]["resource"] == f"Groups/{GROUP_FIVE}"
    sim.add_member(TENANT, GROUP_FIVE, USERS[4])


@pytest.mark.slow
def test_renew_delete_and_reauthorization(sim: Simulator, subscriber: Subscriber) -> None:
    sub = _create(sim, _users(subscriber, lifecycleNotificationUrl=subscriber.url)).json()
    session, token = http(sim), graph_token(sim)
    url = f"{sim.base_url}/v1.0/subscriptions/{sub['id']}"
    auth = {"Authorization": f"Bearer {token}"}
    too_long = session.patch(url, json={"expirationDateTime": _expiry(50_000)}, headers=auth,
                             timeout=10)
    assert too_long.status_code == 400
    renewed = session.patch(url, json={"expirationDateTime": _expiry(600)}, headers=auth,
                            timeout=10)
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    sim.require_reauthorization(sub["id"])
    [event] = subscriber.wait(1)
    assert event["value"][0]["lifecycleEvent"] == "reauthorizationRequired"
    sim.upsert_object(TENANT, "users", {"id": USERS[1], "displayName": "Quiet"})
    time.sleep(0.3)
    assert len(subscriber.received) == 1  # nothing delivered until reauthorized
    again = session.post(f"{url}/reauthorize", headers=auth, timeout=10)
    assert again.status_code == 204
    sim.upsert_object(TENANT, "users", {"id": USERS[1], "displayName": "Heard"})
    assert len(subscriber.wait(2)) == 2
    assert session.delete(url, headers=auth, timeout=10).status_code == 204
    assert session.get(url, headers=auth, timeout=10).status_code == 404
    assert sim.subscriptions() == []


@pytest.mark.slow
def test_the_control_api_sets_the_delay_and_lists_deliveries(
        sim: Simulator, subscriber: Subscriber) -> None:
    control = http(sim)
    assert control.put(f"{sim.base_url}/_sim/notification_delay", json={"seconds": 0.5},
                       timeout=10).status_code == 200
    assert control.put(f"{sim.base_url}/_sim/notification_delay", json={"seconds": -1},
                       timeout=10).status_code == 400
    sub = _create(sim, _users(subscriber)).json()
    listed = control.get(f"{sim.base_url}/_sim/subscriptions", timeout=10).json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    changed = time.time()
    sim.upsert_object(TENANT, "users", {"id": USERS[2], "displayName": "Later"})
    time.sleep(0.2)
    assert subscriber.received == []  # held for the delay
    assert len(subscriber.wait(1)) == 1
    [sent] = control.get(f"{sim.base_url}/_sim/notifications", timeout=10).json()["value"][-1:]
    assert sent["status"] == 202 and sent["at"] - changed >= 0.5
    assert control.put(f"{sim.base_url}/_sim/notification_delay", json={"seconds": 0},
                       timeout=10).status_code == 200
    assert control.post(f"{sim.base_url}/_sim/subscriptions/{sub['id']}/"
                        "reauthorization_required", timeout=10).status_code == 200
    assert control.delete(f"{sim.base_url}/_sim/subscriptions/{sub['id']}",
                          timeout=10).status_code == 200
    assert sim.subscriptions() == []
