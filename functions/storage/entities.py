"""Tenants and runs <-> Table Storage entities, and how times are stored."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from functions.core.kinds import KINDS
from functions.core.model import (
    ChangeCounts,
    CredentialType,
    DeviceConnection,
    DirectoryConnection,
    Health,
    Run,
    RunOptions,
    RunStatus,
    SyncKind,
    SyncState,
    TenantRecord,
    iso,
)

Entity = dict[str, Any]


TENANT_PARTITION = "tenant"


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def credential_type(value: Any) -> CredentialType:
    """A stored credential type; rows from before credential types held secrets."""
    return CredentialType(value) if value else CredentialType.SECRET


def _state_entity(prefix: str, state: SyncState) -> Entity:
    return {
        f"{prefix}Health": state.health.value,
        f"{prefix}HealthSince": iso(state.health_since),
        f"{prefix}LastErrorCode": state.last_error_code,
        f"{prefix}LastError": state.last_error[:2000],
        f"{prefix}ConsecutiveFailures": state.consecutive_failures,
        f"{prefix}SecretExpiresOn": iso(state.secret_expires_on),
        f"{prefix}QuarantinedUntil": iso(state.quarantined_until),
        f"{prefix}Fingerprint": state.fingerprint,
        f"{prefix}VerifiedAt": iso(state.verified_at),
    }


def _state_record(prefix: str, entity: Mapping[str, Any]) -> SyncState:
    return SyncState(
        health=Health(entity.get(f"{prefix}Health") or Health.UNKNOWN.value),
        health_since=parse_time(entity.get(f"{prefix}HealthSince")),
        last_error_code=entity.get(f"{prefix}LastErrorCode", ""),
        last_error=entity.get(f"{prefix}LastError", ""),
        consecutive_failures=int(entity.get(f"{prefix}ConsecutiveFailures", 0)),
        secret_expires_on=parse_time(entity.get(f"{prefix}SecretExpiresOn")),
        quarantined_until=parse_time(entity.get(f"{prefix}QuarantinedUntil")),
        fingerprint=entity.get(f"{prefix}Fingerprint", ""),
        verified_at=parse_time(entity.get(f"{prefix}VerifiedAt")),
    )


def state_entity(tenant: TenantRecord, kind: SyncKind, *, organization: bool = False) -> Entity:
    """Only what a run of ``kind`` changes on its tenant: that kind's state (and, for a
    device sync, the organization it read), to be merged into the stored tenant."""
    entity: Entity = {
        "PartitionKey": TENANT_PARTITION, "RowKey": tenant.tenant_id,
        **_state_entity(KINDS.get(kind).health_column, tenant.state(kind)),
    }
    if organization:
        entity.update(Organization=tenant.organization, DefaultDomain=tenant.default_domain,
                      VerifiedDomains=json.dumps(list(tenant.verified_domains)))
    return entity


def tenant_entity(tenant: TenantRecord) -> Entity:
    entity: Entity = {
        "PartitionKey": TENANT_PARTITION,
        "RowKey": tenant.tenant_id,
        "DisplayName": tenant.display_name,
        "Enabled": tenant.enabled,
        "CreatedAt": iso(tenant.created_at),
        "Organization": tenant.organization,
        "DefaultDomain": tenant.default_domain,
        "VerifiedDomains": json.dumps(list(tenant.verified_domains)),
    }
    for kind in KINDS:
        entity.update(_state_entity(kind.health_column, tenant.state(kind.name)))
    if tenant.directory:
        entity.update(
            DirectoryClientId=tenant.directory.client_id,
            DirectoryGroupId=tenant.directory.group_id,
            DirectoryScope=tenant.directory.scope,
            DirectorySecretName=tenant.directory.secret_name,
            DirectoryCredentialType=tenant.directory.credential_type.value,
        )
    if tenant.devices:
        entity.update(
            DevicesPartnerTenantId=tenant.devices.partner_tenant_id,
            DevicesClientId=tenant.devices.client_id,
            DevicesSecretName=tenant.devices.secret_name,
            DevicesActive=tenant.devices.active,
            DevicesExcluded=tenant.devices.excluded,
            DevicesUnsupportedReason=tenant.devices.unsupported_reason,
            DevicesCredentialType=tenant.devices.credential_type.value,
        )
    return entity


def tenant_record(entity: Mapping[str, Any]) -> TenantRecord:
    directory = None
    if entity.get("DirectoryClientId"):
        directory = DirectoryConnection(
            tenant_id=entity["RowKey"],
            client_id=entity["DirectoryClientId"],
            group_id=entity["DirectoryGroupId"],
            scope=entity["DirectoryScope"],
            secret_name=entity["DirectorySecretName"],
            credential_type=credential_type(entity.get("DirectoryCredentialType")),
        )
    devices = None
    if entity.get("DevicesClientId"):
        devices = DeviceConnection(
            tenant_id=entity["RowKey"],
            partner_tenant_id=entity.get("DevicesPartnerTenantId", ""),
            client_id=entity["DevicesClientId"],
            secret_name=entity["DevicesSecretName"],
            active=bool(entity.get("DevicesActive", True)),
            excluded=bool(entity.get("DevicesExcluded", False)),
            unsupported_reason=entity.get("DevicesUnsupportedReason", ""),
            credential_type=credential_type(entity.get("DevicesCredentialType")),
        )
    tenant = TenantRecord(
        tenant_id=entity["RowKey"],
        directory=directory,
        display_name=entity.get("DisplayName", ""),
        enabled=bool(entity.get("Enabled", True)),
        created_at=parse_time(entity.get("CreatedAt")),
        devices=devices,
        organization=entity.get("Organization", ""),
        default_domain=entity.get("DefaultDomain", ""),
        verified_domains=tuple(json.loads(entity.get("VerifiedDomains") or "[]")),
    )
    for kind in KINDS:
        tenant.set_state(kind.name, _state_record(kind.health_column, entity))
    return tenant


_COUNT_FIELDS = ("created", "updated", "unchanged", "marked_deleted", "restored")


def _count_sets(run: Run) -> tuple[tuple[str, ChangeCounts], ...]:
    return (("Users", run.users), ("Groups", run.groups), ("Devices", run.devices),
            ("Apps", run.apps))


def run_entity(run: Run) -> Entity:
    entity: Entity = {
        "PartitionKey": run.tenant_id,
        "RowKey": run.run_id,
        "Kind": run.kind,
        "Trigger": run.trigger,
        "Status": run.status.value,
        "StartedAt": iso(run.started_at),
        "EndedAt": iso(run.ended_at),
        "MembershipsAdded": run.memberships_added,
        "MembershipsRemoved": run.memberships_removed,
        "Ignored": json.dumps(dict(run.ignored), sort_keys=True),
        "GraphRequests": run.graph_requests,
        "Throttled": run.throttled,
        "EntitiesWritten": run.entities_written,
        "Transactions": run.transactions,
        "CpuMs": run.cpu_ms,
        "StorageOperations": run.storage_operations,
        "ErrorCode": run.error_code,
        "Error": run.error[:4000],
        "Full": run.options.full,
        "AllowMassDeletion": run.options.allow_mass_deletion,
        "LeaseUntil": iso(run.lease_until),
        "Attempts": run.attempts,
        "QueuedAt": iso(run.queued_at),
        "ChangesFrom": run.changes_from,
        "ChangesTo": run.changes_to,
    }
    for prefix, counts in _count_sets(run):
        for name in _COUNT_FIELDS:
            entity[prefix + name.title().replace("_", "")] = getattr(counts, name)
    return entity


def run_record(entity: Mapping[str, Any]) -> Run:
    def counts(prefix: str) -> ChangeCounts:
        return ChangeCounts(
            **{n: int(entity.get(prefix + n.title().replace("_", ""), 0)) for n in _COUNT_FIELDS}
        )

    started = parse_time(entity.get("StartedAt"))
    return Run(
        run_id=entity["RowKey"],
        tenant_id=entity["PartitionKey"],
        kind=entity.get("Kind", ""),
        trigger=entity.get("Trigger", ""),
        started_at=started or datetime.fromtimestamp(0, UTC),
        status=RunStatus(entity.get("Status", RunStatus.RUNNING.value)),
        ended_at=parse_time(entity.get("EndedAt")),
        users=counts("Users"),
        groups=counts("Groups"),
        devices=counts("Devices"),
        apps=counts("Apps"),
        memberships_added=int(entity.get("MembershipsAdded", 0)),
        memberships_removed=int(entity.get("MembershipsRemoved", 0)),
        ignored=Counter(json.loads(entity.get("Ignored") or "{}")),
        graph_requests=int(entity.get("GraphRequests", 0)),
        throttled=int(entity.get("Throttled", 0)),
        entities_written=int(entity.get("EntitiesWritten", 0)),
        transactions=int(entity.get("Transactions", 0)),
        cpu_ms=int(entity.get("CpuMs", 0)),
        storage_operations=int(entity.get("StorageOperations", 0)),
        error_code=entity.get("ErrorCode", ""),
        error=entity.get("Error", ""),
        options=RunOptions(full=bool(entity.get("Full", False)),
                           allow_mass_deletion=bool(entity.get("AllowMassDeletion", False))),
        lease_until=parse_time(entity.get("LeaseUntil")),
        attempts=int(entity.get("Attempts", 0)),
        queued_at=parse_time(entity.get("QueuedAt")),
        changes_from=str(entity.get("ChangesFrom", "")),
        changes_to=str(entity.get("ChangesTo", "")),
    )
