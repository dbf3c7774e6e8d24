"""A run's summary, in one place: the JSON every reader of a run gets (the API's run
records, the command line's ``--json`` and progress lines, the ``sync.finished`` webhook).

Counts keep the names of what they count: users and groups are "marked deleted", devices
"retired", apps "removed" (one ``ChangeCounts`` field, ``marked_deleted``, beneath).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from functions.core.model import ChangeCounts, Run


def json_time(value: datetime | None) -> str | None:
    """A time as the API writes it: UTC, ISO 8601 with ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _counts(c: ChangeCounts, gone: str) -> dict[str, int]:
    return {"created": c.created, "updated": c.updated, "unchanged": c.unchanged,
            gone: c.marked_deleted, "restored": c.restored}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def run_summary(run: Run) -> dict[str, Any]:
    """The run as JSON: who, what, how it ended, its counts, its requests, its feed span."""
    return {
        "runId": run.run_id, "tenantId": run.tenant_id, "kind": str(run.kind),
        "trigger": str(run.trigger), "status": run.status.value,
        "startedAt": json_time(run.started_at), "endedAt": json_time(run.ended_at),
        "users": _counts(run.users, "markedDeleted"),
        "groups": _counts(run.groups, "markedDeleted"),
        "membershipsAdded": run.memberships_added,
        "membershipsRemoved": run.memberships_removed,
        "devices": _counts(run.devices, "retired"), "apps": _counts(run.apps, "removed"),
        "ignored": {_camel(reason): n for reason, n in run.ignored.items()},
        "graphRequests": run.graph_requests, "throttled": run.throttled,
        "entitiesWritten": run.entities_written, "transactions": run.transactions,
        "cpuMs": run.cpu_ms, "storageOperations": run.storage_operations,
        "errorCode": run.error_code or None, "error": run.error or None,
        "changesFrom": run.changes_from or None, "changesTo": run.changes_to or None,
    }
