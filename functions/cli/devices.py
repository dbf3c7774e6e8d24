"""Commands for partner connections, device syncs, devices and software."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from functions.cli.inputs import date, secret_from
from functions.cli.output import describe_device_run, iso, print_discovery, print_json, run_json
from functions.core.errors import InputError, NotFoundError
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
        args.partner_tenant_id, args.partner_client_id,
        secret_from(args.partner_secret_env, "partner"), args.inventory_client_id,
        secret_from(args.inventory_secret_env, "inventory"), source=args.source,
        customers=args.customer or [], include_partner_tenant=args.include_partner_tenant,
        excluded=args.exclude or [],
        inventory_secret_expires_on=date(args.inventory_secret_expires),
        partner_secret_expires_on=date(args.partner_secret_expires),
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
        tenant_ids = [t.tenant_id for t in s.tenants.list() if schedulable(t, "devices", now)]
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
    apps = None
    if args.app_version and not args.app_name:
        raise InputError("--app-version needs --app-name", code="invalid_filter")
    if args.app_id:
        if s.inventory.detected_app(tenant_id, args.app_id) is None:
            raise NotFoundError(f"detected app {args.app_id} is not among tenant {tenant_id}'s "
                                "synced software (tenantsync software lists it)",
                                code="unknown_app")
        apps = frozenset({args.app_id})
    elif args.app_name:
        apps = s.inventory.apps_named(tenant_id, args.app_name, args.app_version)
    flt = DeviceFilter(retired=True if args.retired else None,
                       compliance_state=args.compliance, operating_system=args.os,
                       user_ids=user_ids, apps=apps)
    devices = sorted(s.inventory.devices(tenant_id, flt), key=lambda d: d.name.lower())
    if args.json:
        print_json([{**{k: getattr(d, k) for k in d.__slots__},
                      "retired_at": iso(d.retired_at) or None} for d in devices])
        return 0
    for d in devices:
        state = f"retired {iso(d.retired_at)}" if d.retired else (d.compliance_state or "")
        print(f"{d.name:<22} {d.serial_number or '-':<16} {d.operating_system or '':<10} "
              f"{d.user_upn or '-':<30} {state}")
    print(f"{len(devices)} devices")
    return 0


def cmd_device(s: Services, args: argparse.Namespace) -> int:
    """One device: its hardware and its software (apps on it now, then ended ones)."""
    tenant_id = s.tenants.get(guid(args.tenant_id, "tenant ID")).tenant_id
    device_id = guid(args.device_id, "device ID")
    found = s.inventory.device(tenant_id, device_id)
    if found is None:
        raise NotFoundError(f"device {device_id} is not among tenant {tenant_id}'s synced "
                            "devices (a device sync stores them)", code="unknown_device")
    device, software = found
    apps = s.inventory.detected_apps_by_id(tenant_id) if software else {}
    links = ([(a, None) for a in software.apps] + list(software.ended)) if software else []
    links.sort(key=lambda link: (link[1] is not None, (apps[link[0]].name.casefold()
                                                        if link[0] in apps else link[0])))
    if args.json:
        print_json({**{k: getattr(device, k) for k in device.__slots__},
                    "retired_at": iso(device.retired_at) or None,
                    "software": [{"appId": a, "name": apps[a].name if a in apps else None,
                                  "version": apps[a].version if a in apps else None,
                                  "removedAt": at} for a, at in links]})
        return 0
    memory = device.physical_memory_bytes
    storage = device.total_storage_bytes
    print(f"{device.name}  ({device.id})")
    for label, value in (
        ("serial number", device.serial_number), ("manufacturer", device.manufacturer),
        ("model", device.model), ("operating system", device.operating_system),
        ("OS version", device.os_version),
        ("memory", f"{memory / 2**30:.0f} GiB" if memory else None),
        ("storage", f"{(device.free_storage_bytes or 0) / 1e9:.0f} of {storage / 1e9:.0f} GB "
                    "free" if storage else None),
        ("Wi-Fi MAC", device.wifi_mac), ("Ethernet MAC", device.ethernet_mac),
        ("encrypted", device.is_encrypted), ("TPM", device.tpm_version),
        ("processor", device.processor_architecture), ("BIOS", device.bios_version),
        ("UDID", device.udid), ("ICCID", device.iccid), ("IMEI", device.imei),
        ("enrolment profile", device.enrollment_profile),
        ("primary user", device.user_upn), ("last check-in", device.last_sync_at),
    ):
        if value not in (None, ""):
            print(f"  {label:<18} {value}")
    print(f"  software ({len(software.apps) if software else 0} apps):")
    for app_id, at in links:
        app = apps.get(app_id)
        name, version = (app.name, app.version or "") if app else (app_id, "")
        note = f"removed {at}" if at else (app.publisher or "") if app else ""
        print(f"    {name:<36} {version:<16} {note}".rstrip())
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
