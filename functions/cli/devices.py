"""Commands for partner connections, device syncs, devices and software."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from functions.cli.inputs import app_credential
from functions.cli.output import describe_device_run, iso, print_discovery, print_json, run_json
from functions.core.model import RunOptions, RunStatus, SyncKind, Trigger
from functions.core.validation import guid
from functions.devices.store import DeviceFilter
from functions.directory.store import UserFilter
from functions.partners import Discovery
from functions.services import Services
from functions.sync.health import schedulable


def first_syncs(s: Services, d: Discovery) -> int:
    """New customers get a full device sync at once."""
    runs = s.runner.run_many(SyncKind.DEVICES, d.new, Trigger.CLI)
    for run in runs:
        print(describe_device_run(run))
    return 0 if all(r.status == RunStatus.SUCCEEDED for r in runs) else 1


def cmd_partner_add(s: Services, args: argparse.Namespace) -> int:
    partner = s.partners.add(
        args.partner_tenant_id, args.partner_client_id, app_credential(args, "partner"),
        args.inventory_client_id, app_credential(args, "inventory"), source=args.source,
        customers=args.customer or [], include_partner_tenant=args.include_partner_tenant,
        excluded=args.exclude or [],
    )
    print(f"saved partner connection {partner.partner_tenant_id} (customers from "
          f"{partner.source}); discovering customers")
    discovery = s.partners.discover(partner.partner_tenant_id)
    print_discovery(discovery)
    return first_syncs(s, discovery)


def cmd_partner_discover(s: Services, args: argparse.Namespace) -> int:
    discovery = s.partners.discover(args.partner_tenant_id)
    print_discovery(discovery)
    return first_syncs(s, discovery)


def cmd_sync_devices(s: Services, args: argparse.Namespace) -> int:
    if args.all:
        now = datetime.now(UTC)
        tenant_ids = [t.tenant_id for t in s.tenants.list()
                      if schedulable(t, SyncKind.DEVICES, now)]
    else:
        tenant_ids = [s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id]
    runs = s.runner.run_many(SyncKind.DEVICES, tenant_ids, Trigger.CLI,
                             RunOptions(full=args.full))
    if args.json:
        print_json([run_json(r) for r in runs])
    else:
        for run in runs:
            print(describe_device_run(run))
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
        print_json([{**{k: getattr(d, k) for k in d.__slots__},
                      "retired_at": iso(d.retired_at) or None,
                      "changed_at": iso(d.changed_at) or None} for d in devices])
        return 0
    for d in devices:
        state = f"retired {iso(d.retired_at)}" if d.retired else (d.compliance_state or "")
        print(f"{d.name:<22} {d.serial_number or '-':<16} {d.operating_system or '':<10} "
              f"{d.user_upn or '-':<30} {state}")
    print(f"{len(devices)} devices")
    return 0


def cmd_software(s: Services, args: argparse.Namespace) -> int:
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    if args.managed:
        managed = sorted(s.inventory.managed_apps(tenant_id), key=lambda a: a.name.lower())
        if args.json:
            print_json([{"id": a.id, "name": a.name, "type": a.app_type,
                          "publisher": a.publisher, "removed": a.removed} for a in managed])
            return 0
        for m in managed:
            print(f"{m.name:<36} {m.app_type:<28} {m.publisher or ''}")
        print(f"{len(managed)} managed apps")
        return 0
    apps = sorted(s.inventory.detected_apps(tenant_id), key=lambda a: a.name.lower())
    if args.json:
        print_json([{"id": a.id, "name": a.name, "version": a.version,
                      "publisher": a.publisher, "platform": a.platform,
                      "deviceCount": a.device_count, "removed": a.removed} for a in apps])
        return 0
    for a in apps:
        print(f"{a.name:<36} {a.version or '':<16} {a.publisher or '':<24} "
              f"{a.device_count or 0:>5} devices")
    print(f"{len(apps)} detected apps")
    return 0
