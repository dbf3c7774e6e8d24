"""consent link | show | complete, partner consent-links, tenant groups: one-click onboarding,
the API's /consents, /consent/callback, /partners/{id}/consent-links and
/tenants/{id}/directory/groups operations."""

from __future__ import annotations

import argparse

from fastapi import Response

from functions.api import routes_consent
from functions.api.models import ConsentCreate, Guid, Prefix
from functions.cli.inputs import body, checked, partner_id_of
from functions.cli.output import Column, Table, pages, plural, print_items, print_record, when
from functions.cli.registry import Command, json_flag, partner_json_flags, printed_json, tenant_flag
from functions.core.errors import InputError
from functions.core.kinds import KINDS
from functions.services import Services


def _link_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=KINDS.names(), required=True,
                   help="directory (group members) or devices (Intune devices and software)")
    p.add_argument("--tenant-id", metavar="TENANT_ID",
                   help="only this tenant's admin may use it (else any tenant's)")
    p.add_argument("--group-id", metavar="GROUP_ID",
                   help="directory: the level-0 group (else chosen by name after consent)")
    p.add_argument("--partner-tenant-id", metavar="TENANT_ID",
                   help="devices: the partner connection whose inventory app is consented to")
    json_flag(p)


def cmd_consent_link(s: Services, args: argparse.Namespace) -> int:
    create = body(ConsentCreate, {
        "kind": ("--kind", args.kind), "tenantId": ("--tenant-id", args.tenant_id),
        "groupId": ("--group-id", args.group_id),
        "partnerTenantId": ("--partner-tenant-id", args.partner_tenant_id),
    })
    link = routes_consent.create_consent(body=create, response=Response(), services=s)
    if printed_json(args, link):
        return 0
    who = f"tenant {link.tenantId}" if link.tenantId else "any tenant"
    print(f"admin-consent link for a {link.kind} connection ({who}), valid until "
          f"{when(link.expiresAt)}; give it to the tenant's administrator:")
    print(link.url)
    return 0


def _show_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--consent-id", required=True, help="the link's consentId")
    json_flag(p)


def cmd_consent_show(s: Services, args: argparse.Namespace) -> int:
    consent = routes_consent.get_consent(consent_id=args.consent_id, services=s)
    if printed_json(args, consent):
        return 0
    print(f"{consent.consentId}: {consent.kind} link, {consent.status}, valid until "
          f"{when(consent.expiresAt)}")
    if consent.consentedTenantId:
        print(f"  consented by tenant {consent.consentedTenantId} at {when(consent.usedAt)}; "
              f"first run {consent.runId or '(awaiting its level-0 group)'}")
    return 0


def _complete_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redirect-url", required=True, metavar="URL",
                   help="the address Entra sent the admin's browser to after consenting "
                        "(.../api/consent/callback?admin_consent=True&tenant=...&state=...), "
                        "copied from the address bar when that page could not be reached")
    json_flag(p)


def _callback_query(url: str) -> str:
    """The query string of the address Entra redirected to (or the query string itself).

    Raises:
        InputError: ``invalid_request``: no query (the value is never repeated).
    """
    query = url.strip().split("#", 1)[0]
    query = query.split("?", 1)[1] if "?" in query else query
    if "=" not in query or "://" in query:
        raise InputError("--redirect-url is the whole address the admin's browser was sent to "
                         "after consenting: it ends in /api/consent/callback?... with the "
                         "consent's parameters", code="invalid_request")
    return query


def cmd_consent_complete(s: Services, args: argparse.Namespace) -> int:
    """What the callback does with Entra's redirect, for an address copied from a browser
    that could not reach it: the same checks, the same connection test, the same first
    sync (queued, as the callback queues it)."""
    result = s.consent.complete(_callback_query(args.redirect_url))
    consent = routes_consent.get_consent(consent_id=result.consent_id, services=s)
    if args.json:
        print_record(consent)  # the callback answers a page; this is the record it settled
        return 0
    name = result.tenant_name or "the tenant"
    print(f"connected {name} (tenant {result.tenant_id}) for {result.kind}")
    if result.awaiting_group:
        print(f"  it awaits its level-0 group: tenantsync tenant groups --tenant-id "
              f"{result.tenant_id}, then tenant update --tenant-id {result.tenant_id} "
              "--group-id GROUP (which runs its first sync)")
    else:
        print(f"  its first sync, run {result.run_id}, is queued (the queue function runs it; "
              "here: tenantsync worker)")
    return 0


_partner_options = partner_json_flags


def cmd_partner_consent_links(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    listed = routes_consent.partner_consent_links(partner_id=partner_id, services=s)
    if printed_json(args, listed):
        return 0
    print("customers by device health: " + (", ".join(
        f"{health} {count}" for health, count in sorted(listed.progress.items())) or "none"))
    for customer in listed.items:
        if customer.url:
            print(f"{customer.tenantId}  {customer.name[:24]:<24} {customer.health.value}")
            print(f"  {customer.url}")
    return 0


def _groups_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--name-prefix", metavar="TEXT", help="only groups whose name starts so")
    json_flag(p)


def cmd_tenant_groups(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    prefix = checked(Prefix, args.name_prefix, "--name-prefix") if args.name_prefix else None
    groups = pages(routes_consent.list_security_groups, tenant_id=tenant_id, services=s,
                   name_prefix=prefix)
    if args.json:
        print_items(groups)
        return 0
    table = Table(Column("GROUP", 36), Column("NAME", 0))
    for group in groups:
        table.row(group.id, group.displayName)
    print(f"{plural(table.rows, 'group', 'groups')}; choose one with tenantsync tenant update "
          f"--tenant-id {tenant_id} --group-id GROUP")
    return 0


COMMANDS = (
    Command(("consent", "link"), "an admin-consent link for a tenant's administrator",
            _link_options, cmd_consent_link, ("create_consent",)),
    Command(("consent", "show"), "what became of a consent link", _show_options,
            cmd_consent_show, ("get_consent",)),
    Command(("consent", "complete"), "connect a tenant from the address Entra redirected its "
            "admin to, as the callback does", _complete_options, cmd_consent_complete,
            ("consent_callback",)),
    Command(("partner", "consent-links"),
            "a partner's customers by health, with a consent link for each that needs one",
            _partner_options, cmd_partner_consent_links, ("partner_consent_links",)),
    Command(("tenant", "groups"), "a tenant's security groups, to choose its level-0 group",
            _groups_options, cmd_tenant_groups, ("list_security_groups",)),
)
