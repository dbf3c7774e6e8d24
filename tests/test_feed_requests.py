"""How many requests the change feed's table gets from a sync (issue 21: every one of them
costs ~1.8 ms of CPU), counted by the storage meter against the real Azurite."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from functions.core.changes import Change
from functions.core.model import RunOptions, RunStatus, SyncKind
from functions.storage import meter
from functions.storage.entities import iso
from functions.storage.feed import FEED_TABLE, HEAD_ROW, ChangeFeed
from functions.storage.feed_rows import encode_changes
from tests.api.conftest import connect_partner
from tests.conftest import Harness
from tests.test_feed import everything
from tests.world import Partner, World


def _feed_requests(harness: Harness) -> int:
    """Requests to the feed's table so far (reads, writes, transactions)."""
    table = harness.prefix + FEED_TABLE
    return sum(n for (_, name), n in meter.operations_by_table().items() if name == table)


@pytest.mark.slow
def test_a_first_device_sync_and_its_resyncs_make_few_feed_requests(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tid = partner.customer("Customer", devices=3, detected=3, mobile=2)
    harness.start()
    connect_partner(harness, partner)
    before = _feed_requests(harness)
    first = harness.services.runner.run_one("devices", tid, "cli")
    first_requests = _feed_requests(harness) - before
    assert first.status == RunStatus.SUCCEEDED
    assert len(everything(harness, tid)) == 8  # each change once, whatever the cut
    before = _feed_requests(harness)
    again = harness.services.runner.run_one("devices", tid, "cli")
    unchanged_requests = _feed_requests(harness) - before
    before = _feed_requests(harness)
    compared = harness.services.runner.run_one("devices", tid, "cli", RunOptions(full=True))
    compared_requests = _feed_requests(harness) - before
    print(f"feed requests: first {first_requests}, unchanged {unchanged_requests}, "
          f"compared in full {compared_requests}")
    assert again.changes_to == compared.changes_to == ""
    assert len(everything(harness, tid)) == 8
    # First sync: the intent check (with the head, one query), the pending index and the
    # intent row, the append (one transaction: blocks, head, the intent row's delete, checked
    # against the head the intent check read), the pending index's delete; then the run's
    # health entry appended by the relay (one transaction, against the head the append
    # wrote). It was 19 when each append took the head's lock and the intent was read to
    # clear it, 8 while each append read the head first.
    assert first_requests <= 6
    assert unchanged_requests == 0  # the fingerprint vouches: the feed is not read
    assert compared_requests == 1  # compared in full, nothing changed: the intent check


def test_appends_from_two_processes_each_knowing_an_old_head_lose_nothing(
    harness: Harness
) -> None:
    harness.start()
    here, tenant_id = harness.services.feed, str(uuid.uuid4())
    there = ChangeFeed(harness.services.tables, clock=harness.clock)  # another instance
    made = [Change("device", f"d{i}", "created", str(i), f"v{i}") for i in range(6)]
    assert here.intent(tenant_id, SyncKind.DEVICES) is None  # "no head yet", remembered
    assert there.intent(tenant_id, SyncKind.DEVICES) is None  # likewise, over there
    assert here.append(tenant_id, SyncKind.DEVICES, "run-1", made[:2])[1].endswith(".2")
    # There, the head it remembers is absent: its create fails and it appends after.
    assert there.append(tenant_id, SyncKind.DEVICES, "run-2", made[2:4])[1].endswith(".4")
    # Here, the head it wrote is stale now: the transaction is refused and it reads again.
    assert here.append(tenant_id, SyncKind.DEVICES, "run-3", made[4:5])[1].endswith(".5")
    assert there.append(tenant_id, SyncKind.DEVICES, "run-4", made[5:])[1].endswith(".6")
    page = here.page(tenant_id, None, 100)
    assert [e.change for e in page.entries] == made and not page.more
    assert [e.run_id for e in page.entries] == ["run-1", "run-1", "run-2", "run-2", "run-3",
                                                 "run-4"]


def test_an_append_after_a_dead_locked_appender_drops_its_blocks_first(
    harness: Harness
) -> None:
    harness.start()
    feed, tables, tenant_id = harness.services.feed, harness.services.tables, str(uuid.uuid4())
    first = Change("device", "d1", "created", "one", "v1")
    feed.append(tenant_id, SyncKind.DEVICES, "run-a", [first])  # one transaction: no lock
    head = tables.get(FEED_TABLE, tenant_id, HEAD_ROW)
    assert head is not None and head["Seq"] == 1 and head["LockedBy"] == ""
    # A locked appender that died after writing a block past Seq, its lock run out.
    stale = Change("device", "d9", "created", "never committed", "v9")
    tables.upsert(FEED_TABLE, {**head, "LockedBy": "dead", "LockedUntil": iso(
        harness.clock() - timedelta(minutes=5))})
    tables.upsert(FEED_TABLE, {"PartitionKey": tenant_id, "RowKey": f"{3:012d}", "Start": 3,
                               "Count": 1, "RunId": "run-dead", "SyncKind": "devices",
                               "At": iso(harness.clock()), **encode_changes([stale] * 3)})
    later = [Change("device", "d2", "created", "two", "v2")]
    before, after = feed.append(tenant_id, SyncKind.DEVICES, "run-b", later)
    assert before.endswith(".1") and after.endswith(".2")
    page = feed.page(tenant_id, None, 100)
    assert [e.change for e in page.entries] == [first, *later] and not page.more
    assert [str(r["RowKey"]) for r in tables.query(
        FEED_TABLE, "PartitionKey eq @pk", {"pk": tenant_id})] == [
        f"{1:012d}", f"{2:012d}", HEAD_ROW]
    head = tables.get(FEED_TABLE, tenant_id, HEAD_ROW)
    assert head is not None and head["LockedBy"] == "" and head["Seq"] == 2
