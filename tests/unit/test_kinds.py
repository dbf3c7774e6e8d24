"""The registry of kinds of sync (pure): what each kind is, asked in one place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.core.config import Settings
from functions.core.errors import InputError
from functions.core.kinds import KINDS, KindRegistry
from functions.core.model import DirectoryConnection, SyncKind, TenantRecord
from functions.core.permissions import DEVICE_NEEDS, DIRECTORY_NEEDS
from functions.storage.entities import state_entity, tenant_entity, tenant_record
from functions.storage.tables import TABLE_NAMES
from functions.sync.health import schedulable

TENANT = "6f1e3c57-0b7c-4b8e-9d3a-2f1c7a9e4b10"


def test_the_built_in_kinds_say_what_they_are() -> None:
    directory, devices = KINDS.get(SyncKind.DIRECTORY), KINDS.get(SyncKind.DEVICES)
    assert KINDS.names() == [SyncKind.DIRECTORY, SyncKind.DEVICES]
    assert (directory.needs, devices.needs) == (DIRECTORY_NEEDS, DEVICE_NEEDS)
    assert (directory.health_column, devices.health_column) == ("Directory", "Devices")
    settings = Settings(directory_queue="dq", devices_queue="vq")
    assert (directory.queue(settings), devices.queue(settings)) == ("dq", "vq")
    assert set(directory.tables + devices.tables) < set(TABLE_NAMES)


def test_a_name_from_outside_is_checked_against_the_registry() -> None:
    assert KINDS.parse("devices") is SyncKind.DEVICES
    for bad in ("printers", "", None, ["directory"]):
        assert bad not in KINDS
        with pytest.raises(InputError, match="no kind of sync: use one of directory, devices"):
            KINDS.parse(bad)
    assert KINDS.stored("gone") == "gone"  # a stored row may outlive its kind


def test_a_name_or_health_column_is_registered_once() -> None:
    registry = KindRegistry(KINDS.get(SyncKind.DIRECTORY))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(KINDS.get(SyncKind.DIRECTORY))
    twin = replace(KINDS.get(SyncKind.DEVICES), health_column="Directory")
    with pytest.raises(ValueError, match="already taken"):
        registry.register(twin)


def test_whether_a_tenant_may_run_a_kind_is_the_registrys_answer() -> None:
    now = datetime.now(UTC)
    waiting = TenantRecord(TENANT, directory=DirectoryConnection(TENANT, "c", "", "s", "n"))
    assert not KINDS.get(SyncKind.DIRECTORY).connected(waiting)  # awaits its level-0 group
    assert not schedulable(waiting, SyncKind.DIRECTORY, now)
    ready = replace(waiting, directory=replace(waiting.directory, group_id="g"))
    assert schedulable(ready, SyncKind.DIRECTORY, now)
    assert not schedulable(ready, SyncKind.DEVICES, now)  # no device connection
    ready.directory_state.quarantined_until = now + timedelta(minutes=5)
    assert not schedulable(ready, SyncKind.DIRECTORY, now)


def test_each_kinds_state_lives_in_its_own_columns() -> None:
    tenant = TenantRecord(TENANT)
    tenant.state(SyncKind.DEVICES).last_error = "devices only"
    assert state_entity(tenant, SyncKind.DEVICES)["DevicesLastError"] == "devices only"
    assert "DirectoryLastError" not in state_entity(tenant, SyncKind.DEVICES)
    back = tenant_record(tenant_entity(tenant))
    assert back.device_state.last_error == "devices only"
    assert back.directory_state.last_error == ""
