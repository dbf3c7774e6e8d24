"""runs list | show | failures, and health: the API's runs and health operations."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from itertools import islice

from functions.api import routes_runs
from functions.api.health import check_health
from functions.api.models import Guid, RunId, RunOut, Timestamp, utc
from functions.cli.inputs import checked
from functions.cli.output import Column, Table, pages, plural, print_items, print_record, when
from functions.cli.registry import Command, json_flag, kind_flag, printed_json, tenant_flag
from functions.cli.run_text import changes
from functions.services import Services


def _list_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    kind_flag(p)
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="the N newest (default 20; 0: every run)")
    json_flag(p)


def cmd_runs_list(s: Services, args: argparse.Namespace) -> int:
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    runs = pages(routes_runs.list_runs, tenant_id=tenant_id, services=s, kind=args.kind)
    if args.limit > 0:
        runs = islice(runs, args.limit)
    return _print_runs(runs, args.json)


def _print_runs(runs: Iterable[RunOut], as_json: bool) -> int:
    if as_json:
        print_items(runs)
        return 0
    table = Table(Column("STARTED", 25), Column("TENANT", 36), Column("KIND", 9),
                  Column("STATUS", 9), Column("CHANGES", 56), Column("ERROR", 0))
    for r in runs:
        table.row(when(r.startedAt), r.tenantId, r.kind, r.status.value, changes(r, short=True),
                  f"{r.errorCode}: {r.error}" if r.errorCode else "")
    print(plural(table.rows, "run", "runs") + " (runs show --tenant-id T --run-id R for one)")
    return 0


def _show_options(p: argparse.ArgumentParser) -> None:
    tenant_flag(p)
    p.add_argument("--run-id", required=True, help="a run ID, as `runs list` shows it")
    json_flag(p)


def cmd_runs_show(s: Services, args: argparse.Namespace) -> int:
    run = routes_runs.get_run(tenant_id=checked(Guid, args.tenant_id, "--tenant-id"),
                              run_id=checked(RunId, args.run_id, "--run-id"), services=s)
    if printed_json(args, run):
        return 0
    print(f"run {run.runId} of tenant {run.tenantId}: {run.kind}, {run.trigger}, "
          f"{run.status.value}, {when(run.startedAt)} to {when(run.endedAt) or '...'}")
    print(f"  {changes(run, short=True)}; {run.graphRequests} Graph requests ({run.throttled} "
          f"throttled), {run.entitiesWritten} entities written")
    if run.cpuMs:  # measured (runs recorded before runs were measured say 0)
        print(f"  used {run.cpuMs} ms of CPU and {run.storageOperations} storage operations")
    if run.ignored:
        print("  ignored: " + ", ".join(f"{n} {why}" for why, n in sorted(run.ignored.items())))
    if run.errorCode:
        print(f"  error {run.errorCode}: {run.error}")
    return 0


def _failures_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="TIME",
                   help="runs started at or after this time (default: 7 days ago)")
    kind_flag(p)
    json_flag(p)


def cmd_runs_failures(s: Services, args: argparse.Namespace) -> int:
    since = None if args.since is None else utc(checked(Timestamp, args.since, "--since"))
    return _print_runs(pages(routes_runs.list_failures, services=s, since=since,
                             kind=args.kind), args.json)


def cmd_health(s: Services, args: argparse.Namespace) -> int:
    report = check_health()
    if args.json:
        print_record(report)
    else:
        for part, state in (("storage", report.storage), ("Key Vault", report.keyVault)):
            print(f"{part}: {state.status}" + (f" ({state.code})" if state.code else ""))
    return 0 if report.status == "ok" else 1


COMMANDS = (
    Command(("runs", "list"), "a tenant's runs, newest first", _list_options, cmd_runs_list,
            ("list_runs",)),
    Command(("runs", "show"), "one run: status, counts, error", _show_options, cmd_runs_show,
            ("get_run",)),
    Command(("runs", "failures"), "failed and partial runs of every tenant",
            _failures_options, cmd_runs_failures, ("list_failures",)),
    Command(("health",), "whether storage and Key Vault are reachable", json_flag, cmd_health,
            ("get_health",)),
)
