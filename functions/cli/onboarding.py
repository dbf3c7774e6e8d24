"""Commands for one-click onboarding: admin-consent links (a tenant's, a partner's customers'),
and choosing the level-0 group of a tenant that was consented without one."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime

from functions.cli.output import iso, print_json
from functions.clients.graph import RequestStats
from functions.core.errors import InputError
from functions.core.model import SyncKind, SyncState
from functions.onboarding.groups import security_groups
from functions.services import Services


def cmd_consent_link(s: Services, args: argparse.Namespace) -> int:
    link = s.consent.create(args.kind, tenant_id=args.tenant_id, group_id=args.group_id,
                            partner_tenant_id=args.partner_tenant_id)
    c = link.consent
    if args.json:
        print_json({"consentId": c.consent_id, "kind": c.kind, "url": link.url,
                    "expiresAt": iso(c.expires_at)})
        return 0
    print(f"admin-consent link for a {c.kind} connection "
          f"({'tenant ' + c.tenant_id if c.tenant_id else 'any tenant'}), valid until "
          f"{iso(c.expires_at)}; give it to the tenant's administrator:")
    print(link.url)
    return 0


def cmd_partner_consent_links(s: Services, args: argparse.Namespace) -> int:
    listed = s.consent.partner_links(args.partner_tenant_id)
    progress = Counter(t.device_state.health.value for t, _ in listed)
    if args.json:
        print_json({"partnerTenantId": args.partner_tenant_id, "progress": dict(progress),
                    "items": [{"tenantId": t.tenant_id,
                               "name": t.organization or t.display_name,
                               "health": t.device_state.health.value,
                               "url": link.url if link else None} for t, link in listed]})
        return 0
    print("customers by device health: " + (", ".join(
        f"{health} {count}" for health, count in sorted(progress.items())) or "none"))
    for tenant, link in listed:
        if link is not None:
            print(f"{tenant.tenant_id}  {(tenant.organization or tenant.display_name)[:24]:<24} "
                  f"{tenant.device_state.health.value}")
            print(f"  {link.url}")
    return 0


def cmd_tenant_groups(s: Services, args: argparse.Namespace) -> int:
    tenant = s.tenants.get(args.tenant_id)
    conn = tenant.directory
    if conn is None:
        raise InputError(f"tenant {tenant.tenant_id} has no directory connection",
                         code="not_configured")
    graph = s.graphs.for_app(tenant.tenant_id, conn.client_id, conn.credential, conn.scope,
                             kind=SyncKind.DIRECTORY, state=SyncState(), stats=RequestStats(),
                             now=datetime.now(UTC))
    token: str | None = None
    rows = []
    while True:
        groups, token = security_groups(graph, tenant.tenant_id, name_prefix=args.name_prefix,
                                        page_size=999, continuation=token)
        rows.extend(groups)
        if not token:
            break
    if args.json:
        print_json([{"id": g.id, "displayName": g.name, "description": g.description}
                    for g in rows])
        return 0
    for g in rows:
        print(f"{g.id}  {g.name}")
    return 0


def cmd_tenant_set_group(s: Services, args: argparse.Namespace) -> int:
    tenant = s.onboarding.update_directory_tenant(args.tenant_id, group_id=args.group_id)
    print(f"tenant {tenant.tenant_id}: level-0 group {tenant.display_name!r}; sync it with "
          f"tenantsync sync directory --tenant-id {tenant.tenant_id}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                tenant: argparse._SubParsersAction[argparse.ArgumentParser],
                partner: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The onboarding commands: ``consent link``, ``partner consent-links``,
    ``tenant groups`` and ``tenant set-group``."""
    consent = sub.add_parser("consent", help="admin-consent links (one-click onboarding)")
    csub = consent.add_subparsers(dest="command", required=True)
    link = csub.add_parser("link", help="an admin-consent link to the deployment's app")
    link.add_argument("--kind", choices=["directory", "devices"], required=True)
    link.add_argument("--tenant-id", help="only this tenant's admin may use it")
    link.add_argument("--group-id", help="directory: the level-0 group (else chosen later)")
    link.add_argument("--partner-tenant-id", help="devices: a partner's inventory app")
    link.add_argument("--json", action="store_true")
    link.set_defaults(func=cmd_consent_link)
    links = partner.add_parser("consent-links",
                               help="a consent link for each customer that needs one")
    links.add_argument("--partner-tenant-id", required=True)
    links.add_argument("--json", action="store_true")
    links.set_defaults(func=cmd_partner_consent_links)
    groups = tenant.add_parser("groups", help="a tenant's security groups, to choose one")
    groups.add_argument("--tenant-id", required=True)
    groups.add_argument("--name-prefix", help="only groups whose name starts with this")
    groups.add_argument("--json", action="store_true")
    groups.set_defaults(func=cmd_tenant_groups)
    choose = tenant.add_parser("set-group", help="choose the level-0 group (tested first)")
    choose.add_argument("--tenant-id", required=True)
    choose.add_argument("--group-id", required=True)
    choose.set_defaults(func=cmd_tenant_set_group)
