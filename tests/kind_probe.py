"""A kind of sync that exists only in the tests, to prove that a kind is one module plus one
registry entry (docs/design.md shows this diff): ``organization`` keeps each tenant's
organization name (Graph's "Get organization") in a table of its own, through the
directory connection's app, on the same starter, engine, claims, runs and health as the
two real kinds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from functions.clients.graph import GraphClient
from functions.core.changes import Change
from functions.core.errors import ErrorCode, TenantSyncError
from functions.core.kinds import Kind
from functions.core.model import AppConnection, Run, SyncKind, TenantRecord
from functions.storage.tables import TableStore, WriteStats

ORGANIZATION = cast(SyncKind, "organization")
TABLE = "organizations"


@dataclass
class OrganizationRead:
    name: str
    complete: bool = True
    error_code: str = ""
    error: str = ""
    in_progress: bool = False


@dataclass
class OrganizationSlice:
    """The organization's name: read, compared with the stored one, written if it changed."""

    tables: TableStore

    kind = ORGANIZATION
    incomplete_note = ""
    holds_back = False

    def app(self, tenant: TenantRecord) -> AppConnection:
        conn = tenant.directory
        if conn is None:
            raise TenantSyncError(f"tenant {tenant.tenant_id} has no directory connection",
                                  code=ErrorCode.NOT_CONFIGURED)
        return AppConnection(conn.client_id, conn.credential, conn.scope)

    def standing(self, tenant: TenantRecord) -> tuple[ErrorCode, str] | None:
        return None

    def read(self, graph: GraphClient, tenant: TenantRecord, *, full: bool = False,
             known: str = "") -> OrganizationRead:
        body = graph.get("/organization", {"$select": "displayName"})
        return OrganizationRead(str(body["value"][0]["displayName"]))

    def observe(self, tenant: TenantRecord, read: OrganizationRead, run: Run) -> bool:
        return False

    def digest(self, read: OrganizationRead) -> str:
        return hashlib.sha256(read.name.encode()).hexdigest()

    def count_unchanged(self, read: OrganizationRead, run: Run) -> None:
        run.groups.unchanged = 1

    def load(self, tenant_id: str) -> str | None:
        row = self.tables.get(TABLE, tenant_id, "organization")
        return None if row is None else str(row["Name"])

    def plan(self, read: OrganizationRead, stored: str | None, now: datetime) -> str | None:
        return None if read.name == stored else read.name

    def count(self, changes: str | None, run: Run) -> None:
        run.groups.unchanged = int(changes is None)
        run.groups.created = int(changes is not None)

    def hold(self, changes: str | None, stored: str | None) -> str | None:
        return None

    def write(self, tenant_id: str, stored: str | None, changes: str | None) -> WriteStats:
        if changes is None:
            return WriteStats()
        self.tables.upsert(TABLE, {"PartitionKey": tenant_id, "RowKey": "organization",
                                   "Name": changes})
        return WriteStats(entities=1, transactions=1)

    def feed(self, changes: str | None) -> list[Change]:
        return [] if changes is None else [Change("organization", "organization", "updated",
                                                  changes)]

    def settled(self, stored: str | None, changes: list[Change]) -> list[Change]:
        return [c for c in changes if c.name == stored]


def organization_kind() -> Kind:
    """The registry entry: the whole of what the rest of the code learns of the kind."""
    return Kind(ORGANIZATION, (TABLE,), ("Organization.Read.All",), "OrganizationSync",
                lambda settings: f"{settings.directory_queue}-organization",
                lambda tenant: tenant.directory is not None,
                slice=lambda services: OrganizationSlice(services.tables))


def entity(services: Any, tenant_id: str) -> dict[str, Any] | None:
    row = services.tables.get(TABLE, tenant_id, "organization")
    return None if row is None else dict(row)
