"""The outbox study (issue 22): a sync is stopped at each of its writes to Table Storage in
turn (killed there, or that write fails), the outbox sweep runs, and then the change feed
and the webhooks are compared with the tables: every change stored has its event, no event
has a change that was not stored, and each subscriber gets each event exactly once.
Azurite + simulator + an HTTPS receiver; the sweep's clock is the test's (no sleeping).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from devstack.receiver import Receiver
from functions.core.changes import HEALTH_ENTITY, Change, record_version
from functions.core.errors import StorageError
from functions.core.model import Health, SyncKind, Trigger, utcnow
from functions.storage import feed as feed_module
from functions.storage import outbox as outbox_module
from functions.storage.changesets import submit_changeset
from functions.storage.feed import ChangeFeed
from functions.storage.health import HealthEntries, HealthTelemetry
from functions.storage.tables import TableStore
from functions.sync.outbox import EventRelay
from functions.webhooks import DeliverySweep, WebhookNotices
from functions.webhooks.model import HEALTH_CHANGED, SYNC_FINISHED
from tests.conftest import Harness
from tests.world import Tenant, World, seed_example

WRITES = ("write", "upsert", "insert", "insert_versioned", "update_if_unchanged", "merge",
          "delete", "delete_if_unchanged", "delete_partition")
TENANTS = 80  # more than the writes of one first sync (checked below)
SUBSCRIBERS = 2


class Killed(BaseException):
    """The process ends at this write: nothing after it runs (not even ``except Exception``)."""


class Faults:
    """Counts the writes to Table Storage and stops the ``at``-th one."""

    def __init__(self, store: TableStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count, self.at, self.kind = 0, 0, "killed"
        for name in WRITES:
            monkeypatch.setattr(store, name, self._wrap(getattr(store, name)))
        # The transactions the feed (its append) and the outbox (its removals) encode
        # themselves are writes too.
        for module in (feed_module, outbox_module):
            monkeypatch.setattr(module, "submit_changeset", self._wrap(submit_changeset))

    def _wrap(self, original: Any) -> Any:
        def write(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            if self.count == self.at:
                if self.kind == "killed":
                    raise Killed(f"killed at write {self.at}")
                raise StorageError(f"storage failed write {self.at}")
            return original(*args, **kwargs)
        return write

    def arm(self, at: int, kind: str) -> None:
        self.count, self.at, self.kind = 0, at, kind


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _sync(harness: Harness, t: Tenant) -> None:
    """Start and run a directory sync in this thread, as the CLI does."""
    s = harness.services
    job = s.starter.start(t.id, SyncKind.DIRECTORY, Trigger.CLI, enqueue=False)
    s.engine.execute(job)


def _sweeps(harness: Harness, later: Any) -> None:
    """What the sweep timer does once the dead run's lease and the feed's lock ran out."""
    s = harness.services
    feed = ChangeFeed(s.tables, clock=lambda: later)
    notices = WebhookNotices(s.webhook_events)
    relay = replace(s.relay, feed=feed, clock=lambda: later,
                    health_listeners=[HealthTelemetry(), HealthEntries(feed), notices],
                    run_listeners=[notices.run_finished])
    assert isinstance(relay, EventRelay)
    relay.sweep()
    DeliverySweep(s.webhook_tables, lambda: s.webhook_queue, clock=lambda: later).sweep()


def _stored(harness: Harness, tenant_id: str) -> set[tuple[str, str, str]]:
    stored = harness.services.engine.slices[SyncKind.DIRECTORY].load(tenant_id)
    found = {("user", i, record_version(r)) for i, r in stored.users.items()}
    found |= {("group", i, record_version(r)) for i, r in stored.groups.items()}
    found |= {("membership", f"{g}_{u}", record_version(r))
              for (g, u), r in stored.memberships.items()}
    return found


def _feed(harness: Harness, tenant_id: str) -> list[Change]:
    return [e.change for e in harness.services.feed.page(tenant_id, None, 10_000).entries]


def _check(harness: Harness, t: Tenant, subscriptions: list[str],
           received: Counter[str]) -> dict[str, int]:
    """The feed and the deliveries against the tables; what each found."""
    s = harness.services
    entries = _feed(harness, t.id)
    records = [c for c in entries if c.entity != HEALTH_ENTITY]
    told = {(c.entity, c.entity_id, c.version) for c in records}
    stored = _stored(harness, t.id)
    gaps = {"changes without an event": len(stored - told),
            "events without a change": len(told - stored),
            "events twice": len(records) - len(told)}
    state = s.tenants.get(t.id).directory_state
    healthy = state.health != Health.UNKNOWN
    health_entries = [c for c in entries if c.entity == HEALTH_ENTITY]
    gaps["health entries off"] = abs(len(health_entries) - int(healthy))
    runs = [r for r in s.runs.recent(t.id) if r.kind == SyncKind.DIRECTORY]
    ended = {r.run_id for r in runs if not r.active}
    for subscription in subscriptions:
        deliveries = [d for d in s.webhook_tables.deliveries(subscription)
                      if json.loads(d.payload)["data"]["tenantId"] == t.id]
        finished = Counter(json.loads(d.payload)["data"]["runId"] for d in deliveries
                           if d.event_type == SYNC_FINISHED)
        health = [d for d in deliveries if d.event_type == HEALTH_CHANGED]
        gaps["runs ended without one sync.finished"] = gaps.get(
            "runs ended without one sync.finished", 0) + sum(
            1 for r in ended if finished[r] != 1) + sum(1 for r in finished if r not in ended)
        gaps["health told off"] = gaps.get("health told off", 0) + abs(
            len(health) - int(healthy))
        gaps["webhook-ids not received exactly once"] = gaps.get(
            "webhook-ids not received exactly once", 0) + sum(
            1 for d in deliveries if received[d.message_id] != 1)
    assert not s.outbox.pending(t.id), "the sweep left events pending"
    return gaps


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["killed", "storage_failed"])
def test_a_sync_stopped_at_any_write_leaves_every_change_with_exactly_one_event(
    harness: Harness, world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    tenants = [seed_example(world)[0] for _ in range(TENANTS)]
    harness.start(TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true",
                  TENANTSYNC_WEBHOOK_RETRY_BASE_SECONDS="0",
                  TENANTSYNC_WEBHOOK_CA_BUNDLE=receiver.ca_path)
    s = harness.services
    subscriptions = [s.webhooks.subscribe(f"{receiver.url}?s={i}",
                                          [SYNC_FINISHED, HEALTH_CHANGED], [])[0].id
                     for i in range(SUBSCRIBERS)]
    faults = Faults(s.tables, monkeypatch)
    later = utcnow() + timedelta(hours=1)

    # A whole sync first: how many writes it makes (each is a place to stop it).
    harness.onboard(tenants[0])
    faults.arm(0, fault)
    _sync(harness, tenants[0])
    writes = faults.count
    assert 20 < writes < TENANTS, writes

    total: Counter[str] = Counter()
    for at, t in enumerate(tenants[1:writes + 1], start=1):
        harness.onboard(t)
        faults.arm(at, fault)
        with contextlib.suppress(Killed, StorageError):
            _sync(harness, t)
        faults.arm(0, fault)
        _sweeps(harness, later)
        s.delivery_worker.drain()
        received = Counter(r.headers["webhook-id"] for r in receiver.accepted())
        gaps = _check(harness, t, subscriptions, received)
        assert not any(gaps.values()), f"stopped at write {at}: {gaps}"
        total.update(gaps)
        runs = s.runs.recent(t.id)
        total[f"run {runs[0].status.value if runs else 'not recorded'}"] += 1
    # Some stops left the sync's records half written, some its events: all were caught.
    assert total["run running"] > 0 and total["run succeeded"] > 0, total
    print(f"{fault}: stopped at each of {writes} writes; {dict(total)}")
