"""partner add | list | show | update | discover | remove: the API's /partners operations.

Saving a connection and discovering customers do what the API does; the first device syncs
of new customers then run here, with progress, instead of on the queue.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from functions.api import routes_partners
from functions.api.models import (
    DiscoveryOut,
    Guid,
    PartnerCreate,
    PartnerSaved,
    PartnerUpdate,
    Problem,
    discovery_out,
    partner_out,
)
from functions.api.models.gdap import PartnerAdded
from functions.api.routes_partner_consent import partner_added
from functions.api.syncs import job_started, sync_started
from functions.cli.inputs import (
    add_credential_options,
    body,
    checked,
    credential_fields,
    expiry,
    one_stdin_secret,
    partner_id_of,
)
from functions.cli.output import Column, Table, pages, plural, print_items, print_line
from functions.cli.progress import machine_output
from functions.cli.registry import (
    Command,
    json_flag,
    partner_flag,
    partner_json_flags,
    printed_json,
)
from functions.cli.syncs import run_batch
from functions.core.errors import InputError, SecretStoreError, TenantError
from functions.core.model import CUSTOMER_SOURCES, PartnerConnection, SyncKind, Trigger
from functions.partners import Discovery
from functions.services import Services

_PARTNER = "partner-"
_INVENTORY = "inventory-"


def _app_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--partner-client-id", required=required,
                   help="client ID of the partner app (lists customers)")
    add_credential_options(p, _PARTNER, "partner")
    p.add_argument("--inventory-client-id", required=required,
                   help="client ID of the multitenant inventory app (reads each customer)")
    add_credential_options(p, _INVENTORY, "inventory")


def _add_options(p: argparse.ArgumentParser) -> None:
    partner_flag(p)
    _app_options(p, required=True)
    p.add_argument("--source", choices=CUSTOMER_SOURCES, required=True,
                   help="where customers come from: GDAP, Partner Center or --customer")
    p.add_argument("--customer", action="append", metavar="TENANT_ID",
                   help="a customer tenant (source list); repeat")
    p.add_argument("--include-partner-tenant", action="store_true",
                   help="sync the partner's own tenant's devices too")
    p.add_argument("--exclude", action="append", metavar="TENANT_ID",
                   help="a customer tenant never to query; repeat")
    json_flag(p)


def _app_credential(args: argparse.Namespace, prefix: str, app: str, *,
                    creating: bool) -> dict[str, tuple[str, Any]]:
    """The body's fields of one app's credential (``partnerCredentialType``...)."""
    fields = (f"{app}CredentialType", f"{app}ClientSecret", f"{app}Certificate")
    return credential_fields(args, fields, prefix=prefix, creating=creating,
                             what=f"{app} app's client secret")


def cmd_partner_add(s: Services, args: argparse.Namespace) -> int:
    for flag in ("--partner-tenant-id", "--partner-client-id", "--inventory-client-id"):
        checked(Guid, getattr(args, flag[2:].replace("-", "_")), flag)  # before any prompt
    one_stdin_secret(args, _PARTNER, _INVENTORY)
    create = body(PartnerCreate, {
        "partnerTenantId": ("--partner-tenant-id", args.partner_tenant_id),
        **_connection_fields(args, creating=True),
        "excluded": ("--exclude", args.exclude),
    })
    partner = routes_partners.save_new_partner(s, create)
    return _discover_and_sync(s, args, partner, added=True)


def _discover_and_sync(s: Services, args: argparse.Namespace,
                       saved: PartnerConnection | None, partner_id: str = "", *,
                       added: bool = False) -> int:
    """Discover the partner's customers, print what the API would answer (the saved
    connection with its discovery, or the discovery; once ``added``, its GDAP access),
    then sync the new customers here."""
    machine = machine_output(args.json)
    pid = saved.partner_tenant_id if saved is not None else partner_id
    if saved is not None and not machine:
        print(f"saved partner connection {pid} (customers from {saved.source}); both apps "
              "passed their connection test; discovering customers")
    try:
        discovery = s.partners.discover(pid)
    except (TenantError, SecretStoreError) as exc:
        if saved is not None and machine:
            print_line(_saved(saved, None, Problem(code=exc.code, message=exc.message)))
        raise  # one line on stderr: the connection is saved, its discovery failed
    batch = s.runner.start_many(SyncKind.DEVICES, discovery.new, Trigger.CLI)
    found = discovery_out(discovery, [job_started(j) for j in batch.jobs]
                          + [sync_started(r) for r in batch.active])
    if machine:
        print_line(found if saved is None else _saved(saved, found, None, s if added else None))
    else:
        _print_discovery(discovery)
        if saved is not None and added:
            _print_access(_saved(saved, found, None, s))
    return run_batch(s, SyncKind.DEVICES, batch, args.json)


def _saved(partner: PartnerConnection, discovery: DiscoveryOut | None,
           problem: Problem | None, added_to: Services | None = None) -> PartnerSaved:
    saved = PartnerSaved(**partner_out(partner).model_dump(), discovery=discovery,
                         discoveryError=problem)
    return partner_added(added_to, saved) if added_to is not None else saved


def _print_access(saved: PartnerSaved) -> None:
    """What `partner gdap-access` says, in short: where the partner's side may consent."""
    if not isinstance(saved, PartnerAdded):
        return
    if saved.gdapAccessError is not None:
        print(f"GDAP access could not be read: {saved.gdapAccessError.message}")
        return
    if saved.gdapAccess is None:
        return
    blocked = [a for a in saved.gdapAccess if not a.mayConsent]
    print(f"GDAP access: the partner's side may consent in "
          f"{len(saved.gdapAccess) - len(blocked)} of {len(saved.gdapAccess)} customers")
    for a in blocked:
        print(f"  {a.tenantId} {a.name}: missing {a.missing}")


