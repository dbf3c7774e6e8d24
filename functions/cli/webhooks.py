"""webhook add | list | show | update | remove | rotate-secret | deliveries | delivery |
resend: the API's /webhooks operations.

The signing secret is printed once, by ``add`` and ``rotate-secret``, exactly as the API
answers it once; nothing else ever shows it.
"""

from __future__ import annotations

import argparse
import re
from itertools import islice
from typing import Any

from fastapi import Response

from functions.api import routes_webhooks
from functions.api.models import Guid
from functions.api.models.webhooks import (
    DeliveryOut,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookUpdate,
)
from functions.cli.inputs import body, checked
from functions.cli.output import Column, Table, pages, plural, print_items, print_record, when
from functions.cli.registry import Command, enable_flags, json_flag, printed_json
from functions.core.errors import InputError
from functions.services import Services
from functions.webhooks.model import EVENT_TYPES

_DELIVERY_ID = re.compile(r"^[0-9]{13}-[0-9a-f]{8}$")


def _webhook_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--webhook-id", required=True, metavar="WEBHOOK_ID",
                   help="the subscription's id, as `webhook list` shows it")


def _webhook_id(args: argparse.Namespace) -> str:
    return str(checked(Guid, args.webhook_id, "--webhook-id"))


def _delivery_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--delivery-id", required=True, metavar="DELIVERY_ID",
                   help="a delivery's id, as `webhook deliveries` shows it")


def _delivery_id(args: argparse.Namespace) -> str:
    if not _DELIVERY_ID.match(args.delivery_id):
        raise InputError("--delivery-id is not a delivery's id (13 digits, a dash and 8 hex "
                         "digits): `tenantsync webhook deliveries --webhook-id W` lists them",
                         code="invalid_request")
    return str(args.delivery_id)


def _subscription_options(p: argparse.ArgumentParser, *, creating: bool) -> None:
    p.add_argument("--url", required=creating, metavar="URL",
                   help="the portal's https:// endpoint (public addresses only, unless the "
                        "deployment allows private ones)")
    p.add_argument("--event", action="append", choices=EVENT_TYPES, dest="events",
                   metavar="EVENT", help=f"an event to send: {', '.join(EVENT_TYPES)}; repeat"
                   + (" (at least one)" if creating else " (replaces the list)"))
    tenants = p.add_mutually_exclusive_group() if not creating else p
    tenants.add_argument("--tenant-id", action="append", dest="tenant_ids",
                         metavar="TENANT_ID", help="only events of this tenant; repeat"
                         + ("" if creating else " (replaces the list)"))
    if not creating:
        tenants.add_argument("--all-tenants", action="store_true",
                             help="events of every tenant (drops the tenant filter)")
    p.add_argument("--description", metavar="TEXT", help="what the subscription is for")


def _add_options(p: argparse.ArgumentParser) -> None:
    _subscription_options(p, creating=True)
    json_flag(p)


def _print_created(created: WebhookCreated, as_json: bool, what: str) -> None:
    if as_json:
        print_record(created)
        return
    print(f"{what} webhook {created.id} -> {created.url} ({', '.join(created.eventTypes)}"
          f"{'; tenants ' + ', '.join(created.tenantIds) if created.tenantIds else ''})")
    # The API answers it once too; it is in Key Vault and shown nowhere else.
    print(f"signing secret (shown only now: keep it in the portal's secret store): "
          f"{created.secret}")


def cmd_webhook_add(s: Services, args: argparse.Namespace) -> int:
    if not args.events:
        raise InputError(f"name at least one event to send: --event EVENT, one of "
                         f"{', '.join(EVENT_TYPES)}", code="invalid_request")
    create = body(WebhookCreate, {
        "url": ("--url", args.url), "eventTypes": ("--event", args.events),
        "tenantIds": ("--tenant-id", args.tenant_ids),
        "description": ("--description", args.description),
    })
    created = routes_webhooks.create_webhook(body=create, response=Response(), services=s)
    _print_created(created, args.json, "subscribed")
    return 0


