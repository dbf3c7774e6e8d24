"""How the command line shows tenants, users, runs and discoveries (text and JSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from functions.core.model import Run, TenantRecord
from functions.directory.model import UserRecord
from functions.partners import Discovery


def iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id, "displayName": user.display_name, "email": user.email, "upn": user.upn,
        "anonymous": user.anonymous, "direct": user.direct,
        "azureIdDeleted": user.deleted, "deletedAt": iso(user.deleted_at) or None,
    }


def tenant_json(tenant: TenantRecord) -> dict[str, Any]:
    d = tenant.directory
    return {
        "tenantId": tenant.tenant_id, "displayName": tenant.display_name,
        "enabled": tenant.enabled, "health": tenant.health.value,
        "healthSince": iso(tenant.health_since) or None,
        "secretExpiresOn": iso(tenant.secret_expires_on) or None,
        "lastErrorCode": tenant.last_error_code or None, "lastError": tenant.last_error or None,
        "consecutiveFailures": tenant.consecutive_failures,
        "directory": None if d is None else {
            "clientId": d.client_id, "groupId": d.group_id or None, "scope": d.scope,
            "credentialType": d.credential_type.value,
        },
        "devices": None if tenant.devices is None else {
            "partnerTenantId": tenant.devices.partner_tenant_id,
            "active": tenant.devices.active, "excluded": tenant.devices.excluded,
            "organization": tenant.organization or None,
            "defaultDomain": tenant.default_domain or None,
            "verifiedDomains": list(tenant.verified_domains),
            "health": tenant.device_state.health.value,
            "healthSince": iso(tenant.device_state.health_since) or None,
            "lastErrorCode": tenant.device_state.last_error_code or None,
            "lastError": tenant.device_state.last_error or None,
            "consecutiveFailures": tenant.device_state.consecutive_failures,
            "quarantinedUntil": iso(tenant.device_state.quarantined_until) or None,
            "secretExpiresOn": iso(tenant.device_state.secret_expires_on) or None,
        },
    }


def run_json(run: Run) -> dict[str, Any]:
    return {
        "runId": run.run_id, "tenantId": run.tenant_id, "kind": run.kind,
        "trigger": run.trigger, "status": run.status.value,
        "startedAt": iso(run.started_at), "endedAt": iso(run.ended_at) or None,
        "users": vars(run.users), "groups": vars(run.groups),
        "membershipsAdded": run.memberships_added, "membershipsRemoved": run.memberships_removed,
        "ignored": dict(run.ignored), "graphRequests": run.graph_requests,
        "throttled": run.throttled, "entitiesWritten": run.entities_written,
        "errorCode": run.error_code or None, "error": run.error or None,
    }


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def describe_run(run: Run) -> str:
    u, g = run.users, run.groups
    ignored = ", ".join(f"{n} {r}" for r, n in sorted(run.ignored.items())) or "none"
    text = (
        f"{run.status.value}: tenant {run.tenant_id} run {run.run_id}\n"
        f"  users: {u.created} created, {u.updated} updated, {u.unchanged} unchanged, "
        f"{u.marked_deleted} marked deleted, {u.restored} restored\n"
        f"  groups: {g.created} created, {g.updated} updated, {g.unchanged} unchanged, "
        f"{g.marked_deleted} marked deleted, {g.restored} restored\n"
        f"  ignored: {ignored}; {run.graph_requests} Graph requests "
        f"({run.throttled} throttled), {_plural(run.entities_written, 'entity', 'entities')} "
        "written"
    )
    if run.error:
        text += f"\n  error {run.error_code}: {run.error}"
    return text


# --- commands --------------------------------------------------------------------------


def describe_device_run(run: Run) -> str:
    d, a = run.devices, run.apps
    text = (f"{run.status.value}: tenant {run.tenant_id} devices run {run.run_id}\n"
            f"  devices: {d.created} created, {d.updated} updated, {d.unchanged} unchanged, "
            f"{d.marked_deleted} retired, {d.restored} restored\n"
            f"  software: {a.created} created, {a.updated} updated, {a.unchanged} unchanged, "
            f"{a.marked_deleted} removed; {run.graph_requests} Graph requests "
            f"({run.throttled} throttled), "
            # Devices and software are packed many to a row (docs/design.md).
            f"{_plural(run.entities_written, 'table row', 'table rows')} written")
    if run.error:
        text += f"\n  error {run.error_code}: {run.error}"
    return text


def print_discovery(d: Discovery) -> None:
    print(f"partner {d.partner_tenant_id}: {len(d.found)} customers found, {len(d.new)} new, "
          f"{len(d.reactivated)} reactivated, {len(d.inactive)} now inactive, "
          f"{len(d.excluded)} excluded, {len(d.unsupported)} unsupported")