def _print_discovery(d: Discovery) -> None:
    print(f"partner {d.partner_tenant_id}: {len(d.found)} customers found, {len(d.new)} new, "
          f"{len(d.reactivated)} reactivated, {len(d.inactive)} now inactive, "
          f"{len(d.excluded)} excluded, {len(d.unsupported)} unsupported")
    if d.new:
        print(f"syncing the devices of the {len(d.new)} new customers now", flush=True)


def cmd_partner_list(s: Services, args: argparse.Namespace) -> int:
    partners = pages(routes_partners.list_partners, services=s)
    if args.json:
        print_items(partners)
        return 0
    customers = Counter(t.devices.partner_tenant_id for t in s.tenants.list()
                        if t.devices is not None and t.devices.active)
    table = Table(Column("PARTNER", 36), Column("SOURCE", 14), Column("PARTNER APP", 36),
                  Column("INVENTORY APP", 36), Column("CUSTOMERS", 9), Column("EXCLUDED", 0))
    for p in partners:
        table.row(p.partnerTenantId, p.source, p.partnerClientId, p.inventoryClientId,
                  customers.get(p.partnerTenantId, 0), len(p.excluded))
    print(plural(table.rows, "partner connection", "partner connections"))
    return 0


_show_options = partner_json_flags


def cmd_partner_show(s: Services, args: argparse.Namespace) -> int:
    pid = partner_id_of(args)
    partner = routes_partners.get_partner(partner_id=pid, services=s)
    if printed_json(args, partner):
        return 0
    print(f"partner {partner.partnerTenantId}: customers from {partner.source}"
          + (" (and its own tenant)" if partner.includePartnerTenant else ""))
    print(f"  partner app {partner.partnerClientId}; inventory app {partner.inventoryClientId}")
    if partner.customers:
        print(f"  typed customers: {', '.join(partner.customers)}")
    print(f"  excluded: {', '.join(partner.excluded) or 'none'}")
    table = Table(Column("  CUSTOMER", 38), Column("NAME", 24), Column("STATE", 9),
                  Column("HEALTH", 0))
    for t in s.partners.customers_of(pid):
        assert t.devices is not None
        state = ("excluded" if t.devices.excluded else
                 "active" if t.devices.active else "inactive")
        table.row(f"  {t.tenant_id}", t.display_name or t.organization, state,
                  t.device_state.health.value)
    return 0


def _update_options(p: argparse.ArgumentParser) -> None:
    partner_flag(p)
    _app_options(p, required=False)
    p.add_argument("--source", choices=CUSTOMER_SOURCES, help="where customers come from")
    p.add_argument("--customer", action="append", metavar="TENANT_ID",
                   help="the typed customer list (source list): replaces it; repeat")
    p.add_argument("--include-partner-tenant", action=argparse.BooleanOptionalAction,
                   default=None, help="sync the partner's own tenant's devices too (or not)")
    p.add_argument("--exclude", action="append", metavar="TENANT_ID", default=[],
                   help="exclude this customer from now on; repeat")
    p.add_argument("--unexclude", action="append", metavar="TENANT_ID", default=[],
                   help="stop excluding this customer; repeat")
    json_flag(p)