def cmd_webhook_list(s: Services, args: argparse.Namespace) -> int:
    webhooks = pages(routes_webhooks.list_webhooks, services=s)
    if args.json:
        print_items(webhooks)
        return 0
    table = Table(Column("WEBHOOK", 36), Column("STATE", 8), Column("EVENTS", 52),
                  Column("TENANTS", 8), Column("URL", 0))
    for w in webhooks:
        table.row(w.id, "enabled" if w.enabled else "disabled", ", ".join(w.eventTypes),
                  len(w.tenantIds) or "all", w.url)
    print(plural(table.rows, "webhook subscription", "webhook subscriptions"))
    return 0


def _show_options(p: argparse.ArgumentParser) -> None:
    _webhook_flag(p)
    json_flag(p)


def _print_webhook(w: Webhook) -> None:
    print(f"webhook {w.id}: {'enabled' if w.enabled else 'disabled'}, created "
          f"{when(w.createdAt)}{' (' + w.description + ')' if w.description else ''}")
    print(f"  url {w.url}")
    print(f"  events {', '.join(w.eventTypes)}; tenants "
          f"{', '.join(w.tenantIds) if w.tenantIds else 'all'}")
    if w.disabledReason:
        print(f"  disabled {when(w.disabledAt)}: {w.disabledReason} (webhook update "
              f"--webhook-id {w.id} --enable turns it on again)")
    elif w.failuresInARow:
        print(f"  {plural(w.failuresInARow, 'failed attempt', 'failed attempts')} in a row")
    if w.previousSecretValidUntil:
        print(f"  the secret before the last rotation signs too until "
              f"{when(w.previousSecretValidUntil)}")


def cmd_webhook_show(s: Services, args: argparse.Namespace) -> int:
    webhook = routes_webhooks.get_webhook(webhook_id=_webhook_id(args), services=s)
    if not printed_json(args, webhook):
        _print_webhook(webhook)
    return 0


def _update_options(p: argparse.ArgumentParser) -> None:
    _webhook_flag(p)
    _subscription_options(p, creating=False)
    enable_flags(p, "turn it on (again, after repeated failures disabled it)",
                 "send nothing until it is enabled")
    json_flag(p)


def cmd_webhook_update(s: Services, args: argparse.Namespace) -> int:
    webhook_id = _webhook_id(args)
    tenant_ids = [] if args.all_tenants else args.tenant_ids
    changes: dict[str, tuple[str, Any]] = {
        "url": ("--url", args.url), "eventTypes": ("--event", args.events),
        "tenantIds": ("--tenant-id/--all-tenants", tenant_ids),
        "description": ("--description", args.description),
        "enabled": ("--enable/--disable", args.enabled),
    }
    if all(value is None for _, value in changes.values()):
        raise InputError("name something to change: --url, --event, --tenant-id, "
                         "--all-tenants, --description, --enable or --disable",
                         code="invalid_request")
    webhook = routes_webhooks.update_webhook(webhook_id=webhook_id,
                                             body=body(WebhookUpdate, changes), services=s)
    if not printed_json(args, webhook):
        _print_webhook(webhook)
    return 0


def cmd_webhook_remove(s: Services, args: argparse.Namespace) -> int:
    webhook_id = _webhook_id(args)
    routes_webhooks.delete_webhook(webhook_id=webhook_id, services=s)
    print(f"removed webhook {webhook_id}, its deliveries and its signing secrets")
    return 0


def _rotate_options(p: argparse.ArgumentParser) -> None:
    _webhook_flag(p)
    p.add_argument("--grace-hours", type=float, metavar="HOURS",
                   help="how long the current secret stays valid, both signatures sent "
                        "meanwhile (0 to 168; default 24)")
    json_flag(p)


def cmd_webhook_rotate_secret(s: Services, args: argparse.Namespace) -> int:
    webhook_id = _webhook_id(args)
    rotation = body(SecretRotation, {"graceHours": ("--grace-hours", args.grace_hours)})
    created = routes_webhooks.rotate_webhook_secret(webhook_id=webhook_id, services=s,
                                                    body=rotation)
    _print_created(created, args.json, "rotated the signing secret of")
    if not args.json and created.previousSecretValidUntil:
        print(f"the previous secret signs too until {when(created.previousSecretValidUntil)}")
    return 0


def _deliveries_options(p: argparse.ArgumentParser) -> None:
    _webhook_flag(p)
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="the N newest (default 20; 0: every delivery)")
    json_flag(p)


