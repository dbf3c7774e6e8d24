"""The domain records turned into the API's records: one projection of each."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Literal

from functions.api.models.consent import ConsentLinkOut, ConsentOut
from functions.api.models.records import (
    ChangeOut,
    Customer,
    DetectedApp,
    Device,
    DeviceApp,
    DeviceDetail,
    DeviceSide,
    DirectoryConnectionOut,
    DiscoveryOut,
    Group,
    ManagedApp,
    Partner,
    RunOut,
    SyncStarted,
    Tenant,
    User,
)
from functions.core.model import ConsentRequest, PartnerConnection, Run, TenantRecord
from functions.core.summary import run_summary
from functions.devices.model import (
    DetectedAppRecord,
    DeviceRecord,
    DeviceSoftware,
    ManagedAppRecord,
)
from functions.directory.model import GroupRecord, UserRecord
from functions.partners import Discovery
from functions.storage.entities import parse_time
from functions.storage.feed import FeedEntry


def tenant_out(t: TenantRecord) -> Tenant:
    d = t.directory
    return Tenant(
        tenantId=t.tenant_id, displayName=t.display_name, enabled=t.enabled, health=t.health,
        healthSince=t.health_since, secretExpiresOn=t.secret_expires_on,
        lastErrorCode=t.last_error_code or None, lastError=t.last_error or None,
        consecutiveFailures=t.consecutive_failures, createdAt=t.created_at,
        directory=None if d is None else DirectoryConnectionOut(
            clientId=d.client_id, groupId=d.group_id or None, scope=d.scope,
            credentialType=d.credential_type.value,
        ),
        devices=_device_side(t),
    )


def _device_side(t: TenantRecord) -> DeviceSide | None:
    d, s = t.devices, t.device_state
    if d is None:
        return None
    return DeviceSide(
        partnerTenantId=d.partner_tenant_id or None,
        credentialType=d.credential_type.value, active=d.active, excluded=d.excluded,
        unsupportedReason=d.unsupported_reason or None, organization=t.organization or None,
        defaultDomain=t.default_domain or None, verifiedDomains=list(t.verified_domains),
        health=s.health, healthSince=s.health_since, lastErrorCode=s.last_error_code or None,
        lastError=s.last_error or None, consecutiveFailures=s.consecutive_failures,
        quarantinedUntil=s.quarantined_until, secretExpiresOn=s.secret_expires_on,
    )


def run_out(r: Run) -> RunOut:
    """The run as every reader gets it (functions.core.summary), as the API's model."""
    return RunOut.model_validate(run_summary(r))


def user_out(u: UserRecord) -> User:
    return User(id=u.id, displayName=u.display_name, email=u.email, upn=u.upn,
                anonymous=u.anonymous, direct=u.direct, azureIdDeleted=u.deleted,
                deletedAt=u.deleted_at, groupIds=list(u.group_ids), changedAt=u.changed_at)


def group_out(g: GroupRecord) -> Group:
    return Group(id=g.id, displayName=g.display_name, azureIdDeleted=g.deleted,
                 deletedAt=g.deleted_at, memberCount=g.member_count, changedAt=g.changed_at)


def change_out(e: FeedEntry) -> ChangeOut:
    c = e.change
    return ChangeOut(sequence=e.seq, entity=c.entity, entityId=c.entity_id, change=c.change,
                     name=c.name, runId=e.run_id, syncKind=e.sync_kind, changedAt=e.at)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _intune_time(value: str | None) -> datetime | None:
    """Intune's ISO 8601 text as a time (None when empty or not a time)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# DeviceRecord's fields, in order (a ``record``: slotted at run time, see core.records).
_DEVICE_FIELDS = tuple(f.name for f in dataclass_fields(DeviceRecord))


def device_out(d: DeviceRecord) -> Device:
    fields = {_camel(name): getattr(d, name) for name in _DEVICE_FIELDS}
    fields["enrolledAt"] = _intune_time(d.enrolled_at)
    fields["lastSyncAt"] = _intune_time(d.last_sync_at)
    return Device(**fields)


def device_detail_out(d: DeviceRecord, software: DeviceSoftware | None,
                      apps: dict[str, DetectedAppRecord]) -> DeviceDetail:
    """A device with its software, the apps named from ``apps`` (by id)."""
    def item(app_id: str, removed_at: str | None) -> DeviceApp:
        app = apps.get(app_id)
        return DeviceApp(appId=app_id, name=app.name if app else None,
                         version=app.version if app else None,
                         publisher=app.publisher if app else None,
                         platform=app.platform if app else None,
                         removed=removed_at is not None, removedAt=parse_time(removed_at))

    now = sorted((item(a, None) for a in software.apps) if software else [],
                 key=lambda i: ((i.name or "").casefold(), i.appId))
    ended = [item(a, at) for a, at in software.ended] if software else []
    return DeviceDetail(**{_camel(name): getattr(d, name) for name in _DEVICE_FIELDS},
                        software=now + ended)


def detected_app_out(a: DetectedAppRecord) -> DetectedApp:
    return DetectedApp(id=a.id, name=a.name, version=a.version, publisher=a.publisher,
                       platform=a.platform, deviceCount=a.device_count, sizeBytes=a.size_bytes,
                       removed=a.removed, removedAt=a.removed_at, changedAt=a.changed_at)


def managed_app_out(a: ManagedAppRecord) -> ManagedApp:
    return ManagedApp(id=a.id, name=a.name, type=a.app_type, publisher=a.publisher,
                      removed=a.removed, removedAt=a.removed_at, changedAt=a.changed_at)


def partner_out(p: PartnerConnection) -> Partner:
    return Partner(
        partnerTenantId=p.partner_tenant_id, partnerClientId=p.partner_client_id,
        partnerCredentialType=p.partner_credential_type.value,
        inventoryClientId=p.inventory_client_id,
        inventoryCredentialType=p.inventory_credential_type.value,
        source=p.source, customers=list(p.customers),
        includePartnerTenant=p.include_partner_tenant, excluded=list(p.excluded),
        createdAt=p.created_at,
    )


def discovery_out(d: Discovery, queued: list[SyncStarted]) -> DiscoveryOut:
    return DiscoveryOut(
        partnerTenantId=d.partner_tenant_id,
        found=[Customer(tenantId=c.tenant_id, name=c.name,
                        unsupportedReason=c.unsupported_reason or None) for c in d.found],
        new=list(d.new), reactivated=list(d.reactivated), inactive=list(d.inactive),
        excluded=list(d.excluded), unsupported=list(d.unsupported), queued=queued,
    )


def consent_link_out(c: ConsentRequest, url: str) -> ConsentLinkOut:
    return ConsentLinkOut(consentId=c.consent_id, kind=c.kind, url=url, expiresAt=c.expires_at,
                          tenantId=c.tenant_id or None, groupId=c.group_id or None,
                          partnerTenantId=c.partner_tenant_id or None)


def consent_out(c: ConsentRequest, now: datetime) -> ConsentOut:
    status: Literal["pending", "used", "expired"] = (
        "used" if c.used_at else "expired" if c.expires_at <= now else "pending")
    return ConsentOut(
        consentId=c.consent_id, kind=c.kind, clientId=c.client_id, status=status,
        createdAt=c.created_at, expiresAt=c.expires_at, tenantId=c.tenant_id or None,
        groupId=c.group_id or None, partnerTenantId=c.partner_tenant_id or None,
        usedAt=c.used_at, consentedTenantId=c.consented_tenant_id or None,
        runId=c.run_id or None)
