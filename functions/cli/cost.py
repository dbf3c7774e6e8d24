"""cost estimate | tenant: what a tenant costs a month on Azure, before onboarding it (from
its size) and after (from what its runs used). docs/scale.md, "What a tenant costs"."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from itertools import islice
from typing import Any

from functions.api import routes_runs
from functions.api.models import Guid, RunOut
from functions.cli.inputs import checked
from functions.cli.output import pages
from functions.cli.registry import Command, json_flag, kind_flag, tenant_flag
from functions.core.errors import InputError
from functions.core.kinds import KINDS
from functions.core.pricing import (
    DEFAULT_SCHEDULES,
    MODELS,
    MonthlyCost,
    SyncUse,
    monthly,
    syncs_a_month,
)
from functions.services import Services


def schedule_of(kind: str) -> str:
    """The kind's timer schedule: the app setting the function app reads, else the infra's
    default."""
    return os.environ.get(f"TENANTSYNC_{kind.upper()}_SCHEDULE") or DEFAULT_SCHEDULES[kind]


def _priced(cost: MonthlyCost) -> dict[str, Any]:
    return {"syncs": round(cost.syncs), "gbSeconds": round(cost.gb_seconds, 1),
            "compute": round(cost.compute, 4), "executions": round(cost.executions, 4),
            "tables": round(cost.tables, 4), "queues": round(cost.queues, 4),
            "total": round(cost.total, 4)}


def _use(use: SyncUse) -> dict[str, float]:
    return {"cpuSeconds": round(use.cpu_seconds, 3), "seconds": round(use.seconds, 2),
            "storageOperations": round(use.storage_operations, 1)}


def _money(cost: MonthlyCost) -> str:
    return (f"${cost.total:.4f} a month ({cost.syncs:,.0f} syncs: compute ${cost.compute:.4f}, "
            f"executions ${cost.executions:.4f}, tables ${cost.tables:.4f}, "
            f"queues ${cost.queues:.4f})")


# --- cost estimate ----------------------------------------------------------------------------

def _estimate_options(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--users", type=int, metavar="N",
                      help="a directory tenant of N users under its level-0 group")
    size.add_argument("--devices", type=int, metavar="N",
                      help="a device tenant of N managed devices")
    p.add_argument("--tenants", type=int, default=1, metavar="M",
                   help="M tenants of that size (default 1)")
    json_flag(p)


def cmd_cost_estimate(_: Services | None, args: argparse.Namespace) -> int:
    kind, size = ("directory", args.users) if args.users is not None else ("devices",
                                                                            args.devices)
    if size < 0 or args.tenants < 1:
        raise InputError("--users/--devices must be 0 or more and --tenants 1 or more",
                         code="invalid_input")
    first_model, steady_model = MODELS[kind]
    first, steady = first_model.use(size), steady_model.use(size)
    syncs = syncs_a_month(schedule_of(kind))
    one_month = monthly(steady, syncs)
    first_sync = monthly(first, 1)
    if args.json:
        print(json.dumps({
            "kind": kind, "size": size, "tenants": args.tenants, "schedule": schedule_of(kind),
            "firstSync": {**_use(first), **_priced(first_sync)},
            "unchangedSync": _use(steady), "aMonth": _priced(one_month),
            "aMonthAll": round(one_month.total * args.tenants, 2),
        }, indent=2))
        return 0
    what = "users" if kind == "directory" else "devices"
    print(f"A {kind} tenant of {size:,} {what}, synced on {schedule_of(kind)!r} "
          f"({syncs:,} times a month):")
    print(f"  first sync:     {first.cpu_seconds:.2f} CPU s, about {first.seconds:.1f} s, "
          f"{first.storage_operations:.0f} storage operations: ${first_sync.total:.5f}")
    print(f"  unchanged sync: {steady.cpu_seconds:.3f} CPU s, about {steady.seconds:.1f} s, "
          f"{steady.storage_operations:.0f} storage operations")
    print(f"  {_money(one_month)}")
    if args.tenants > 1:
        print(f"  {args.tenants:,} such tenants: ${one_month.total * args.tenants:,.2f} a month")
    print("From the benchmarks' figures (docs/scale.md); once a tenant has run, "
          "`tenantsync cost tenant --tenant-id T` prices what its runs used.")
    return 0


# --- cost tenant ------------------------------------------------------------------------------

def _tenant_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    kind_flag(p)
    p.add_argument("--runs", type=int, default=20, metavar="N",
                   help="average the N newest measured runs of each kind (default 20)")
    json_flag(p)


def measured_use(runs: Iterable[RunOut], limit: int) -> tuple[SyncUse, int] | None:
    """The average use of the ``limit`` newest runs that were measured (``cpuMs`` > 0: runs
    recorded before runs were measured, or skipped at once, say nothing), and how many."""
    measured = list(islice((r for r in runs if r.cpuMs > 0 and r.endedAt is not None), limit))
    if not measured:
        return None
    n = len(measured)
    seconds = sum((r.endedAt - r.startedAt).total_seconds()
                  for r in measured if r.endedAt is not None) / n
    return SyncUse(sum(r.cpuMs for r in measured) / 1000 / n, seconds,
                   sum(r.storageOperations for r in measured) / n), n


def cmd_cost_tenant(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    if args.runs < 1:
        raise InputError("--runs must be 1 or more", code="invalid_input")
    kinds = [KINDS.parse(args.kind)] if args.kind else list(KINDS.names())
    report: dict[str, Any] = {"tenantId": tenant_id, "kinds": {}}
    total = 0.0
    for kind in kinds:
        found = measured_use(pages(routes_runs.list_runs, tenant_id=tenant_id, services=s,
                                   kind=kind), args.runs)
        if found is None:
            report["kinds"][str(kind)] = None
            continue
        use, n = found
        cost = monthly(use, syncs_a_month(schedule_of(kind)))
        total += cost.total
        report["kinds"][str(kind)] = {"runs": n, "schedule": schedule_of(kind), **_use(use),
                                      "aMonth": _priced(cost)}
    report["aMonth"] = round(total, 4)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"tenant {tenant_id}:")
    for kind, line in report["kinds"].items():
        if line is None:
            print(f"  {kind}: no measured run yet")
            continue
        print(f"  {kind}: {line['runs']} runs averaged: {line['cpuSeconds']:.3f} CPU s, "
              f"{line['seconds']:.1f} s, {line['storageOperations']:.0f} storage operations "
              f"a sync; ${line['aMonth']['total']:.4f} a month at {line['aMonth']['syncs']:,} "
              f"syncs ({line['schedule']!r})")
    print(f"  in all: ${total:.4f} a month (prices and model: docs/scale.md)")
    return 0


COMMANDS = (
    Command(("cost", "estimate"), "what a tenant of a given size would cost a month",
            _estimate_options, cmd_cost_estimate, needs_services=False),
    Command(("cost", "tenant"), "what a tenant costs a month, from what its runs used",
            _tenant_options, cmd_cost_tenant),
)
