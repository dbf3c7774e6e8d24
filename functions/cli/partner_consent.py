"""partner sign-in | sign-in-status | sign-in-complete | auto-consent | consent | consents:
consent from the partner's side, the API's /partners/{id}/sign-in, /auto-consent, /consent,
/consents and /partners/sign-in/callback operations."""

from __future__ import annotations

import argparse
import time

from functions.api import routes_partner_consent as routes
from functions.api.models import Guid
from functions.cli.inputs import body, checked, partner_id_of
from functions.cli.output import Column, Table, print_record, when
from functions.cli.registry import (
    Command,
    json_flag,
    partner_flag,
    partner_json_flags,
    printed_json,
)
from functions.core.errors import InputError
from functions.services import Services

POLL_SECONDS = 2.0


def _sign_in_options(p: argparse.ArgumentParser) -> None:
    partner_flag(p)
    p.add_argument("--wait-seconds", type=float, default=900.0, metavar="SECONDS",
                   help="how long to wait for the sign-in to finish (0: do not wait)")
    json_flag(p)


def cmd_sign_in(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    started = routes.start_partner_sign_in(partner_id=partner_id, services=s)
    if args.json and not args.wait_seconds:
        print_record(started)
        return 0
    print("Open this address as the partner's admin agent (AdminAgents, with MFA), valid "
          f"until {when(started.expiresAt)}:", flush=True)
    print(started.url, flush=True)
    if not args.wait_seconds:
        return 0
    state = s.partner_signin.status(partner_id).pending_state
    deadline = time.monotonic() + args.wait_seconds
    while time.monotonic() < deadline:
        status = routes.get_partner_sign_in(partner_id=partner_id, services=s)
        if s.partner_signin.status(partner_id).pending_state != state:
            if args.json:
                print_record(status)
            else:
                print(f"signed in as {status.userName or status.userId}")
            return 0 if status.health == "signed_in" else 1
        time.sleep(POLL_SECONDS)
    print("tenantsync: error: the sign-in was not finished in time: run this again")
    return 1


_status_options = partner_json_flags


def cmd_sign_in_status(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    status = routes.get_partner_sign_in(partner_id=partner_id, services=s)
    if printed_json(args, status):
        return 0
    who = f" as {status.userName or status.userId}" if status.userId else ""
    print(f"{status.health}{who}" + (f" since {when(status.signedInAt)}"
                                     if status.signedInAt else ""))
    if status.lastError:
        print(f"  {status.lastError}")
    print(f"  consent after each discovery: {'on' if status.autoConsent else 'off'}")
    return 0


def _complete_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redirect-url", required=True, metavar="URL",
                   help="the whole address Entra sent the agent's browser to")
    json_flag(p)


def cmd_sign_in_complete(s: Services, args: argparse.Namespace) -> int:
    url = args.redirect_url.strip().split("#", 1)[0]
    if "?" not in url:
        raise InputError("--redirect-url is the whole address the browser was sent to after "
                         "signing in: it ends in /api/partners/sign-in/callback?...",
                         code="invalid_request")
    record = s.partner_signin.complete(url.split("?", 1)[1])
    status = routes.get_partner_sign_in(partner_id=record.partner_tenant_id, services=s)
    if args.json:
        print_record(status)  # the callback answers a page; this is the record it settled
        return 0
    print(f"signed in as {status.userName or status.userId}")
    return 0


def _auto_options(p: argparse.ArgumentParser) -> None:
    partner_flag(p)
    on_off = p.add_mutually_exclusive_group(required=True)
    on_off.add_argument("--on", action="store_true", help="consent after each discovery")
    on_off.add_argument("--off", action="store_true", help="never on its own (the default)")
    json_flag(p)


def cmd_auto_consent(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    wanted = body(routes.AutoConsent, {"autoConsent": ("--on", bool(args.on))})
    status = routes.set_partner_auto_consent(partner_id=partner_id, body=wanted, services=s)
    if printed_json(args, status):
        return 0
    print(f"consent after each discovery: {'on' if status.autoConsent else 'off'}")
    return 0


def _consent_options(p: argparse.ArgumentParser) -> None:
    partner_flag(p)
    p.add_argument("--tenant-id", metavar="TENANT_ID",
                   help="only this customer (default: each whose consent is missing)")
    json_flag(p)


def cmd_consent(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    run = body(routes.ConsentRun, {"tenantId": ("--tenant-id", args.tenant_id)})
    answers = routes.run_partner_consent(partner_id=partner_id, services=s, body=run)
    if args.json:
        print_record(answers)
    else:
        table = Table(Column("TENANT", 36), Column("NAME", 20), Column("OUTCOME", 22),
                      Column("WHAT TO DO", 0))
        for a in answers.items:
            table.row(a.tenantId, a.name, a.outcome, a.message)
        print(f"{len(answers.items)} customer(s)")
    ok = {"connected", "already_consented", "propagation_pending"}
    return 0 if all(a.outcome in ok for a in answers.items) else 1


def cmd_consents(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id") if args.tenant_id else None
    audit = routes.list_partner_consents(partner_id=partner_id, services=s,
                                         tenant_id=tenant_id)
    if printed_json(args, audit):
        return 0
    table = Table(Column("WHEN", 20), Column("TENANT", 36), Column("OUTCOME", 22),
                  Column("PERMISSIONS", 0))
    for r in audit.items:
        table.row(when(r.at), r.tenantId, r.outcome, ", ".join(r.permissions) or "-")
    print(f"{len(audit.items)} consent(s)")
    return 0


def cmd_gdap_access(s: Services, args: argparse.Namespace) -> int:
    partner_id = partner_id_of(args)
    found = routes.get_partner_gdap_access(partner_id=partner_id, services=s)
    if printed_json(args, found):
        return 0
    table = Table(Column("TENANT", 36), Column("NAME", 20), Column("RELATIONSHIP", 12),
                  Column("MAY CONSENT", 11), Column("MISSING", 0))
    for a in found.items:
        table.row(a.tenantId, a.name, a.relationship, "yes" if a.mayConsent else "no",
                  a.missing or "-")
    return 0


COMMANDS = (
    Command(("partner", "sign-in"), "sign in once as the partner's admin agent (prints the "
            "address to open, then waits)", _sign_in_options, cmd_sign_in,
            ("start_partner_sign_in",)),
    Command(("partner", "sign-in-status"), "the partner's sign-in health",
            _status_options, cmd_sign_in_status, ("get_partner_sign_in",)),
    Command(("partner", "sign-in-complete"), "finish a sign-in from the address Entra "
            "redirected to, as the callback does", _complete_options, cmd_sign_in_complete,
            ("partner_sign_in_callback",)),
    Command(("partner", "auto-consent"), "consent customers after each discovery (or not)",
            _auto_options, cmd_auto_consent, ("set_partner_auto_consent",)),
    Command(("partner", "consent"), "consent the inventory app into GDAP customers from the "
            "partner's side", _consent_options, cmd_consent, ("run_partner_consent",)),
    Command(("partner", "gdap-access"), "whether the partner's side may consent in each "
            "customer, and what is missing", _status_options, cmd_gdap_access,
            ("get_partner_gdap_access",)),
    Command(("partner", "consents"), "every consent made from the partner's side",
            _consent_options, cmd_consents, ("list_partner_consents",)),
)
