"""A run for people: the one place the command line turns a run's counts into text (a sync's
result, the progress lines and their totals, `runs list` and `runs show`).

It reads the run's one summary (the API's run record, ``functions.core.summary``), so the
words follow the JSON's names: users and groups are marked deleted, devices retired, apps
removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from functions.api.models import RunOut, run_out
from functions.cli.output import plural
from functions.core.model import ChangeCounts, Run, SyncKind

# Per kind, what its runs count: (label, the summary's field, its "gone" count, the words
# for gone, short and long).
_COUNTED: dict[str, tuple[tuple[str, str, str, str, str], ...]] = {
    SyncKind.DIRECTORY: (("users", "users", "markedDeleted", "deleted", "marked deleted"),
                         ("groups", "groups", "markedDeleted", "deleted", "marked deleted")),
    SyncKind.DEVICES: (("devices", "devices", "retired", "retired", "retired"),
                       ("apps", "apps", "removed", "removed", "removed")),
}


def changes(r: RunOut, *, short: bool = False) -> str:
    """What a run changed: one line (``short``: ``users +2 ~0 =5 deleted 1``), or one line
    per kind of record with the words."""
    parts = []
    for label, field, gone, word, words in _COUNTED.get(r.kind, ()):
        c = getattr(r, field)
        if short:
            text = f"{label} +{c.created} ~{c.updated} ={c.unchanged} {word} {getattr(c, gone)}"
            parts.append(text + (f" restored {c.restored}" if c.restored else ""))
        else:
            parts.append(f"{label}: {c.created} created, {c.updated} updated, {c.unchanged} "
                         f"unchanged, {getattr(c, gone)} {words}, {c.restored} restored")
    return ("; " if short else "\n  ").join(parts) or "no counts"


def describe_run(run: Run | RunOut) -> str:
    """A finished run in a few lines."""
    r = run if isinstance(run, RunOut) else run_out(run)
    # Devices and apps are packed many to a row (docs/design.md).
    rows = ("table row", "table rows") if r.kind == SyncKind.DEVICES else ("entity", "entities")
    text = (f"{r.status.value}: tenant {r.tenantId} {r.kind} run {r.runId}\n  {changes(r)}\n  ")
    if r.kind == SyncKind.DIRECTORY:
        ignored = ", ".join(f"{n} {why}" for why, n in sorted(r.ignored.items())) or "none"
        text += f"ignored: {ignored}; "
    text += (f"{r.graphRequests} Graph requests ({r.throttled} throttled), "
             f"{plural(r.entitiesWritten, *rows)} written")
    if r.error:
        text += f"\n  error {r.errorCode}: {r.error}"
    return text


def totals(kind: SyncKind, runs: Iterable[Run]) -> str:
    """What many runs of one kind changed in all, in short."""
    total = Run("", "", kind, "", datetime.now(UTC))
    for run in runs:
        for part in ("users", "groups", "devices", "apps"):
            summed: ChangeCounts = getattr(total, part)
            summed.add(getattr(run, part))
    return changes(run_out(total), short=True)
