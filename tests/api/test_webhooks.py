"""Signed webhooks over real HTTP: subscribed through the API, delivered through the
Azurite queue to an HTTPS receiver, verified with the Standard Webhooks reference package."""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.functions.timer import TimerRequest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from devstack.receiver import Receiver
from functions.webhooks import Delivery, DeliverySweep, guarded_session
from functions.webhooks.destination import refusal, refused_in
from functions.webhooks.worker import queue_message
from tests.api.conftest import Api, assert_error, stored
from tests.conftest import Harness, indexed_functions
from tests.world import World, seed_example


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def start(harness: Harness, receiver: Receiver, **env: str) -> None:
    harness.start(TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true",
                  TENANTSYNC_WEBHOOK_RETRY_BASE_SECONDS="0",
                  TENANTSYNC_WEBHOOK_CA_BUNDLE=receiver.ca_path, **env)


def subscribe(api: Api, receiver: Receiver, **body: Any) -> dict[str, Any]:
    answer = api.post("/api/webhooks", json={"url": receiver.url,
                                             "eventTypes": ["sync.finished"], **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def deliver(harness: Harness) -> int:
    return harness.services.delivery_worker.drain()


def verify(secret: str, got: Any) -> dict[str, Any]:
    return dict(Webhook(secret).verify(got.body, got.headers))


@pytest.mark.slow
def test_a_finished_sync_is_delivered_signed_with_its_change_feed_range(
    harness: Harness, world: World, api: Api, receiver: Receiver
) -> None:
    t, _ = seed_example(world)
    start(harness, receiver)
    harness.onboard(t)
    created = subscribe(api, receiver, tenantIds=[t.id])
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) == 32
    assert api.answers[-1].headers["location"] == f"/api/webhooks/{created['id']}"
    run = harness.sync(t)
    assert deliver(harness) == 1
    [got] = receiver.received
    event = verify(created["secret"], got)
    assert event["type"] == "sync.finished"
    assert event["data"]["runId"] == run.run_id and event["data"]["status"] == "succeeded"
    assert event["data"]["users"]["created"] == 5
    assert (event["data"]["changesFrom"], event["data"]["changesTo"]) == (
        run.changes_from, run.changes_to)
    # The run's one summary: what GET .../runs/{runId} answers, field for field.
    assert event["data"] == api.get(f"/api/tenants/{run.tenant_id}/runs/{run.run_id}").json()
    assert got.headers["webhook-id"].startswith("msg_")
    assert abs(int(got.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    # Any other secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got.body, got.headers)
    deliveries = api.get(f"/api/webhooks/{created['id']}/deliveries").json()["items"]
    assert [d["status"] for d in deliveries] == ["delivered"]
    assert deliveries[0]["messageId"] == got.headers["webhook-id"]
    assert [a["statusCode"] for a in deliveries[0]["attempts"]] == [204]


@pytest.mark.slow
def test_failures_are_retried_with_the_same_id_then_the_subscription_is_disabled(
    harness: Harness, world: World, api: Api, receiver: Receiver
) -> None:
    t, _ = seed_example(world)
    start(harness, receiver, TENANTSYNC_WEBHOOK_DISABLE_AFTER="5",
          TENANTSYNC_WEBHOOK_MAX_ATTEMPTS="4")
    harness.onboard(t)
    created = subscribe(api, receiver)
    receiver.fail_first = 2
    harness.sync(t)
    deliver(harness)
    assert [r.status for r in receiver.received] == [500, 500, 204]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert all(verify(created["secret"], r) for r in receiver.received)
    [delivery] = api.get(f"/api/webhooks/{created['id']}/deliveries").json()["items"]
    assert delivery["status"] == "delivered"
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 500, 204]
    assert delivery["attempts"][0]["error"] == "answered HTTP 500"
    assert api.get(f"/api/webhooks/{created['id']}").json()["failuresInARow"] == 0

    # A receiver that keeps failing: 4 attempts, then the delivery failed; at the 5th
    # failure in a row (the next delivery's first) the subscription is disabled.
    receiver.fail_rate = 1.0
    receiver.received.clear()
    harness.sync(t, full=True)
    deliver(harness)
    assert len(receiver.received) == 4
    harness.sync(t, full=True)
    deliver(harness)
    assert len(receiver.received) == 5
    webhook = api.get(f"/api/webhooks/{created['id']}").json()
    assert webhook["enabled"] is False
    assert "5 failed attempts in a row" in webhook["disabledReason"]
    newest, failed = api.get(f"/api/webhooks/{created['id']}/deliveries").json()["items"][:2]
    assert (newest["status"], failed["status"]) == ("failed", "failed")
    harness.sync(t, full=True)
    assert deliver(harness) == 0  # disabled: nothing more is sent or even queued
    assert len(receiver.received) == 5

    # Fixed and enabled again, a failed delivery is re-sent: the same message, delivered.
    receiver.fail_rate = 0.0
    enabled = api.patch(f"/api/webhooks/{created['id']}", json={"enabled": True}).json()
    assert (enabled["enabled"], enabled["disabledReason"]) == (True, None)
    again = api.post(f"/api/webhooks/{created['id']}/deliveries/{failed['id']}/resend")
    assert again.status_code == 202, again.text
    deliver(harness)
    assert receiver.received[-1].status == 204
    assert receiver.received[-1].headers["webhook-id"] == failed["messageId"]
    resent = api.get(f"/api/webhooks/{created['id']}/deliveries/{failed['id']}").json()
    assert resent["status"] == "delivered"


def lose_the_message(harness: Harness, world: World, api: Api, receiver: Receiver
                     ) -> tuple[dict[str, Any], Delivery]:
    """A sync's delivery whose queue message is lost (the queue dropped it): the
    subscription, and the delivery row, which stays pending."""
    t, _ = seed_example(world)
    start(harness, receiver)
    harness.onboard(t)
    created = subscribe(api, receiver)
    harness.sync(t)
    queue = harness.services.webhook_queue
    [message] = queue.receive(visibility_seconds=60)
    queue.delete(message)
    assert deliver(harness) == 0 and receiver.received == []
    [pending] = harness.services.webhook_tables.deliveries(created["id"])
    assert pending.status == "pending"
    return created, pending


@pytest.mark.slow
def test_a_delivery_whose_message_was_lost_is_queued_again_once_by_the_sweep(
    harness: Harness, world: World, api: Api, receiver: Receiver
) -> None:
    created, pending = lose_the_message(harness, world, api, receiver)
    queue, tables = harness.services.webhook_queue, harness.services.webhook_tables
    # Not overdue yet: a message just queued may still be on its way.
    assert harness.services.delivery_sweep.sweep() == 0

    later = datetime.now(UTC) + timedelta(minutes=16)
    sweep = DeliverySweep(tables, lambda: queue, clock=lambda: later)
    assert sweep.sweep() == 1
    assert sweep.sweep() == 0  # queued again once, not at every sweep
    # Should the lost message turn up after all, it is stale: one delivery, not two.
    queue.send(queue_message(pending, attempt=0))
    assert deliver(harness) == 2  # both messages handled...
    [got] = receiver.received  # ...one of them sent
    assert verify(created["secret"], got)["type"] == "sync.finished"
    assert got.headers["webhook-id"] == pending.message_id
    [delivered] = tables.deliveries(created["id"])
    assert (delivered.status, delivered.generation) == ("delivered", pending.generation + 1)


@pytest.mark.slow
def test_the_sweep_timer_queues_an_overdue_delivery(
    harness: Harness, world: World, api: Api, receiver: Receiver
) -> None:
    _, pending = lose_the_message(harness, world, api, receiver)
    pending.next_attempt_at = datetime.now(UTC) - timedelta(minutes=20)
    harness.services.webhook_tables.save_delivery(pending)
    timer = indexed_functions()["webhook_sweep"]
    assert timer.get_bindings()[0].schedule == "0 */10 * * * *"
    timer.get_user_function()(TimerRequest(past_due=False))
    assert deliver(harness) == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [pending.message_id]


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
    "https://169.254.169.254/latest", "https://[::1]/hook", "https://localhost/hook",
    "https://metadata.internal/hook", "https://[::ffff:127.0.0.1]/hook", "https://100.64.0.1/x",
])
def test_private_and_metadata_destinations_are_refused(
    harness: Harness, api: Api, url: str
) -> None:
    harness.start()
    before = stored(harness)
    assert_error(api.post("/api/webhooks", json={"url": url, "eventTypes": ["sync.finished"]}),
                 400, "destination_refused")
    assert stored(harness) == before


