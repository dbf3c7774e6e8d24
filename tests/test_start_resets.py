"""A start whose insert reached storage but whose answer a connection reset lost (an idle
connection closed by the server as it was reused, a load balancer): the insert is sent
again, and the start still queues exactly one run, as the timer's fan-out needs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.stack import ACCOUNT, ACCOUNT_KEY, AzuriteProcess
from functions.core.model import RunStatus, SyncKind
from tests.conftest import Harness
from tests.proxy import SwitchableProxy
from tests.world import World, seed_example


@pytest.fixture
def proxies(azurite: AzuriteProcess) -> Iterator[tuple[SwitchableProxy, SwitchableProxy]]:
    tables, queues = SwitchableProxy(azurite.table_port), SwitchableProxy(azurite.queue_port)
    yield tables, queues
    tables.close()
    queues.close()


def _connection(tables: SwitchableProxy, queues: SwitchableProxy) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{queues.port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{tables.port}/{ACCOUNT};")


@pytest.mark.parametrize("lost", ["the claim's insert", "the run's insert", "the job's put"])
def test_a_start_whose_answer_was_lost_queues_its_run_once(
        harness: Harness, world: World,
        proxies: tuple[SwitchableProxy, SwitchableProxy], lost: str) -> None:
    tables, queues = proxies
    tenant, _ = seed_example(world)
    harness.start(TENANTSYNC_STORAGE_CONNECTION=_connection(tables, queues))
    harness.onboard(tenant)
    services = harness.services
    queue = services.queues[SyncKind.DIRECTORY]
    waiting = queue.peek_count()
    if lost == "the job's put":
        queues.drop_answers(1)
    else:
        # The start's table requests: the claim's insert, then the run's insert.
        original = tables._drop_this_answer
        answers = iter([lost == "the claim's insert", lost == "the run's insert"])
        tables._drop_this_answer = lambda: next(answers, False) or original()  # type: ignore[method-assign]
    job = services.starter.start(tenant.id, SyncKind.DIRECTORY, "timer", known=True)
    assert job.run_id is not None
    run = services.runs.get(tenant.id, job.run_id)
    assert run.status == RunStatus.QUEUED
    claim = services.runs.read_claim(tenant.id, SyncKind.DIRECTORY)
    assert claim is not None and claim[0].run_id == job.run_id
    queued = [r for r in services.runs.recent(tenant.id, 10) if r.status == RunStatus.QUEUED]
    assert [r.run_id for r in queued] == [job.run_id]
    # Each lost answer's request was sent again: the job is on the queue (a second copy,
    # if the first also landed, would find its run taken).
    assert queue.peek_count() - waiting == (2 if lost == "the job's put" else 1)
