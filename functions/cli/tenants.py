"""tenant add | list | show | update | remove: the API's /tenants operations."""

from __future__ import annotations

import argparse

from fastapi import Response

from functions.api import routes_tenants
from functions.api.models import Guid, Tenant, TenantCreate, TenantUpdate, run_out, tenant_out
from functions.cli.inputs import add_credential_options, body, checked, credential_fields, expiry
from functions.cli.output import (
    Column,
    Table,
    pages,
    plural,
    print_items,
    print_line,
    print_record,
    when,
)
from functions.cli.registry import Command, enable_flags, json_flag, printed_json, tenant_flag
from functions.cli.run_text import describe_run
from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.errors import InputError
from functions.core.model import Health, RunStatus, SyncKind, Trigger
from functions.services import Services

_FIELDS = ("credentialType", "clientSecret", "certificate")


def _add_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--client-id", required=True, help="application (client) ID of the app")
    p.add_argument("--group-id", required=True, help="object ID of the level-0 group")
    p.add_argument("--scope", default=DEFAULT_GRAPH_SCOPE, help="OAuth scope for Graph")
    add_credential_options(p)
    json_flag(p)


def cmd_tenant_add(s: Services, args: argparse.Namespace) -> int:
    for flag in ("--tenant-id", "--client-id", "--group-id"):  # before asking for the secret
        checked(Guid, getattr(args, flag[2:].replace("-", "_")), flag)
    create = body(TenantCreate, {
        "tenantId": ("--tenant-id", args.tenant_id), "clientId": ("--client-id", args.client_id),
        "groupId": ("--group-id", args.group_id), "scope": ("--scope", args.scope),
        "secretExpiresOn": ("--secret-expires", expiry(args)),
    } | credential_fields(args, _FIELDS, creating=True))
    tenant = routes_tenants.create_tenant(body=create, response=Response(), services=s)
    if args.json:
        print_record(tenant)
    else:
        print(f"onboarded tenant {tenant.tenantId}: level-0 group {tenant.displayName!r} "
              f"({create.groupId}); {_signs_in(create.credentialType)}")
    return 0


def _signs_in(credential_type: str) -> str:
    if credential_type == "federated":
        return "its app signs in with the function app's managed identity (nothing kept)"
    return f"its {credential_type} is in Key Vault"


def _list_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--health", choices=[h.value for h in Health],
                   help="only tenants whose directory or device sync is in this state")
    json_flag(p)


def cmd_tenant_list(s: Services, args: argparse.Namespace) -> int:
    tenants = pages(routes_tenants.list_tenants, services=s,
                    health=Health(args.health) if args.health else None)
    if args.json:
        print_items(tenants)
        return 0
    table = Table(Column("TENANT", 36), Column("NAME", 24), Column("STATE", 8),
                  Column("DIRECTORY", 18), Column("DEVICES", 0))
    problems: list[str] = []
    for t in tenants:
        side = t.devices
        table.row(t.tenantId, t.displayName or (side.organization if side else ""),
                  "enabled" if t.enabled else "disabled",
                  t.health.value if t.directory else "-", side.health.value if side else "-")
        # Each side's problem in the same words: its health, its code, its message.
        if t.directory and t.lastErrorCode:
            problems.append(_problem(t, "directory", t.lastErrorCode, t.lastError))
        if side and side.lastErrorCode:
            problems.append(_problem(t, "devices", side.lastErrorCode, side.lastError))
    for line in problems:
        print(line)
    print(plural(table.rows, "tenant", "tenants"))
    return 0


def _problem(t: Tenant, side: str, code: str, message: str | None) -> str:
    return f"{t.tenantId} {side}: {code}: {message or ''}".rstrip()


def cmd_tenant_show(s: Services, args: argparse.Namespace) -> int:
    tenant = routes_tenants.get_tenant(tenant_id=checked(Guid, args.tenant_id, "--tenant-id"),
                                       services=s)
    if printed_json(args, tenant):
        return 0
    print(f"tenant {tenant.tenantId}: {tenant.displayName or '(no name yet)'} "
          f"({'enabled' if tenant.enabled else 'disabled'}), since {when(tenant.createdAt)}")
    if tenant.directory is not None:
        d = tenant.directory
        print(f"  directory: app {d.clientId}, level-0 group {d.groupId}, scope {d.scope}")
        print(f"    health {tenant.health.value} since {when(tenant.healthSince)}; secret "
              f"expires {when(tenant.secretExpiresOn) or 'unknown'}")
        if tenant.lastErrorCode:
            print(f"    {tenant.lastErrorCode}: {tenant.lastError}")
    if tenant.devices is not None:
        v = tenant.devices
        state = ("excluded" if v.excluded else "active" if v.active else "inactive")
        print(f"  devices: through partner {v.partnerTenantId} ({state}); organization "
              f"{v.organization or '-'}, domain {v.defaultDomain or '-'}")
        print(f"    health {v.health.value} since {when(v.healthSince)}")
        if v.lastErrorCode:
            print(f"    {v.lastErrorCode}: {v.lastError}")
    return 0


