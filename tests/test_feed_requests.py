"""How many requests the change feed's table gets from a sync (issue 21: every one of them
costs ~1.8 ms of CPU), counted by the storage meter against the real Azurite."""

from __future__ import annotations

import pytest

from functions.core.model import RunOptions, RunStatus
from functions.storage import meter
from functions.storage.feed import FEED_TABLE
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
    # First sync: the intent check, the pending index and the intent row, the append (head
    # read, then one transaction: blocks, head, the intent row's delete), the pending index's
    # delete; then the run's health entry appended by the relay (head read, transaction).
    # It was 19 when each append took the head's lock and the intent was read to clear it.
    assert first_requests <= 8
    assert unchanged_requests == 0  # the fingerprint vouches: the feed is not read
    assert compared_requests == 1  # compared in full, nothing changed: the intent check
