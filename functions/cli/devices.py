"""devices and software: what a tenant's device sync stored (the API's list_devices,
list_detected_apps and list_managed_apps)."""

from __future__ import annotations

import argparse

from functions.api import routes_devices, routes_software
from functions.api.models import FilterValue, Guid
from functions.cli.inputs import checked
from functions.cli.output import Column, Table, pages, plural, print_items, when
from functions.cli.registry import Command, json_flag, tenant_flag
from functions.services import Services


def _devices_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--retired", action=argparse.BooleanOptionalAction, default=None,
                   help="only devices gone from Intune (--no-retired: only current ones)")
    p.add_argument("--compliance-state", "--compliance", metavar="STATE",
                   help="this compliance state, in any case (e.g. noncompliant)")
    p.add_argument("--operating-system", "--os", metavar="NAME",
                   help="this operating system, in any case (e.g. Windows)")
    p.add_argument("--user-deleted", action="store_true",
                   help='only devices whose primary user is "Azure ID: deleted" (needs the '
                        "tenant's directory connection)")
    json_flag(p)


def cmd_devices(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    devices = pages(
        routes_devices.list_devices, tenant_id=tenant_id, services=s, retired=args.retired,
        compliance_state=_value(args.compliance_state, "--compliance-state"),
        operating_system=_value(args.operating_system, "--operating-system"),
        user_deleted=args.user_deleted,
    )
    if args.json:
        print_items(devices)
        return 0
    table = Table(Column("ID", 36), Column("NAME", 22), Column("SERIAL", 16),
                  Column("OS", 10), Column("PRIMARY USER", 30), Column("STATE", 0))
    for d in devices:
        state = f"retired {when(d.retiredAt)}" if d.retired else (d.complianceState or "")
        table.row(d.id, d.name, d.serialNumber or "-", d.operatingSystem or "",
                  d.userUpn or "-", state)
    print(plural(table.rows, "device", "devices"))
    return 0


def _value(value: str | None, flag: str) -> str | None:
    return None if value is None else str(checked(FilterValue, value, flag))


def _software_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--managed", action="store_true",
                   help="the apps Intune manages (mobile apps) instead of the detected ones")
    p.add_argument("--removed", action=argparse.BooleanOptionalAction, default=None,
                   help="only apps gone from Intune (--no-removed: only current ones)")
    json_flag(p)


def cmd_software(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    if args.managed:
        managed = pages(routes_software.list_managed_apps, tenant_id=tenant_id, services=s,
                        removed=args.removed)
        if args.json:
            print_items(managed)
            return 0
        table = Table(Column("ID", 36), Column("NAME", 36), Column("TYPE", 28),
                      Column("PUBLISHER", 0))
        for m in managed:
            table.row(m.id, m.name + (" (removed)" if m.removed else ""), m.type,
                      m.publisher or "")
        print(plural(table.rows, "managed app", "managed apps"))
        return 0
    detected = pages(routes_software.list_detected_apps, tenant_id=tenant_id, services=s,
                     removed=args.removed)
    if args.json:
        print_items(detected)
        return 0
    table = Table(Column("NAME", 36), Column("VERSION", 16), Column("PUBLISHER", 24),
                  Column("DEVICES", 0))
    for a in detected:
        table.row(a.name + (" (removed)" if a.removed else ""), a.version or "",
                  a.publisher or "", a.deviceCount or 0)
    print(plural(table.rows, "detected app", "detected apps"))
    return 0


COMMANDS = (
    Command(("devices",), "a tenant's managed devices; filters combine", _devices_options,
            cmd_devices, ("list_devices",)),
    Command(("software",), "a tenant's detected apps with device counts (--managed: the "
            "apps Intune manages)", _software_options, cmd_software,
            ("list_detected_apps", "list_managed_apps")),
)