def _attempts(d: DeliveryOut) -> str:
    return ", ".join(str(a.statusCode) if a.statusCode is not None else "no answer"
                     for a in d.attempts) or "-"


def cmd_webhook_deliveries(s: Services, args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise InputError("--limit must be 0 (every delivery) or more", code="invalid_request")
    deliveries = pages(routes_webhooks.list_deliveries, webhook_id=_webhook_id(args),
                       services=s)
    if args.limit > 0:
        deliveries = islice(deliveries, args.limit)
    if args.json:
        print_items(deliveries)
        return 0
    table = Table(Column("DELIVERY", 22), Column("CREATED", 25), Column("EVENT", 21),
                  Column("STATUS", 9), Column("ATTEMPTS (HTTP STATUS)", 0))
    for d in deliveries:
        table.row(d.id, when(d.createdAt), d.eventType, d.status, _attempts(d))
    print(plural(table.rows, "delivery", "deliveries") + " (webhook delivery --webhook-id W "
          "--delivery-id D shows one with its body)")
    return 0


def _delivery_options(p: argparse.ArgumentParser) -> None:
    _webhook_flag(p)
    _delivery_flag(p)
    json_flag(p)


def _print_delivery(d: DeliveryOut) -> None:
    print(f"delivery {d.id} ({d.messageId}): {d.eventType}, {d.status}, created "
          f"{when(d.createdAt)}"
          + (f", delivered {when(d.deliveredAt)}" if d.deliveredAt else "")
          + (f", next attempt {when(d.nextAttemptAt)}" if d.nextAttemptAt else ""))
    for a in d.attempts:
        answer = f"HTTP {a.statusCode}" if a.statusCode is not None else "no answer"
        print(f"  {when(a.at)}  {answer}  {a.durationMs} ms"
              + (f"  {a.error}" if a.error else ""))
    print(f"  body: {d.payload}")


def cmd_webhook_delivery(s: Services, args: argparse.Namespace) -> int:
    delivery = routes_webhooks.get_delivery(webhook_id=_webhook_id(args),
                                            delivery_id=_delivery_id(args), services=s)
    if not printed_json(args, delivery):
        _print_delivery(delivery)
    return 0


def cmd_webhook_resend(s: Services, args: argparse.Namespace) -> int:
    delivery = routes_webhooks.resend_delivery(webhook_id=_webhook_id(args),
                                               delivery_id=_delivery_id(args), services=s)
    if args.json:
        print_record(delivery)
    else:
        print(f"delivery {delivery.id} queued to be sent again (the same webhook-id "
              f"{delivery.messageId}, a new round of attempts); `webhook delivery` shows how "
              "it goes")
    return 0


COMMANDS = (
    Command(("webhook", "add"), "subscribe an HTTPS endpoint to events (the signing secret "
            "is shown once)", _add_options, cmd_webhook_add, ("create_webhook",)),
    Command(("webhook", "list"), "webhook subscriptions (never a secret)", json_flag,
            cmd_webhook_list, ("list_webhooks",)),
    Command(("webhook", "show"), "one subscription: events, state, why it was disabled",
            _show_options, cmd_webhook_show, ("get_webhook",)),
    Command(("webhook", "update"), "change a subscription; --enable turns a disabled one on",
            _update_options, cmd_webhook_update, ("update_webhook",)),
    Command(("webhook", "remove"), "remove a subscription, its deliveries and secrets",
            _webhook_flag, cmd_webhook_remove, ("delete_webhook",)),
    Command(("webhook", "rotate-secret"), "a new signing secret, shown once; the current "
            "one stays valid for a grace period", _rotate_options, cmd_webhook_rotate_secret,
            ("rotate_webhook_secret",)),
    Command(("webhook", "deliveries"), "a subscription's deliveries, newest first, with "
            "their attempts", _deliveries_options, cmd_webhook_deliveries,
            ("list_deliveries",)),
    Command(("webhook", "delivery"), "one delivery: its attempts and the body sent",
            _delivery_options, cmd_webhook_delivery, ("get_delivery",)),
    Command(("webhook", "resend"), "send a delivery again (the same webhook-id)",
            _delivery_options, cmd_webhook_resend, ("resend_delivery",)),
)
