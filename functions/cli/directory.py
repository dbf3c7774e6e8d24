"""Commands for tenants, directory syncs, users, groups, runs and the job queue."""

from __future__ import annotations

import argparse

from functions.cli.inputs import credential, date, secret
from functions.cli.output import (
    describe_device_run,
    describe_run,
    iso,
    print_json,
    run_json,
    tenant_json,
    user_json,
)
from functions.core.model import RunOptions, RunStatus, SyncKind, Trigger
from functions.core.validation import guid
from functions.directory.store import UserFilter
from functions.services import Services


def cmd_tenant_add(s: Services, args: argparse.Namespace) -> int:
    tenant = s.onboarding.add_directory_tenant(
        args.tenant_id, args.client_id, credential(args), args.group_id, scope=args.scope,
    )
    print(f"onboarded tenant {tenant.tenant_id}: level-0 group {tenant.display_name!r} "
          f"({tenant.directory.group_id if tenant.directory else ''})")
    return 0


def cmd_tenant_set_secret(s: Services, args: argparse.Namespace) -> int:
    tenant = s.onboarding.set_directory_secret(
        args.tenant_id, secret(args), secret_expires_on=date(args.secret_expires)
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
        print_json([tenant_json(t) for t in tenants])
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
    options = RunOptions(full=args.full, allow_mass_deletion=args.allow_mass_deletion)
    if args.all:
        # One tenant's failure is its own run; the rest go on.
        runs = s.runner.run_many(SyncKind.DIRECTORY, tenant_ids, Trigger.CLI, options)
    else:
        runs = [s.runner.run_one(SyncKind.DIRECTORY, tenant_ids[0], Trigger.CLI, options)]
    if not args.json:
        for run in runs:
            print(describe_run(run))
    else:
        print_json([run_json(r) for r in runs])
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
        print_json([user_json(u) for u in users])
        return 0
    groups = {g.id: g.display_name for g in s.directory.groups(tenant_id)}
    member_of: dict[str, list[str]] = {}
    for m in s.directory.memberships(tenant_id):
        if m.active:
            member_of.setdefault(m.user_id, []).append(groups.get(m.group_id, m.group_id))
    for u in users:
        email = u.email or "(anonymous)"
        state = f"Azure ID: deleted {iso(u.deleted_at)}" if u.deleted else "active"
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
        print_json([{"id": g.id, "displayName": g.display_name, "members": counts.get(g.id, 0),
                      "azureIdDeleted": g.deleted, "deletedAt": iso(g.deleted_at) or None}
                     for g in groups])
        return 0
    for g in groups:
        state = f"Azure ID: deleted {iso(g.deleted_at)}" if g.deleted else "active"
        print(f"{g.display_name:<24} {counts.get(g.id, 0):>5} members  {state}")
    print(f"{len(groups)} groups")
    return 0


def cmd_runs(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    runs = s.runs.recent(tenant_id, args.limit)
    if args.json:
        print_json([run_json(r) for r in runs])
        return 0
    for r in runs:
        t = r.totals
        print(f"{iso(r.started_at)}  {r.kind:<9} {r.trigger:<5} {r.status.value:<9} "
              f"+{t.created} ~{t.updated} -{t.marked_deleted} restored {t.restored}  "
              f"{r.graph_requests} requests  {r.error_code}")
    return 0


def cmd_schedule(s: Services, args: argparse.Namespace) -> int:
    enqueued, skipped = s.scheduler.schedule(args.kind, trigger=Trigger.CLI)
    print(f"enqueued {enqueued} {args.kind} jobs ({skipped} tenants skipped)")
    return 0


def cmd_worker(s: Services, args: argparse.Namespace) -> int:
    """Drain the job queue once: what the queue-triggered function does in Azure."""
    failed = 0
    for run in s.worker.drain():
        print(describe_run(run) if run.kind == SyncKind.DIRECTORY else describe_device_run(run))
        failed += run.status != RunStatus.SUCCEEDED
    # Then the webhook deliveries those runs queued (those due now).
    attempted = s.delivery_worker.drain()
    if attempted:
        print(f"{attempted} webhook delivery attempts")
    return 1 if failed else 0
