"""Progress of syncs of many tenants, reported as each run ends.

On a terminal: a line per tenant (name, status, counts) above a live bar with the running
total and an ETA, and a summary at the end (rich). Elsewhere, or with ``--json``: one JSON
line per tenant, the API's run projection, written as the run ends.
"""

from __future__ import annotations

import time
from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from functions.api.models import run_out
from functions.cli.output import print_line
from functions.cli.run_text import changes, totals
from functions.core.model import Run, RunStatus, SyncKind

_MARKS = {RunStatus.SUCCEEDED: ("✓", "green"), RunStatus.PARTIAL: ("!", "yellow"),
          RunStatus.FAILED: ("✗", "red"), RunStatus.SKIPPED: ("-", "yellow")}


def machine_output(json_flag: bool, console: Console | None = None) -> bool:
    """Whether runs are reported as JSON lines: asked for, or stdout is not a terminal."""
    return json_flag or not (console or Console()).is_terminal


class RunProgress:
    """Reports the runs of one multi-tenant sync as they end (use it as a context manager;
    :meth:`finished` is the runner's ``on_run``)."""

    def __init__(self, kind: SyncKind, total: int, names: dict[str, str], *, json_lines: bool,
                 console: Console | None = None) -> None:
        self.kind, self.total, self.names = kind, total, names
        self.json_lines = json_lines
        self.console = console or Console(highlight=False)
        self.runs: list[Run] = []
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        if not self.json_lines:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._tally(), total=self.total)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            if exc is None:
                self.console.print(self.summary(), soft_wrap=True)

    def finished(self, run: Run) -> None:
        """Report one run that ended (or that was already under way when asked)."""
        self.runs.append(run)
        if self.json_lines:
            print_line(run_out(run))
            return
        assert self._progress is not None
        assert self._task is not None
        # soft_wrap: the terminal wraps a long line, so that a URL in it stays whole.
        self._progress.console.print(self.line(run), soft_wrap=True)
        self._progress.update(self._task, advance=1, description=self._tally())

    @property
    def all_succeeded(self) -> bool:
        return all(r.status == RunStatus.SUCCEEDED for r in self.runs)

    def name(self, tenant_id: str) -> str:
        return self.names.get(tenant_id) or "(no name yet)"

    def line(self, run: Run) -> Text:
        """One tenant's line: mark, name, status, counts or error, time, tenant ID."""
        mark, style = _MARKS.get(run.status, ("…", "cyan"))
        text = Text.assemble((f"{mark} ", style), (self.name(run.tenant_id), "bold"), " ",
                             (run.status.value, style), " ")
        if run.active:
            text.append(f"already {run.status.value} elsewhere (run {run.run_id})")
        elif run.error_code and run.status != RunStatus.SUCCEEDED:
            text.append(f"{run.error_code}: {run.error}")
        else:
            text.append(changes(run_out(run), short=True))
        if run.ended_at is not None:
            text.append(f"  {(run.ended_at - run.started_at).total_seconds():.1f} s", "dim")
        text.append(f"  {run.tenant_id}", "dim")
        return text

    def _tally(self) -> str:
        by_status = Counter(r.status.value for r in self.runs)
        done = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "starting"
        return f"{self.kind} sync: {done}"

    def summary(self) -> Text:
        """The end: how many of each status, why those that failed, what changed."""
        elapsed = time.monotonic() - self._started
        by_status = Counter(r.status.value for r in self.runs)
        text = Text(f"{len(self.runs)} of {self.total} tenants in {elapsed:.1f} s: ")
        text.append(", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "none")
        failures = Counter(r.error_code for r in self.runs
                           if r.status != RunStatus.SUCCEEDED and r.error_code)
        if failures:
            text.append("; why: " + ", ".join(f"{code} x{n}" for code, n in
                                                failures.most_common()))
        text.append(f"\n{self._totals()}")
        return text

    def _totals(self) -> str:
        return "in all: " + totals(self.kind, (r for r in self.runs if not r.active))
