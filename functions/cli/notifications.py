"""tenant notifications: the API's view of a tenant's Graph change notifications."""

from __future__ import annotations

import argparse

from functions.api import routes_notifications
from functions.api.models import Guid
from functions.cli.inputs import checked
from functions.cli.output import when
from functions.cli.registry import Command, json_flag, printed_json, tenant_flag
from functions.services import Services


def _options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    json_flag(p)


def cmd_tenant_notifications(s: Services, args: argparse.Namespace) -> int:
    status = routes_notifications.tenant_notifications(
        tenant_id=checked(Guid, args.tenant_id, "--tenant-id"), services=s)
    if printed_json(args, status):
        return 0
    print(f"tenant {status.tenantId}: change notifications {status.health.value}"
          + (f" (checked {when(status.checkedAt)})" if status.checkedAt else ""))
    if status.message:
        print(f"  {status.code + ': ' if status.code else ''}{status.message}")
    for sub in status.subscriptions:
        print(f"  {sub.id}  {sub.resource}  expires {when(sub.expiresAt)}")
    return 0


COMMANDS = (
    Command(("tenant", "notifications"),
            "whether Graph tells this deployment of a tenant's directory changes, and the fix",
            _options, cmd_tenant_notifications, ("tenant_notifications",)),
)