def _connection_fields(args: argparse.Namespace, *, creating: bool) -> dict[str, tuple[str, Any]]:
    """The API fields of both apps and of the customers' source, from their flags."""
    return {
        "partnerClientId": ("--partner-client-id", args.partner_client_id),
        **_app_credential(args, _PARTNER, "partner", creating=creating),
        "partnerSecretExpiresOn": ("--partner-secret-expires", expiry(args, _PARTNER)),
        "inventoryClientId": ("--inventory-client-id", args.inventory_client_id),
        **_app_credential(args, _INVENTORY, "inventory", creating=creating),
        "inventorySecretExpiresOn": ("--inventory-secret-expires", expiry(args, _INVENTORY)),
        "source": ("--source", args.source), "customers": ("--customer", args.customer),
        "includePartnerTenant": ("--include-partner-tenant", args.include_partner_tenant),
    }


def cmd_partner_update(s: Services, args: argparse.Namespace) -> int:
    pid = partner_id_of(args)
    one_stdin_secret(args, _PARTNER, _INVENTORY)
    changes: dict[str, tuple[str, Any]] = {
        **_connection_fields(args, creating=False),
        "excluded": ("--exclude", _excluded(s, pid, args)),
    }
    if all(value is None for _, value in changes.values()):
        raise InputError("name something to change: an app's client ID, credential, secret or "
                         "certificate file, --source, --customer, --include-partner-tenant, "
                         "--exclude or --unexclude",
                         code="invalid_request")
    for app in ("partner", "inventory"):
        if (changes[f"{app}SecretExpiresOn"][1] is not None
                and changes[f"{app}ClientSecret"][1] is None):
            raise InputError(f"--{app}-secret-expires is the expiry of a new {app} app secret: "
                             f"give the secret too (--{app}-secret-env NAME or "
                             f"--{app}-secret-stdin)", code="secret_required")
    partner = routes_partners.apply_partner_update(s, pid, body(PartnerUpdate, changes))
    return _discover_and_sync(s, args, partner)


def _excluded(s: Services, pid: str, args: argparse.Namespace) -> list[str] | None:
    """The new excluded list from --exclude and --unexclude, or None when unchanged."""
    if not args.exclude and not args.unexclude:
        return None
    add = [checked(Guid, t, "--exclude") for t in args.exclude]
    drop = {checked(Guid, t, "--unexclude") for t in args.unexclude}
    current = list(s.partner_table.get(pid).excluded)
    return [t for t in current if t not in drop] + [t for t in add if t not in current]


def cmd_partner_discover(s: Services, args: argparse.Namespace) -> int:
    pid = partner_id_of(args)
    return _discover_and_sync(s, args, None, pid)


def _remove_options(p: argparse.ArgumentParser) -> None:
    partner_flag(p)


def cmd_partner_remove(s: Services, args: argparse.Namespace) -> int:
    pid = partner_id_of(args)
    customers = [t for t in s.partners.customers_of(pid) if t.devices and t.devices.active]
    routes_partners.delete_partner(partner_id=pid, services=s)
    print(f"removed partner connection {pid} and its two secrets; its {len(customers)} active "
          "customers are now inactive (their devices and software stay)")
    return 0


COMMANDS = (
    Command(("partner", "add"), "save a partner connection (both apps tested first), "
            "discover its customers and sync the new ones", _add_options, cmd_partner_add,
            ("create_partner",)),
    Command(("partner", "list"), "partner connections", json_flag, cmd_partner_list,
            ("list_partners",)),
    Command(("partner", "show"), "one partner connection and its customers", _show_options,
            cmd_partner_show, ("get_partner",)),
    Command(("partner", "update"), "rotate either app's secret or certificate, switch its "
            "credential, change apps, source, "
            "customers or exclusions (tested first), then discover", _update_options,
            cmd_partner_update, ("update_partner",)),
    Command(("partner", "discover"), "discover customers now; new ones are synced",
            _show_options, cmd_partner_discover, ("discover_customers",)),
    Command(("partner", "remove"), "remove a partner connection; its customers become "
            "inactive", _remove_options, cmd_partner_remove, ("delete_partner",)),
)
