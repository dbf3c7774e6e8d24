"""The ``tenantsync`` command line: onboard tenants, run syncs, read what they stored.

Exit codes: 0 done; 1 a sync did not succeed; 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .config import DEFAULT_GRAPH_SCOPE
from .domain import Run, RunStatus, TenantRecord, UserRecord
from .errors import InputError, TenantSyncError
from .partners import Discovery
from .runs import schedulable
from .secrets import SecretValue
from .services import Services, get_services
from .storage.inventory import DeviceFilter
from .storage.repositories import UserFilter
from .validation import guid


def _secret(args: argparse.Namespace) -> SecretValue:
    """Read the client secret without it ever being a command-line argument."""
    if args.secret_env:
        value = os.environ.get(args.secret_env, "")
        if not value:
            raise InputError(f"environment variable {args.secret_env} is empty or not set",
                             code="secret_required")
    elif args.secret_stdin:
        value = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        value = getpass.getpass("Client secret (its Value): ").strip()
    else:
        value = ""
    if not value:
        raise InputError(
            "a client secret is required: pass --secret-stdin (and pipe it) or --secret-env NAME",
            code="secret_required",
        )
    return SecretValue(value)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--secret-expires must be a date like 2027-05-31, got {value!r}",
                         code="invalid_date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id, "displayName": user.display_name, "email": user.email, "upn": user.upn,
        "anonymous": user.anonymous, "direct": user.direct,
        "azureIdDeleted": user.deleted, "deletedAt": _iso(user.deleted_at) or None,
    }


def _tenant_json(tenant: TenantRecord) -> dict[str, Any]:
    d = tenant.directory
    return {
        "tenantId": tenant.tenant_id, "displayName": tenant.display_name,
        "enabled": tenant.enabled, "health": tenant.health.value,
        "healthSince": _iso(tenant.health_since) or None,
        "secretExpiresOn": _iso(tenant.secret_expires_on) or None,
        "lastErrorCode": tenant.last_error_code or None, "lastError": tenant.last_error or None,
        "consecutiveFailures": tenant.consecutive_failures,
        "directory": None if d is None else {
            "clientId": d.client_id, "groupId": d.group_id, "scope": d.scope,
        },
        "devices": None if tenant.devices is None else {
            "partnerTenantId": tenant.devices.partner_tenant_id,
            "active": tenant.devices.active, "excluded": tenant.devices.excluded,
            "organization": tenant.organization or None,
            "defaultDomain": tenant.default_domain or None,
            "verifiedDomains": list(tenant.verified_domains),
            "health": tenant.device_state.health.value,
            "healthSince": _iso(tenant.device_state.health_since) or None,
            "lastErrorCode": tenant.device_state.last_error_code or None,
            "lastError": tenant.device_state.last_error or None,
            "consecutiveFailures": tenant.device_state.consecutive_failures,
            "quarantinedUntil": _iso(tenant.device_state.quarantined_until) or None,
            "secretExpiresOn": _iso(tenant.device_state.secret_expires_on) or None,
        },
    }


def _run_json(run: Run) -> dict[str, Any]:
    return {
        "runId": run.run_id, "tenantId": run.tenant_id, "kind": run.kind,
        "trigger": run.trigger, "status": run.status.value,
        "startedAt": _iso(run.started_at), "endedAt": _iso(run.ended_at) or None,
        "users": vars(run.users), "groups": vars(run.groups),
        "membershipsAdded": run.memberships_added, "membershipsRemoved": run.memberships_removed,
        "ignored": dict(run.ignored), "graphRequests": run.graph_requests,
        "throttled": run.throttled, "entitiesWritten": run.entities_written,
        "errorCode": run.error_code or None, "error": run.error or None,
    }


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def _describe_run(run: Run) -> str:
    u, g = run.users, run.groups
    ignored = ", ".join(f"{n} {r}" for r, n in sorted(run.ignored.items())) or "none"
    text = (
        f"{run.status.value}: tenant {run.tenant_id} run {run.run_id}\n"
        f"  users: {u.created} created, {u.updated} updated, {u.unchanged} unchanged, "
        f"{u.marked_deleted} marked deleted, {u.restored} restored\n"
        f"  groups: {g.created} created, {g.updated} updated, {g.unchanged} unchanged, "
        f"{g.marked_deleted} marked deleted, {g.restored} restored\n"
        f"  ignored: {ignored}; {run.graph_requests} Graph requests "
        f"({run.throttled} throttled), {run.entities_written} entities written"
    )
    if run.error:
        text += f"\n  error {run.error_code}: {run.error}"
    return text


# --- commands --------------------------------------------------------------------------


def cmd_tenant_add(s: Services, args: argparse.Namespace) -> int:
    tenant = s.onboarding.add_directory_tenant(
        args.tenant_id, args.client_id, _secret(args), args.group_id,
        scope=args.scope, secret_expires_on=_date(args.secret_expires),
    )
    print(f"onboarded tenant {tenant.tenant_id}: level-0 group {tenant.display_name!r} "
          f"({tenant.directory.group_id if tenant.directory else ''})")
    return 0


def cmd_tenant_set_secret(s: Services, args: argparse.Namespace) -> int:
    tenant = s.onboarding.set_directory_secret(
        args.tenant_id, _secret(args), secret_expires_on=_date(args.secret_expires)
    )
    print(f"saved a new secret version for tenant {tenant.tenant_id}; it is used from the "
          "next token request")
    return 0


def cmd_tenant_enable(s: Services, args: argparse.Namespace) -> int:
    tenant = s.onboarding.set_enabled(args.tenant_id, args.command == "enable")
    print(f"tenant {tenant.tenant_id} {'enabled' if tenant.enabled else 'disabled'}")
    return 0


def cmd_tenant_list(s: Services, args: argparse.Namespace) -> int:
    tenants = s.tenants.list()
    if args.json:
        _print_json([_tenant_json(t) for t in tenants])
        return 0
    print(f"{'tenant':<36}  {'name':<24} {'state':<8} {'directory':<18} devices")
    for t in tenants:
        state = "enabled" if t.enabled else "disabled"
        directory = t.health.value if t.directory else "-"
        if t.directory and t.last_error_code:
            directory += f" ({t.last_error_code})"
        devices = t.device_state.health.value if t.devices else "-"
        if t.devices and t.device_state.last_error_code:
            devices += f": {t.device_state.last_error}"
        print(f"{t.tenant_id}  {t.display_name[:24]:<24} {state:<8} {directory:<18} {devices}")
    return 0


def cmd_sync_directory(s: Services, args: argparse.Namespace) -> int:
    if args.all:
        tenant_ids = [t.tenant_id for t in s.tenants.list() if t.enabled and t.directory]
    else:
        tenant_ids = [guid(args.tenant_id, "tenant ID")]
    runs = []
    for tenant_id in tenant_ids:  # one tenant's failure is its own run; the rest go on
        run = s.directory_sync.run(tenant_id, "cli", allow_mass_deletion=args.allow_mass_deletion,
                                   full=args.full)
        runs.append(run)
        if not args.json:
            print(_describe_run(run))
    if args.json:
        _print_json([_run_json(r) for r in runs])
    return 0 if all(r.status == RunStatus.SUCCEEDED for r in runs) else 1


def cmd_users(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    flt = UserFilter(
        deleted_only=args.deleted_only,
        group_id=guid(args.group, "group ID") if args.group else None,
        anonymous_only=args.anonymous,
    )
    users = sorted(s.directory.users(tenant_id, flt), key=lambda u: u.display_name.lower())
    if args.json:
        _print_json([_user_json(u) for u in users])
        return 0
    groups = {g.id: g.display_name for g in s.directory.groups(tenant_id)}
    member_of: dict[str, list[str]] = {}
    for m in s.directory.memberships(tenant_id):
        if m.active:
            member_of.setdefault(m.user_id, []).append(groups.get(m.group_id, m.group_id))
    for u in users:
        email = u.email or "(anonymous)"
        state = f"Azure ID: deleted {_iso(u.deleted_at)}" if u.deleted else "active"
        in_groups = ", ".join(sorted(member_of.get(u.id, []))) or "-"
        print(f"{u.display_name:<20} {email:<28} groups: {in_groups:<20} {state}")
    print(f"{len(users)} users")
    return 0


def cmd_groups(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    groups = sorted(s.directory.groups(tenant_id), key=lambda g: g.display_name.lower())
    counts: dict[str, int] = {}
    for m in s.directory.memberships(tenant_id):
        if m.active:
            counts[m.group_id] = counts.get(m.group_id, 0) + 1
    if args.json:
        _print_json([{"id": g.id, "displayName": g.display_name, "members": counts.get(g.id, 0),
                      "azureIdDeleted": g.deleted, "deletedAt": _iso(g.deleted_at) or None}
                     for g in groups])
        return 0
    for g in groups:
        state = f"Azure ID: deleted {_iso(g.deleted_at)}" if g.deleted else "active"
        print(f"{g.display_name:<24} {counts.get(g.id, 0):>5} members  {state}")
    print(f"{len(groups)} groups")
    return 0


def cmd_runs(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    runs = s.runs.recent(tenant_id, args.limit)
    if args.json:
        _print_json([_run_json(r) for r in runs])
        return 0
    for r in runs:
        t = r.totals
        print(f"{_iso(r.started_at)}  {r.kind:<9} {r.trigger:<5} {r.status.value:<9} "
              f"+{t.created} ~{t.updated} -{t.marked_deleted} restored {t.restored}  "
              f"{r.graph_requests} requests  {r.error_code}")
    return 0


def cmd_schedule(s: Services, args: argparse.Namespace) -> int:
    enqueued, skipped = s.schedule(args.kind, trigger="cli")
    print(f"enqueued {enqueued} {args.kind} jobs ({skipped} tenants skipped)")
    return 0


def cmd_worker(s: Services, args: argparse.Namespace) -> int:
    """Drain the job queue once: what the queue-triggered function does in Azure."""
    failed = 0
    for kind in ("directory", "devices"):
        while jobs := s.queue_for(kind).take():
            for job in jobs:
                run = s.run_job(job)
                print(_describe_run(run) if kind == "directory" else _describe_device_run(run))
                failed += run.status != RunStatus.SUCCEEDED
    return 1 if failed else 0


def _secret_from(env_name: str | None, what: str) -> SecretValue:
    value = os.environ.get(env_name or "", "")
    if not env_name or not value:
        raise InputError(f"the {what} secret is required: pass it in an environment variable "
                         "named by --{what}-secret-env", code="secret_required")
    return SecretValue(value)


def _print_discovery(d: Discovery) -> None:
    print(f"partner {d.partner_tenant_id}: {len(d.found)} customers found, {len(d.new)} new, "
          f"{len(d.reactivated)} reactivated, {len(d.inactive)} now inactive, "
          f"{len(d.excluded)} excluded, {len(d.unsupported)} unsupported")


def _first_syncs(s: Services, d: Discovery) -> int:
    """New customers get a full device sync at once."""
    runs = s.sync_many("devices", d.new, "cli")
    for run in runs:
        print(_describe_device_run(run))
    return 0 if all(r.status == RunStatus.SUCCEEDED for r in runs) else 1


def cmd_partner_add(s: Services, args: argparse.Namespace) -> int:
    partner = s.partners.add(
        args.partner_tenant_id, args.partner_client_id,
        _secret_from(args.partner_secret_env, "partner"), args.inventory_client_id,
        _secret_from(args.inventory_secret_env, "inventory"), source=args.source,
        customers=args.customer or [], include_partner_tenant=args.include_partner_tenant,
        excluded=args.exclude or [],
        inventory_secret_expires_on=_date(args.inventory_secret_expires),
        partner_secret_expires_on=_date(args.partner_secret_expires),
    )
    print(f"saved partner connection {partner.partner_tenant_id} (customers from "
          f"{partner.source}); discovering customers")
    discovery = s.partners.discover(partner.partner_tenant_id)
    _print_discovery(discovery)
    return _first_syncs(s, discovery)


def cmd_partner_discover(s: Services, args: argparse.Namespace) -> int:
    discovery = s.partners.discover(args.partner_tenant_id)
    _print_discovery(discovery)
    return _first_syncs(s, discovery)


def _describe_device_run(run: Run) -> str:
    d, a = run.devices, run.apps
    text = (f"{run.status.value}: tenant {run.tenant_id} devices run {run.run_id}\n"
            f"  devices: {d.created} created, {d.updated} updated, {d.unchanged} unchanged, "
            f"{d.marked_deleted} retired, {d.restored} restored\n"
            f"  software: {a.created} created, {a.updated} updated, {a.unchanged} unchanged, "
            f"{a.marked_deleted} removed; {run.graph_requests} Graph requests "
            f"({run.throttled} throttled), {run.entities_written} entities written")
    if run.error:
        text += f"\n  error {run.error_code}: {run.error}"
    return text


def cmd_sync_devices(s: Services, args: argparse.Namespace) -> int:
    if args.all:
        now = datetime.now(UTC)
        tenant_ids = [t.tenant_id for t in s.tenants.list() if schedulable(t, "devices", now)]
    else:
        tenant_ids = [s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id]
    runs = s.sync_many("devices", tenant_ids, "cli", full=args.full)
    if args.json:
        _print_json([_run_json(r) for r in runs])
    else:
        for run in runs:
            print(_describe_device_run(run))
    return 0 if all(r.status == RunStatus.SUCCEEDED for r in runs) else 1


def cmd_devices(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    user_ids = None
    if args.user_deleted:
        user_ids = {u.id for u in s.directory.users(tenant_id, UserFilter(deleted_only=True))}
    flt = DeviceFilter(retired=True if args.retired else None,
                       compliance_state=args.compliance, operating_system=args.os,
                       user_ids=user_ids)
    devices = sorted(s.inventory.devices(tenant_id, flt), key=lambda d: d.name.lower())
    if args.json:
        _print_json([{**{k: getattr(d, k) for k in d.__slots__},
                      "retired_at": _iso(d.retired_at) or None} for d in devices])
        return 0
    for d in devices:
        state = f"retired {_iso(d.retired_at)}" if d.retired else (d.compliance_state or "")
        print(f"{d.name:<22} {d.serial_number or '-':<16} {d.operating_system or '':<10} "
              f"{d.user_upn or '-':<30} {state}")
    print(f"{len(devices)} devices")
    return 0


def cmd_software(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    if args.managed:
        managed = sorted(s.inventory.managed_apps(tenant_id), key=lambda a: a.name.lower())
        if args.json:
            _print_json([{"id": a.id, "name": a.name, "type": a.app_type,
                          "publisher": a.publisher, "removed": a.removed} for a in managed])
            return 0
        for m in managed:
            print(f"{m.name:<36} {m.app_type:<28} {m.publisher or ''}")
        print(f"{len(managed)} managed apps")
        return 0
    apps = sorted(s.inventory.detected_apps(tenant_id), key=lambda a: a.name.lower())
    if args.json:
        _print_json([{"id": a.id, "name": a.name, "version": a.version,
                      "publisher": a.publisher, "platform": a.platform,
                      "deviceCount": a.device_count, "removed": a.removed} for a in apps])
        return 0
    for a in apps:
        print(f"{a.name:<36} {a.version or '':<16} {a.publisher or '':<24} "
              f"{a.device_count or 0:>5} devices")
    print(f"{len(apps)} detected apps")
    return 0


FULL_HELP = ("compare with every stored entity even when what was read is unchanged since "
             "the last complete sync")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenantsync", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="area", required=True)

    def secret_options(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
        g.add_argument("--secret-env", metavar="NAME", help="read the secret from env var NAME")
        p.add_argument("--secret-expires", metavar="DATE",
                       help="when the secret expires (ISO date), for expiry warnings")

    tenant = sub.add_parser("tenant", help="onboard and manage tenants")
    tsub = tenant.add_subparsers(dest="command", required=True)
    add = tsub.add_parser("add", help="onboard a tenant's directory connection (tests it first)")
    add.add_argument("--tenant-id", required=True)
    add.add_argument("--client-id", required=True)
    add.add_argument("--group-id", required=True, help="object ID of the level-0 group")
    add.add_argument("--scope", default=DEFAULT_GRAPH_SCOPE)
    secret_options(add)
    add.set_defaults(func=cmd_tenant_add)
    rotate = tsub.add_parser("set-secret", help="save a new client secret (no downtime)")
    rotate.add_argument("--tenant-id", required=True)
    secret_options(rotate)
    rotate.set_defaults(func=cmd_tenant_set_secret)
    for name in ("enable", "disable"):
        p = tsub.add_parser(name, help=f"{name} a tenant's scheduled syncs")
        p.add_argument("--tenant-id", required=True)
        p.set_defaults(func=cmd_tenant_enable)
    lst = tsub.add_parser("list", help="tenants with their health")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_tenant_list)

    sync = sub.add_parser("sync", help="run a sync now")
    ssub = sync.add_subparsers(dest="kind", required=True)
    directory = ssub.add_parser("directory", help="sync the level-0 group of one or all tenants")
    target = directory.add_mutually_exclusive_group(required=True)
    target.add_argument("--tenant-id")
    target.add_argument("--all", action="store_true", help="every enabled tenant")
    directory.add_argument("--allow-mass-deletion", action="store_true",
                           help="apply a sync even if it marks an abnormal share deleted")
    directory.add_argument("--full", action="store_true", help=FULL_HELP)
    directory.add_argument("--json", action="store_true")
    directory.set_defaults(func=cmd_sync_directory)

    users = sub.add_parser("users", help="list a tenant's users")
    users.add_argument("--tenant-id", required=True)
    users.add_argument("--deleted-only", action="store_true",
                       help='only users with deleted Azure ID ("Azure ID: deleted")')
    users.add_argument("--group", metavar="GROUP_ID", help="only members of this level-1 group")
    users.add_argument("--anonymous", action="store_true", help="only users without an email")
    users.add_argument("--json", action="store_true")
    users.set_defaults(func=cmd_users)

    groups = sub.add_parser("groups", help="list a tenant's level-1 groups")
    groups.add_argument("--tenant-id", required=True)
    groups.add_argument("--json", action="store_true")
    groups.set_defaults(func=cmd_groups)

    runs = sub.add_parser("runs", help="a tenant's recent runs, newest first")
    runs.add_argument("--tenant-id", required=True)
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)

    partner = sub.add_parser("partner", help="partner connections (device and software sync)")
    psub = partner.add_subparsers(dest="command", required=True)
    padd = psub.add_parser("add", help="save a partner connection, discover and sync customers")
    padd.add_argument("--partner-tenant-id", required=True)
    padd.add_argument("--partner-client-id", required=True, help="app that lists customers")
    padd.add_argument("--partner-secret-env", metavar="NAME", required=True)
    padd.add_argument("--partner-secret-expires", metavar="DATE")
    padd.add_argument("--inventory-client-id", required=True,
                      help="multitenant app consented in each customer tenant")
    padd.add_argument("--inventory-secret-env", metavar="NAME", required=True)
    padd.add_argument("--inventory-secret-expires", metavar="DATE")
    padd.add_argument("--source", choices=["gdap", "partner-center", "list"], required=True)
    padd.add_argument("--customer", action="append", metavar="TENANT_ID",
                      help="a customer tenant (source list); repeat")
    padd.add_argument("--include-partner-tenant", action="store_true")
    padd.add_argument("--exclude", action="append", metavar="TENANT_ID",
                      help="a tenant never to query; repeat")
    padd.set_defaults(func=cmd_partner_add)
    pdisc = psub.add_parser("discover", help="discover customers now; new ones are synced")
    pdisc.add_argument("--partner-tenant-id", required=True)
    pdisc.set_defaults(func=cmd_partner_discover)

    sdev = ssub.add_parser("devices", help="sync devices and software of one or all tenants")
    dtarget = sdev.add_mutually_exclusive_group(required=True)
    dtarget.add_argument("--tenant-id")
    dtarget.add_argument("--all", action="store_true", help="every active tenant")
    sdev.add_argument("--full", action="store_true", help=FULL_HELP)
    sdev.add_argument("--json", action="store_true")
    sdev.set_defaults(func=cmd_sync_devices)

    devices = sub.add_parser("devices", help="a tenant's managed devices")
    devices.add_argument("--tenant-id", required=True)
    devices.add_argument("--retired", action="store_true", help="only retired devices")
    devices.add_argument("--compliance", metavar="STATE", help="e.g. compliant, noncompliant")
    devices.add_argument("--os", metavar="NAME", help="operating system, e.g. Windows")
    devices.add_argument("--user-deleted", action="store_true",
                         help='only devices whose primary user is "Azure ID: deleted"')
    devices.add_argument("--json", action="store_true")
    devices.set_defaults(func=cmd_devices)
    software = sub.add_parser("software", help="a tenant's detected (or managed) apps")
    software.add_argument("--tenant-id", required=True)
    software.add_argument("--managed", action="store_true", help="managed (mobile) apps")
    software.add_argument("--json", action="store_true")
    software.set_defaults(func=cmd_software)

    schedule = sub.add_parser("schedule", help="enqueue jobs as the timers do")
    schedule.add_argument("kind", choices=["directory", "devices"])
    schedule.set_defaults(func=cmd_schedule)
    worker = sub.add_parser("worker", help="run queued jobs until the queue is empty")
    worker.set_defaults(func=cmd_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("azure").setLevel(logging.ERROR)
    try:
        return int(args.func(get_services(), args))
    except TenantSyncError as exc:
        print(f"tenantsync: error: {exc.message}", file=sys.stderr)
        return 2 if isinstance(exc, InputError) or exc.code in _INPUT_CODES else 1


# Failures of onboarding checks are the caller's input being wrong.
_INPUT_CODES = frozenset({
    "configuration", "invalid_secret", "secret_expired", "secret_missing", "app_not_found",
    "tenant_not_found", "group_not_found", "permission_missing", "consent_missing",
    "app_disabled", "secret_required",
})


if __name__ == "__main__":
    sys.exit(main())
