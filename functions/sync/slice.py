"""What the engine needs of a kind of sync: the shape both the directory and the device sync
have. A slice reads Graph into its model, plans the changes from what it read and what is
stored (a pure function), and writes them; the engine owns everything around that (the
run's life, the credential, the digest shortcut, the deletion guard's verdict, health).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypeVar

from functions.clients.graph import GraphClient
from functions.core.changes import Change
from functions.core.errors import ErrorCode
from functions.core.model import AppConnection, Run, SyncKind, TenantRecord
from functions.storage.tables import WriteStats


class ReadResult(Protocol):
    """What a slice's read found: complete only when every listing was read to its end.

    A resumable read (the device slice's) may say ``in_progress``: it stopped part-way
    with its progress saved for the next run, and the engine records the run as partial
    (with the read's ``error_code`` and ``error``) without comparing or writing anything.
    """

    @property
    def complete(self) -> bool: ...
    @property
    def in_progress(self) -> bool: ...
    @property
    def error_code(self) -> str: ...
    @property
    def error(self) -> str: ...


Read = TypeVar("Read", bound=ReadResult)  # what the slice read (GroupTree, Inventory)
Stored = TypeVar("Stored")  # what is stored for the tenant (StoredDirectory, ...)
Changes = TypeVar("Changes")  # the plan (DirectoryChanges, InventoryChanges)


class SyncSlice(Protocol[Read, Stored, Changes]):
    """One kind of sync, as the engine runs it (see ``directory.slice`` and
    ``devices.slice``): its read, what is stored and its plan are its own types."""

    @property
    def kind(self) -> SyncKind:
        """The kind it syncs (its entry in ``functions.core.kinds``)."""
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

    def read(self, graph: GraphClient, tenant: TenantRecord, *, full: bool = False,
             known: str = "") -> Read:
        """Read the tenant from Graph (``full``: everything, not only what changed, where the
        slice can read either way). Raises TenantError for a failure that ends the whole
        run; a listing that failed part-way gives an incomplete result.

        ``known``: the fingerprint of what the tables hold when this run may take it for a
        comparison (else empty): a complete read whose digest equals it is neither compared
        nor written, so the read may leave out what only the comparison would use."""
        ...

    def observe(self, tenant: TenantRecord, read: Read, run: Run) -> bool:
        """Copy what the read says about the tenant itself onto it (True if that changed),
        and what it ignored onto the run."""
        ...

    def digest(self, read: Read) -> str:
        """A digest of a complete read: equal digests, equal records."""
        ...

    def count_unchanged(self, read: Read, run: Run) -> None:
        """Count every record of the read as unchanged (the digest matched); a read that
        saved progress ends it here (nothing is to be written)."""
        ...

    def load(self, tenant_id: str) -> Stored:
        """What is stored for the tenant."""
        ...

    def plan(self, read: Read, stored: Stored, now: datetime) -> Changes:
        """The changes from the read and what is stored (pure): only changed records; marks
        of deletion only from a complete read."""
        ...

    def count(self, changes: Changes, run: Run) -> None:
        """Put the planned changes' counts on the run."""
        ...

    @property
    def holds_back(self) -> bool:
        """Whether the deletion guard may hold its changes back (``hold``); a kind that
        never does is not looked up in the holds table."""
        ...

    def hold(self, changes: Changes, stored: Stored) -> str | None:
        """Why the deletion guard holds these changes back (an abnormal share marked
        deleted), if it does."""
        ...

    def write(self, tenant_id: str, stored: Stored, changes: Changes) -> WriteStats:
        """Write the changes (and end the read's saved progress, if any). Raises
        StorageError."""
        ...

    def feed(self, changes: Changes) -> list[Change]:
        """The change feed's entries of the planned changes, in the order they are written
        (one per written record: its entity kind, id and change kind)."""
        ...

    def settled(self, stored: Stored, changes: list[Change]) -> list[Change]:
        """Of an interrupted run's planned entries, those whose record ``stored`` holds as
        that run wrote it (its write got that far)."""
        ...