def _update_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--client-id", help="a new application (client) ID")
    p.add_argument("--group-id", help="a new level-0 group object ID (a tenant that awaits "
                   "one, consented without a group: its first sync runs at once)")
    p.add_argument("--scope", help="a new OAuth scope")
    add_credential_options(p)
    enable_flags(p, "include the tenant in scheduled syncs again",
                 "leave the tenant out of scheduled syncs")
    json_flag(p)


def cmd_tenant_update(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    changes = credential_fields(args, _FIELDS, creating=False) | {
        "clientId": ("--client-id", args.client_id), "groupId": ("--group-id", args.group_id),
        "scope": ("--scope", args.scope), "enabled": ("--enable/--disable", args.enabled),
        "secretExpiresOn": ("--secret-expires", expiry(args)),
    }
    if all(value is None for _, value in changes.values()):
        raise InputError("name something to change: --client-id, --group-id, --scope, "
                         "--credential, --secret-env/--secret-stdin, --certificate-file, "
                         "--enable or --disable", code="invalid_request")
    if changes["secretExpiresOn"][1] is not None and changes["clientSecret"][1] is None:
        raise InputError("--secret-expires is the expiry of a new secret: give the secret too "
                         "(--secret-env NAME or --secret-stdin)", code="secret_required")
    update = body(TenantUpdate, changes)
    record, first_sync = routes_tenants.apply_tenant_update(s, tenant_id, update)
    tenant = tenant_out(record)
    if args.json:
        (print_line if first_sync else print_record)(tenant)
    else:
        done = [n for n, (_, v) in changes.items() if v is not None and n != "secretExpiresOn"]
        new_credential = {"clientSecret", "certificate"} & set(done)
        print(f"tenant {tenant.tenantId} updated ({', '.join(done)}); "
              f"{'enabled' if tenant.enabled else 'disabled'}"
              + ("; the new credential is used from the next token request"
                 if new_credential else ""))
    if not first_sync:
        return 0
    # The group it awaited is chosen: its first sync starts at once, as the API's PATCH
    # starts it, and runs here.
    if not args.json:
        print("its level-0 group is chosen: running its first directory sync now", flush=True)
    run = s.runner.run_one(SyncKind.DIRECTORY, tenant_id, Trigger.CLI)
    if args.json:
        print_line(run_out(run))
    else:
        print(describe_run(run))
    return 0 if run.status == RunStatus.SUCCEEDED else 1


def _remove_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--purge", action="store_true",
                   help="also hard-delete its synced users, groups, devices, software and runs")
    p.add_argument("--revoke-consent", action="store_true",
                   help="also remove in the customer's tenant what tenantsync consented there "
                        "from the partner's side (as its consent audit says), nothing else")


def cmd_tenant_remove(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    routes_tenants.delete_tenant(tenant_id=tenant_id, services=s, purge=args.purge,
                                 revoke_consent=args.revoke_consent)
    print(f"removed tenant {tenant_id} and its secret" + (
        " and purged its synced data" if args.purge else
        "; its synced data stays (--purge deletes it)"))
    if args.revoke_consent:
        print("removed in the customer's tenant what tenantsync had consented there, if "
              "anything, and nothing else (`tenantsync partner consents` lists each removal)")
    return 0


def _show_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    json_flag(p)


COMMANDS = (
    Command(("tenant", "add"), "onboard a tenant's directory connection (tested first)",
            _add_options, cmd_tenant_add, ("create_tenant",)),
    Command(("tenant", "list"), "tenants with the health of each side", _list_options,
            cmd_tenant_list, ("list_tenants",)),
    Command(("tenant", "show"), "one tenant: connections, health, last errors", _show_options,
            cmd_tenant_show, ("get_tenant",)),
    Command(("tenant", "update"),
            "rotate the secret or certificate, switch the credential, change app, group or "
            "scope (tested first), enable or disable",
            _update_options, cmd_tenant_update, ("update_tenant",)),
    Command(("tenant", "remove"), "remove a tenant's configuration and secret",
            _remove_options, cmd_tenant_remove, ("delete_tenant",)),
)
