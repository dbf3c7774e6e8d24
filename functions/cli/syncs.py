"""sync directory | devices (run here, with progress), schedule and worker.

The API starts a sync on the queue; the command line starts it the same way (the one
claim, a queued run) and runs it at once in this process.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from functions.api.models import Guid, run_out
from functions.api.syncs import check_directory_start, device_connection
from functions.cli.inputs import checked
from functions.cli.output import print_line
from functions.cli.progress import RunProgress, machine_output
from functions.cli.registry import Command, json_flag, no_options, tenant_flag
from functions.cli.run_text import describe_run
from functions.core.errors import InputError
from functions.core.kinds import KINDS
from functions.core.model import Run, RunOptions, RunStatus, SyncKind, Trigger
from functions.services import Services
from functions.sync.health import schedulable
from functions.sync.pool import Batch

FULL_HELP = ("read in full (a directory sync reads every listing, not only the changes "
             "since its last sync) and compare with every stored entity even when what was "
             "read is unchanged since the last complete sync")


def run_batch(s: Services, kind: SyncKind, batch: Batch, json_flag: bool) -> int:
    """Run started syncs here, reporting each as it ends; 0 if every one succeeded."""
    machine = machine_output(json_flag)
    total = len(batch.jobs) + len(batch.active)
    if total == 0:
        if not machine:
            print(f"no tenant to sync ({kind})")
        return 0
    names = {t.tenant_id: t.display_name or t.organization for t in s.tenants.list()}
    with RunProgress(kind, total, names, json_lines=machine) as progress:
        for run in batch.active:
            progress.finished(run)
        s.runner.execute(batch.jobs, on_run=progress.finished)
    return 0 if progress.all_succeeded else 1


def _run_one(s: Services, kind: SyncKind, tenant_id: str, options: RunOptions,
             json_flag: bool) -> int:
    """One tenant's sync, continued here until its read is done (a read too large for one
    run goes on at once): people see each run as it ends, ``--json`` the last one."""
    def told(run: Run) -> None:
        print(describe_run(run), flush=True)

    last = s.runner.run_one(kind, tenant_id, Trigger.CLI, options,
                            on_run=None if json_flag else told)
    if json_flag:
        print_line(run_out(last))
    return 0 if last.status == RunStatus.SUCCEEDED else 1


def _target_options(p: argparse.ArgumentParser, every: str) -> None:
    target = p.add_mutually_exclusive_group(required=True)
    tenant_flag(target, required=False)
    target.add_argument("--all", action="store_true", help=every)
    p.add_argument("--full", action="store_true", help=FULL_HELP)
    json_flag(p)


def _directory_options(p: argparse.ArgumentParser) -> None:
    _target_options(p, "every enabled tenant with a directory connection")
    p.add_argument("--allow-mass-deletion", action="store_true",
                   help="release the sync the deletion guard held back (one tenant): apply "
                        "exactly the changes `held show` previews, or hold it again with a new "
                        "preview if the directory changed since")


def cmd_sync_directory(s: Services, args: argparse.Namespace) -> int:
    options = RunOptions(full=args.full, allow_mass_deletion=args.allow_mass_deletion)
    if args.all:
        if args.allow_mass_deletion:
            raise InputError("--allow-mass-deletion releases one tenant's held sync after its "
                             "preview: review it with `tenantsync held show --tenant-id T`, then "
                             "pass --tenant-id T instead of --all", code="invalid_request")
        # A tenant that awaits its level-0 group has nothing to sync yet.
        directory = KINDS.get(SyncKind.DIRECTORY)
        tenant_ids = [t.tenant_id for t in s.tenants.list()
                      if t.enabled and directory.connected(t)]
        batch = s.runner.start_many(SyncKind.DIRECTORY, tenant_ids, Trigger.CLI, options)
        return run_batch(s, SyncKind.DIRECTORY, batch, args.json)
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    check_directory_start(s, tenant_id, release=args.allow_mass_deletion)
    return _run_one(s, SyncKind.DIRECTORY, tenant_id, options, args.json)


def cmd_sync_devices(s: Services, args: argparse.Namespace) -> int:
    options = RunOptions(full=args.full)
    if args.all:
        now = datetime.now(UTC)
        tenant_ids = [t.tenant_id for t in s.tenants.list()
                      if schedulable(t, SyncKind.DEVICES, now)]
        batch = s.runner.start_many(SyncKind.DEVICES, tenant_ids, Trigger.CLI, options)
        return run_batch(s, SyncKind.DEVICES, batch, args.json)
    tenant_id = checked(Guid, args.tenant_id, "--tenant-id")
    device_connection(s.tenants.get(tenant_id))
    return _run_one(s, SyncKind.DEVICES, tenant_id, options, args.json)


def _schedule_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS.names())


def cmd_schedule(s: Services, args: argparse.Namespace) -> int:
    enqueued, skipped = s.scheduler.schedule(KINDS.parse(args.kind), trigger=Trigger.CLI)
    print(f"enqueued {enqueued} {args.kind} jobs ({skipped} tenants skipped)")
    return 0


def cmd_worker(s: Services, args: argparse.Namespace) -> int:
    """Drain the job queues once: what the queue-triggered functions do in Azure."""
    failed = 0
    for run in s.worker.drain():
        print(describe_run(run), flush=True)
        failed += run.status != RunStatus.SUCCEEDED
    # Then the webhook deliveries those runs queued (those due now), as the delivery
    # function does.
    attempted = s.delivery_worker.drain()
    if attempted:
        print(f"{attempted} webhook delivery attempts", flush=True)
    return 1 if failed else 0


COMMANDS = (
    Command(("sync", "directory"), "sync the level-0 group of one or every tenant now",
            _directory_options, cmd_sync_directory, ("start_directory_sync",)),
    Command(("sync", "devices"), "sync devices and software of one or every tenant now",
            lambda p: _target_options(p, "every active customer tenant"), cmd_sync_devices,
            ("start_devices_sync",)),
    Command(("schedule",), "queue a run per due tenant, as the timers do", _schedule_options,
            cmd_schedule),
    Command(("worker",), "run queued sync jobs and webhook deliveries until the queues "
            "are empty, as the queue functions do", no_options, cmd_worker),
)
