"""A job whose message failed every delivery becomes a failed run with its cause and an event
that an alert watches, in Azure (the poison queues' functions) and locally (the worker)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import azure.functions as func
import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from functions.core.model import Health, RunStatus
from functions.sync.poison import MAX_DELIVERIES, POISON_EVENT
from tests.conftest import Harness, indexed_functions
from tests.infra.test_scale import host_queue_settings
from tests.world import World


def poison_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if getattr(r, "event", None) == POISON_EVENT]


def test_the_poison_queues_are_watched_by_functions_named_for_them() -> None:
    functions = indexed_functions()
    for kind in ("directory", "devices"):
        trigger = functions[f"{kind}_job_poisoned"].get_bindings()[0]
        assert trigger.type == "queueTrigger"
        # The host moves a message to "<queue>-poison"; %NAME% follows the queue's setting.
        assert trigger.queue_name == f"%TENANTSYNC_{kind.upper()}_QUEUE%-poison"
    assert host_queue_settings()["maxDequeueCount"] == MAX_DELIVERIES


def test_a_job_that_failed_every_delivery_becomes_a_failed_run_and_an_event(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    t = harness.start_onboarded()
    caplog.set_level(logging.INFO, logger="tenantsync")
    job = harness.services.starter.start(t.id, "directory", "timer", enqueue=False)
    poisoned = indexed_functions()["directory_job_poisoned"].get_user_function()
    poisoned(func.QueueMessage(body=job.to_json().encode()))
    assert job.run_id is not None
    run = harness.services.runs.get(t.id, job.run_id)
    assert (run.status, run.error_code) == (RunStatus.FAILED, "job_poisoned")
    assert "failed all 5 deliveries" in run.error and run.ended_at is not None
    assert harness.services.tenants.get(t.id).health == Health.FAILING
    [event] = poison_events(caplog)
    assert (event["tenant_id"], event["run_id"], event["outcome"], event["kind"]) == (
        t.id, job.run_id, "closed", "directory")
    # The run no longer holds the tenant: the next start queues a new one.
    again = harness.services.starter.start(t.id, "directory", "timer", enqueue=False)
    assert again.run_id != job.run_id


def test_a_poisoned_job_whose_run_had_ended_is_left_as_it_ended(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    t = harness.start_onboarded()
    caplog.set_level(logging.INFO, logger="tenantsync")
    job = harness.services.starter.start(t.id, "directory", "queue", enqueue=False)
    assert harness.services.jobs.handle(job.to_json(), "directory") is not None
    indexed_functions()["directory_job_poisoned"].get_user_function()(
        func.QueueMessage(body=job.to_json().encode()))
    assert job.run_id is not None
    assert harness.services.runs.get(t.id, job.run_id).status == RunStatus.SUCCEEDED
    assert [e["outcome"] for e in poison_events(caplog)] == ["already_ended"]


@pytest.mark.slow
def test_a_poisoned_message_that_is_no_job_is_reported_not_dropped_silently(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    harness.start_onboarded()
    caplog.set_level(logging.INFO, logger="tenantsync")
    before = harness.entities()
    indexed_functions()["devices_job_poisoned"].get_user_function()(
        func.QueueMessage(body=b"not json"))
    assert harness.entities() == before
    [event] = poison_events(caplog)
    assert (event["outcome"], event["kind"]) == ("not_a_job", "devices")
    assert any(r.levelno == logging.ERROR and "no sync job" in r.getMessage()
               for r in caplog.records)


def test_a_job_without_a_run_gets_a_failed_run_of_its_own(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    body = json.dumps({"tenant_id": t.id, "kind": "directory", "trigger": "queue"}).encode()
    indexed_functions()["directory_job_poisoned"].get_user_function()(
        func.QueueMessage(body=body))
    [run] = harness.services.runs.recent(t.id, 5)
    assert (run.status, run.error_code) == (RunStatus.FAILED, "job_poisoned")


@pytest.mark.slow
def test_the_local_worker_fails_a_job_after_its_last_delivery(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    job = harness.services.starter.start(t.id, "directory", "timer")
    queue = QueueClient.from_connection_string(
        harness.azurite.connection_string, harness.env["TENANTSYNC_DIRECTORY_QUEUE"],
        message_decode_policy=TextBase64DecodePolicy())
    for _ in range(MAX_DELIVERIES):  # five deliveries that failed (left on the queue)
        assert len(list(queue.receive_messages(max_messages=1, visibility_timeout=1))) == 1
        time.sleep(1.2)
    runs = harness.services.worker.drain()
    assert [(r.run_id, r.status, r.error_code) for r in runs] == [
        (job.run_id, RunStatus.FAILED, "job_poisoned")]
    assert queue.get_queue_properties().approximate_message_count == 0
