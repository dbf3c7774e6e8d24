"""Benchmark: CPU of one storage request, the Azure SDK's way and tenantsync's, side by side.

    python -m bench.storage_ops [--operations 500] [--page 1000]

Against a fresh Azurite, each kind of request a run or the timer makes is sent
``--operations`` times through the SDK's client method and through ``TableStore`` /
``JobQueue`` (functions/storage: points, pages, transactions, queues), and this process's
CPU is divided by the count (Azurite's own CPU is not in it). A query is timed by the page
of ``--page`` entities. Both ways go through the same client and pipeline.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode


def _cpu_ms(count: int, action: Callable[[int], Any]) -> float:
    action(0)  # warm: connection, token, caches
    started = time.process_time()
    for n in range(1, count + 1):
        action(n)
    return (time.process_time() - started) * 1000 / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=500)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args(argv)
    from devstack.stack import AzuriteProcess
    from functions.core.model import Run, RunStatus, SyncKind, new_run_id
    from functions.storage import entities as ent
    from functions.storage.queues import JobQueue, SyncJob
    from functions.storage.tables import TableStore

    azurite = AzuriteProcess().start()
    try:
        store = TableStore.from_connection_string(azurite.connection_string, "b")
        store.ensure_tables()
        sdk, count = store.table("runs"), args.operations
        now = datetime.now(UTC)
        runs = [ent.run_entity(Run(new_run_id(now), str(uuid.uuid4()), SyncKind.DEVICES, "timer",
                                   now, status=RunStatus.QUEUED, queued_at=now))
                for _ in range(2 * count + 2)]
        ours_rows, sdk_rows = runs[0::2], runs[1::2]
        etags: dict[str, str] = {}

        def keys(row: dict[str, Any]) -> tuple[str, str]:
            return row["PartitionKey"], row["RowKey"]

        def sdk_insert(n: int) -> None:
            etags[sdk_rows[n]["RowKey"]] = sdk.create_entity(sdk_rows[n])["etag"]

        def our_insert(n: int) -> None:
            etags[ours_rows[n]["RowKey"]] = str(store.insert_versioned("runs", ours_rows[n]))

        def sdk_update(n: int) -> None:
            row = sdk_rows[n]
            sdk.update_entity(row, mode=UpdateMode.REPLACE, etag=etags[row["RowKey"]],
                              match_condition=MatchConditions.IfNotModified)

        rows: list[tuple[str, Callable[[int], Any], Callable[[int], Any]]] = [
            ("insert (a run)", sdk_insert, our_insert),
            ("read (a run)", lambda n: dict(sdk.get_entity(*keys(sdk_rows[n]))),
             lambda n: store.get_versioned("runs", *keys(ours_rows[n]))),
            ("replace (a run, its ETag)", sdk_update,
             lambda n: store.update_if_unchanged("runs", ours_rows[n],
                                                 etags[ours_rows[n]["RowKey"]])),
            ("upsert (a run)", lambda n: sdk.upsert_entity(sdk_rows[n], mode=UpdateMode.REPLACE),
             lambda n: store.upsert("runs", ours_rows[n])),
            ("delete", lambda n: sdk.delete_entity(*keys(sdk_rows[n])),
             lambda n: store.delete("runs", *keys(ours_rows[n]))),
        ]
        print(f"CPU of one request, this process only ({count} of each; Azurite's not "
              "counted)\n")
        print(f"{'request':<28} {'SDK ms':>8} {'ours ms':>8} {'ours/SDK':>9}")
        for name, theirs, ours in rows:
            a, b = _cpu_ms(count, theirs), _cpu_ms(count, ours)
            print(f"{name:<28} {a:>8.3f} {b:>8.3f} {b / a:>8.2f}x")

        partition = str(uuid.uuid4())
        store.write("users", ({"PartitionKey": partition, "RowKey": f"r{n:06d}",
                               **{f"P{i}": f"value {i} of {n}" for i in range(12)}, "N": n}
                              for n in range(args.page)))
        users = store.table("users")
        pages = max(3, count // 100)
        a = _cpu_ms(pages, lambda n: [dict(e) for e in users.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition}, results_per_page=args.page)])
        b = _cpu_ms(pages, lambda n: list(store.query("users", "PartitionKey eq @pk",
                                                       {"pk": partition},
                                                       page_size=args.page)))
        print(f"{f'query, a page of {args.page:,}':<28} {a:>8.3f} {b:>8.3f} {b / a:>8.2f}x")

        queue = JobQueue.from_connection_string(azurite.connection_string, "bjobs")
        queue.ensure()
        text = SyncJob(str(uuid.uuid4()), SyncKind.DIRECTORY, "timer").to_json()
        a = _cpu_ms(count, lambda n: queue._client.send_message(text))
        b = _cpu_ms(count, lambda n: queue.send(text))
        print(f"{'queue: put a job':<28} {a:>8.3f} {b:>8.3f} {b / a:>8.2f}x")
    finally:
        azurite.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
