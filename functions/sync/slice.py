"""What the engine needs of a kind of sync: the shape both the directory and the device sync
have. A slice reads Graph into its model, plans the changes from what it read and what is
stored (a pure function), and writes them; the engine owns everything around that (the
run's life, the credential, the digest shortcut, the deletion guard's verdict, health).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from functions.clients.graph import GraphClient
from functions.core.changes import Change
from functions.core.errors import ErrorCode
from functions.core.model import AppConnection, Run, TenantRecord
from functions.storage.tables import WriteStats


class ReadResult(Protocol):
    """What a slice's read found: complete only when every listing was read to its end.

    A resumable read (the device slice's) may also say ``in_progress``: it stopped part-way
    with its progress saved for the next run, and the engine records the run as partial
    (with the read's ``error_code`` and ``error``) without comparing or writing anything.
    """

    complete: bool
    error_code: str
    error: str


class SyncSlice(Protocol):
    """One kind of sync, as the engine runs it (see ``directory.slice`` and
    ``devices.slice``)."""

    @property
    def kind(self) -> str:
        """The SyncKind it syncs."""
        ...

    @property
    def incomplete_note(self) -> str:
        """Added to a partial run's error: what the run did not conclude from its read."""
        ...

    def app(self, tenant: TenantRecord) -> AppConnection:
        """The app to sign in as. Raises TenantSyncError ``not_configured`` without one."""
        ...

    def standing(self, tenant: TenantRecord) -> tuple[ErrorCode, str] | None:
        """Why the tenant must not be queried at all (the run is skipped), if it must not."""
        ...

    def read(self, graph: GraphClient, tenant: TenantRecord) -> Any:
        """Read the tenant from Graph (a ReadResult). Raises TenantError for a failure that
        ends the whole run; a listing that failed part-way gives an incomplete result."""
        ...

    def observe(self, tenant: TenantRecord, read: Any, run: Run) -> bool:
        """Copy what the read says about the tenant itself onto it (True if that changed),
        and what it ignored onto the run."""
        ...

    def digest(self, read: Any) -> str:
        """A digest of a complete read: equal digests, equal records."""
        ...

    def count_unchanged(self, read: Any, run: Run) -> None:
        """Count every record of the read as unchanged (the digest matched)."""
        ...

    def load(self, tenant_id: str) -> Any:
        """What is stored for the tenant."""
        ...

    def plan(self, read: Any, stored: Any, now: datetime) -> Any:
        """The changes from the read and what is stored (pure): only changed records; marks
        of deletion only from a complete read."""
        ...

    def count(self, changes: Any, run: Run) -> None:
        """Put the planned changes' counts on the run."""
        ...

    def hold(self, changes: Any, stored: Any) -> str | None:
        """Why the deletion guard holds these changes back (an abnormal share marked
        deleted), if it does."""
        ...

    def write(self, tenant_id: str, stored: Any, changes: Any) -> WriteStats:
        """Write the changes. Raises StorageError."""
        ...

    def feed(self, changes: Any) -> list[Change]:
        """The change feed's entries of the planned changes, in the order they are written
        (one per written record: its entity kind, id and change kind)."""
        ...

    def settled(self, stored: Any, changes: list[Change]) -> list[Change]:
        """Of an interrupted run's planned entries, those whose record ``stored`` holds as
        that run wrote it (its write got that far)."""
        ...