@pytest.mark.parametrize("url", ["http://example.com/hook", "https://user:pw@example.com/",
                                 "ftp://example.com/", "https:///nohost", "not a url"])
def test_only_https_urls_without_credentials_are_accepted(
    harness: Harness, api: Api, url: str
) -> None:
    harness.start()
    assert_error(api.post("/api/webhooks", json={"url": url, "eventTypes": ["sync.finished"]}),
                 400, "invalid_url")


@pytest.mark.slow
def test_the_address_a_name_resolves_to_is_checked_before_connecting(
    receiver: Receiver
) -> None:
    # "localhost" passes a check of the URL as written; what it resolves to is refused
    # before any connection. (Only loopback here: tests reach no other address.)
    session = guarded_session(allow_private=False, verify=receiver.ca_path)
    for url in (receiver.url, receiver.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(requests.ConnectionError) as caught:
            session.post(url, data=b"{}", timeout=5)
        assert refused_in(caught.value) == "the destination resolved to a loopback address"
    assert receiver.received == []  # not a byte of a request went out
    allowed = guarded_session(allow_private=True, verify=receiver.ca_path)
    assert allowed.post(receiver.url, data=b"{}", timeout=5).status_code == 204
    assert len(receiver.received) == 1


@pytest.mark.parametrize(("address", "allowed", "why"), [
    ("127.0.0.1", False, "a loopback address"), ("127.0.0.1", True, None),
    ("169.254.169.254", True, "a cloud metadata address"),
    ("168.63.129.16", True, "a cloud metadata address"),
    ("fd00:ec2::254", True, "a cloud metadata address"),
    ("::ffff:10.0.0.1", False, "a private address"), ("100.64.1.1", False,
                                                       "a reserved or shared address"),
    ("fe80::1", False, "a link-local address"), ("20.50.2.1", False, None),
])
def test_which_addresses_are_refused(address: str, allowed: bool, why: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), allowed) == why


