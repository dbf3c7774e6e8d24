"""The argument parser and the entry point of ``tenantsync``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from functions.cli.devices import (
    cmd_device,
    cmd_devices,
    cmd_partner_add,
    cmd_partner_discover,
    cmd_software,
    cmd_sync_devices,
)
from functions.cli.directory import (
    cmd_groups,
    cmd_runs,
    cmd_schedule,
    cmd_sync_directory,
    cmd_tenant_add,
    cmd_tenant_enable,
    cmd_tenant_list,
    cmd_tenant_set_secret,
    cmd_users,
    cmd_worker,
)
from functions.core.codes import exit_code
from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.errors import TenantSyncError
from functions.services import get_services

FULL_HELP = ("compare with every stored entity even when what was read is unchanged since "
             "the last complete sync")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenantsync",
        description="Onboard tenants, run syncs and read what they stored. Exit codes: 0 done; "
        "1 a sync did not succeed; 2 bad input or configuration.",
    )
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
    devices.add_argument("--app-id", metavar="APP_ID",
                         help="only devices this detected app is on now")
    devices.add_argument("--app-name", metavar="PREFIX",
                         help="only devices with an app whose name starts with this (any case)")
    devices.add_argument("--app-version", metavar="VERSION",
                         help="with --app-name: only that version of it")
    devices.add_argument("--json", action="store_true")
    devices.set_defaults(func=cmd_devices)
    one = sub.add_parser("device", help="one device: its hardware and software")
    one.add_argument("--tenant-id", required=True)
    one.add_argument("--device-id", required=True)
    one.add_argument("--json", action="store_true")
    one.set_defaults(func=cmd_device)
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
        return exit_code(exc.code)
