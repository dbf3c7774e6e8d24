"""devices, device and software: what a tenant's device sync stored (the API's
list_devices, get_device, list_app_devices, list_detected_apps and list_managed_apps)."""

from __future__ import annotations

import argparse

from functions.api import routes_devices, routes_software
from functions.api.models import AppId, FilterValue, Guid, Prefix
from functions.cli.inputs import checked
from functions.cli.output import Column, Table, pages, plural, print_items, when
from functions.cli.registry import Command, json_flag, printed_json, tenant_flag
from functions.core.errors import ErrorCode, InputError
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
    app = p.add_mutually_exclusive_group()
    app.add_argument("--app-id", metavar="APP_ID",
                     help="only devices this detected app (one version of it) is on now")
    app.add_argument("--app-name", metavar="PREFIX",
                     help="only devices with a detected app whose name starts so (any case)")
    p.add_argument("--app-version", metavar="VERSION", help="with --app-name: this version")
    json_flag(p)


def cmd_devices(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    if args.app_version is not None and args.app_name is None:
        raise InputError("--app-version needs --app-name: the version of which app?",
                         code=ErrorCode.INVALID_FILTER)
    if args.app_id is not None:
        devices = pages(routes_software.list_app_devices, tenant_id=tenant_id, services=s,
                        app_id=checked(AppId, args.app_id, "--app-id"))
    else:
        devices = pages(
            routes_devices.list_devices, tenant_id=tenant_id, services=s, retired=args.retired,
            compliance_state=_value(args.compliance_state, "--compliance-state"),
            operating_system=_value(args.operating_system, "--operating-system"),
            user_deleted=args.user_deleted,
            app_name=(checked(Prefix, args.app_name, "--app-name")
                      if args.app_name is not None else None),
            app_version=_value(args.app_version, "--app-version"),
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


def _device_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--device-id", required=True, metavar="DEVICE_ID",
                   help="the device's Intune ID (devices lists them)")
    json_flag(p)


def cmd_device(s: Services, args: argparse.Namespace) -> int:
    """One device: its hardware, then its software (apps on it now, then ended ones)."""
    device = routes_devices.get_device(
        tenant_id=checked(Guid, args.tenant_id, "--tenant-id"),
        device_id=checked(Guid, args.device_id, "--device-id"), services=s)
    if printed_json(args, device):
        return 0
    memory, storage = device.physicalMemoryBytes, device.totalStorageBytes
    print(f"{device.name}  ({device.id})")
    for label, value in (
        ("serial number", device.serialNumber), ("manufacturer", device.manufacturer),
        ("model", device.model), ("operating system", device.operatingSystem),
        ("OS version", device.osVersion),
        ("memory", f"{memory / 2**30:.0f} GiB" if memory else None),
        ("storage", f"{(device.freeStorageBytes or 0) / 1e9:.0f} of {storage / 1e9:.0f} GB "
                    "free" if storage else None),
        ("Wi-Fi MAC", device.wifiMac), ("Ethernet MAC", device.ethernetMac),
        ("encrypted", device.isEncrypted), ("TPM", device.tpmVersion),
        ("processor", device.processorArchitecture), ("BIOS", device.biosVersion),
        ("UDID", device.udid), ("ICCID", device.iccid), ("IMEI", device.imei),
        ("enrolment profile", device.enrollmentProfile),
        ("primary user", device.userUpn), ("last check-in", when(device.lastSyncAt)),
    ):
        if value not in (None, ""):
            print(f"  {label:<18} {value}")
    current = [a for a in device.software if not a.removed]
    print(f"  software ({plural(len(current), 'app', 'apps')}):")
    for app in device.software:
        note = f"removed {when(app.removedAt)}" if app.removed else (app.publisher or "")
        print(f"    {app.name or app.appId:<36} {app.version or '':<16} {note}".rstrip())
    return 0


def _software_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--managed", action="store_true",
                   help="the apps Intune manages (mobile apps) instead of the detected ones")
    p.add_argument("--removed", action=argparse.BooleanOptionalAction, default=None,
                   help="only apps gone from Intune (--no-removed: only current ones)")
    json_flag(p)


def cmd_software(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    route = (routes_software.list_managed_apps if args.managed
             else routes_software.list_detected_apps)
    apps = pages(route, tenant_id=tenant_id, services=s, removed=args.removed)
    if args.json:
        print_items(apps)
        return 0
    if args.managed:
        table = Table(Column("ID", 36), Column("NAME", 36), Column("TYPE", 28),
                      Column("PUBLISHER", 0))
        for m in apps:
            table.row(m.id, m.name + (" (removed)" if m.removed else ""), m.type,
                      m.publisher or "")
        print(plural(table.rows, "managed app", "managed apps"))
        return 0
    table = Table(Column("NAME", 36), Column("VERSION", 16), Column("PUBLISHER", 24),
                  Column("DEVICES", 0))
    for a in apps:
        table.row(a.name + (" (removed)" if a.removed else ""), a.version or "",
                  a.publisher or "", a.deviceCount or 0)
    print(plural(table.rows, "detected app", "detected apps"))
    return 0


COMMANDS = (
    Command(("devices",), "a tenant's managed devices; filters combine (--app-id: the devices "
            "one detected app is on)", _devices_options, cmd_devices,
            ("list_devices", "list_app_devices")),
    Command(("device",), "one device with its hardware and its software", _device_options,
            cmd_device, ("get_device",)),
    Command(("software",), "a tenant's detected apps with device counts (--managed: the "
            "apps Intune manages)", _software_options, cmd_software,
            ("list_detected_apps", "list_managed_apps")),
)
