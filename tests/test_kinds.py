"""A kind of sync is one registry entry: a kind registered in a test (tests/kind_probe.py)
runs through the same starter, engine, claims, queue worker, runs and health as the real
ones, without a line of production code naming it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions.core.errors import ConflictError, InputError
from functions.core.kinds import KINDS, Kind
from functions.core.model import Health, RunStatus, SyncKind
from functions.storage.queues import SyncJob
from functions.sync.health import schedulable
from tests.conftest import Harness
from tests.kind_probe import ORGANIZATION, entity, organization_kind
from tests.world import DIRECTORY_ROLES, World


@pytest.fixture
def registered() -> Iterator[Kind]:
    kind = KINDS.register(organization_kind())
    yield kind
    KINDS.unregister(kind.name)


def test_a_kind_registered_in_a_test_syncs_through_the_starter_and_the_engine(
    harness: Harness, world: World, registered: Kind
) -> None:
    tenant = world.tenant("Fabrikam", roles=[*DIRECTORY_ROLES, "Organization.Read.All"])
    tenant.add(tenant.level0, tenant.user("Tom Smith"))
    harness.start()
    harness.onboard(tenant)
    services = harness.services
    assert schedulable(services.tenants.get(tenant.id), ORGANIZATION, datetime.now(UTC))
    run = services.runner.run_one(ORGANIZATION, tenant.id, "cli")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.kind == ORGANIZATION and run.entities_written == 1
    assert (entity(services, tenant.id) or {})["Name"] == "Fabrikam"
    # Its health is its own, in its own columns of the tenant, beside the others'.
    stored = services.tenants.get(tenant.id)
    assert stored.state(ORGANIZATION).health == Health.HEALTHY
    assert stored.state(ORGANIZATION).fingerprint
    assert stored.directory_state.fingerprint != stored.state(ORGANIZATION).fingerprint
    # Through its own queue and the queue worker, as a timer or an HTTP start would.
    job = services.starter.start(tenant.id, ORGANIZATION, "http")
    with pytest.raises(ConflictError):  # its claim is its own: one run at a time
        services.starter.start(tenant.id, ORGANIZATION, "http")
    services.starter.start(tenant.id, SyncKind.DIRECTORY, "http")  # the others' are theirs
    [queued] = [r for r in services.worker.drain() if r.kind == ORGANIZATION]
    assert queued.run_id == job.run_id and queued.status == RunStatus.SUCCEEDED
    assert queued.entities_written == 0 and queued.groups.unchanged == 1  # read unchanged
    assert [r.status for r in services.runs.recent(tenant.id, 10)
            if r.kind == ORGANIZATION] == [RunStatus.SUCCEEDED] * 2


def test_a_kind_not_registered_is_refused_by_name() -> None:
    assert ORGANIZATION not in KINDS
    with pytest.raises(InputError, match="is no kind of sync: use one of directory, devices"):
        KINDS.parse("organization")
    with pytest.raises(InputError, match="unknown job kind 'organization'"):
        SyncJob.from_json('{"tenant_id": "6f1e3c57-0b7c-4b8e-9d3a-2f1c7a9e4b10", '
                          '"kind": "organization"}')
    assert KINDS.names() == [SyncKind.DIRECTORY, SyncKind.DEVICES]