@pytest.mark.slow
def test_a_rotated_secret_signs_beside_the_old_one_until_its_grace_ends(
    harness: Harness, world: World, api: Api, receiver: Receiver
) -> None:
    t, _ = seed_example(world)
    start(harness, receiver)
    harness.onboard(t)
    created = subscribe(api, receiver)
    rotated = api.post(f"/api/webhooks/{created['id']}/rotate-secret",
                       json={"graceHours": 1}).json()
    assert rotated["secret"] != created["secret"]
    assert rotated["previousSecretValidUntil"]
    harness.sync(t)
    deliver(harness)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify(created["secret"], got) and verify(rotated["secret"], got)

    final = api.post(f"/api/webhooks/{created['id']}/rotate-secret",
                     json={"graceHours": 0}).json()
    harness.sync(t, full=True)
    deliver(harness)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    assert verify(final["secret"], got)
    with pytest.raises(WebhookVerificationError):
        verify(rotated["secret"], got)


@pytest.mark.slow
def test_health_changes_and_expiring_credentials_are_told(
    harness: Harness, world: World, api: Api, receiver: Receiver
) -> None:
    t, _ = seed_example(world)
    start(harness, receiver)
    harness.onboard(t, secret_expires_on=datetime.now(UTC) + timedelta(days=10))
    created = subscribe(api, receiver, eventTypes=["tenant.health_changed",
                                                   "credential.expiring"])
    harness.sync(t)
    deliver(harness)
    events = {e["type"]: e["data"] for e in (verify(created["secret"], r)
                                             for r in receiver.received)}
    assert set(events) == {"tenant.health_changed", "credential.expiring"}
    assert events["tenant.health_changed"]["health"] == "secret_expiring"
    assert events["credential.expiring"]["daysLeft"] in (9, 10)
    assert events["credential.expiring"]["tenantId"] == t.id
    harness.sync(t, full=True)  # no change of health: no new event
    assert deliver(harness) == 0


@pytest.mark.slow
def test_the_signing_secret_appears_in_no_log_table_or_later_answer(
    harness: Harness, world: World, api: Api, receiver: Receiver,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    t, _ = seed_example(world)
    start(harness, receiver)
    harness.onboard(t)
    created = subscribe(api, receiver)
    rotated = api.post(f"/api/webhooks/{created['id']}/rotate-secret", json={}).json()
    shown = len(api.answers)
    receiver.fail_first = 1
    harness.sync(t)
    deliver(harness)
    api.get("/api/webhooks")
    api.get(f"/api/webhooks/{created['id']}")
    [d] = api.get(f"/api/webhooks/{created['id']}/deliveries").json()["items"]
    api.post(f"/api/webhooks/{created['id']}/deliveries/{d['id']}/resend")
    deliver(harness)
    api.patch(f"/api/webhooks/{created['id']}", json={"description": "x"})
    later = "\n".join(f"{r.status_code} {dict(r.headers)!r} {r.text}"
                      for r in api.answers[shown:])
    tables = json.dumps(harness.entities(), default=str)
    logs = caplog.text
    for secret in (created["secret"], rotated["secret"]):
        for form in (secret, secret[6:], base64.b64decode(secret[6:]).hex()):
            assert form not in tables
            assert form not in logs
            assert form not in later
    assert all(r.verified is None for r in receiver.received)  # (the receiver kept none)
    assert any(e["_table"].endswith("webhooks") for e in harness.entities())
