"""The dashboard cannot drift from the code: real runs emit every event and dimension that
the workbook and the alert rules query (tests/infra/queries.py reads them from infra/)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from functions.services import get_services
from functions.storage.queues import SyncJob
from tests.conftest import Harness, indexed_functions
from tests.infra.queries import used_dimensions
from tests.world import World, seed_example


@pytest.mark.slow
def test_real_runs_emit_every_event_and_dimension_the_dashboard_queries(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    t, ids = seed_example(world)
    failing, _ = seed_example(world)
    # Change notifications on, to an endpoint that never answers Graph's handshake: the
    # upkeep reports each tenant's notification health (failing) all the same.
    harness.start(TENANTSYNC_NOTIFICATION_URL="https://127.0.0.1:9")
    harness.onboard(t, secret_expires_on=datetime.now(UTC) + timedelta(days=5))
    harness.onboard(failing)
    assert harness.sim is not None
    caplog.set_level(logging.INFO, logger="tenantsync")
    harness.sync(t)
    harness.sim.remove_member(t.id, t.level0, ids["tom"])
    harness.sync(t)
    harness.sim.set_faults([{"match": {"tenant": failing.id, "path_contains": "/groups/"},
                             "kind": "status", "status": 403,
                             "code": "Authorization_RequestDenied"}])
    harness.sync(failing)
    get_services().scheduler.schedule("directory", trigger="timer")
    # A job whose message failed every delivery, as the poison queue's function gets it.
    queued = harness.services.starter.holder(failing.id, "directory")
    assert queued is not None
    poisoned = SyncJob(failing.id, "directory", "timer", queued.run_id)
    indexed_functions()["directory_job_poisoned"].get_user_function()(
        func.QueueMessage(body=poisoned.to_json().encode()))
    functions = indexed_functions()
    functions["notification_upkeep"].get_user_function()(None)
    refused = functions["graph_notifications"].get_user_function()(func.HttpRequest(
        "POST", "https://app.example/api/notifications/graph", body=b"{not json"))
    assert refused.status_code == 400

    emitted: dict[str, set[str]] = defaultdict(set)
    for record in caplog.records:
        event = getattr(record, "event", None)
        if isinstance(event, str) and event.startswith("tenantsync."):
            emitted[event].update(k for k, v in vars(record).items()
                                  if not k.startswith("_") and v is not None)
    wanted = used_dimensions()
    assert wanted, "the workbook and alerts query nothing?"
    for event, dimensions in wanted.items():
        assert event in emitted, f"{event} is queried by the dashboard but never emitted"
        missing = dimensions - emitted[event]
        assert not missing, f"{event} lacks {sorted(missing)}"
