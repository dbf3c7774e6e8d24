"""What a kind of sync is, in one place: the registry every layer asks.

A kind (``directory``, ``devices``) is what a run, a claim, a queue, a tenant's health and
a consent link are of. Its entry says which tables its store writes, which Graph
application permissions it needs, which columns of the tenant entity hold its health,
which queue carries its jobs, whether a tenant may run it, and which slice syncs it.
Adding a kind is its module (a ``SyncSlice``) and one ``KINDS.register(Kind(...))``
(docs/design.md shows one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from functions.core.config import Settings
from functions.core.errors import ErrorCode, InputError
from functions.core.model import SyncKind, TenantRecord
from functions.core.permissions import DEVICE_NEEDS, DIRECTORY_NEEDS


def _directory_connected(tenant: TenantRecord) -> bool:
    # A tenant consented without a level-0 group waits for one to be chosen.
    return tenant.directory is not None and bool(tenant.directory.group_id)


def _devices_connected(tenant: TenantRecord) -> bool:
    d = tenant.devices
    return d is not None and d.active and not d.excluded and not d.unsupported_reason


@dataclass(frozen=True)
class Kind:
    """One kind of sync.

    ``connected`` says whether a tenant may run it at all (its connection is there and
    usable); ``slice`` builds its ``SyncSlice`` from the composition root's ``Services``
    (None for the two built-in kinds, whose slices ``Services`` builds itself: core cannot
    name a feature slice).
    """

    name: SyncKind
    tables: tuple[str, ...]  # the tables its store writes (without the prefix)
    needs: tuple[str, ...]  # Graph application permissions (functions.core.permissions)
    health_column: str  # its state's columns in the tenant entity: <column>Health, ...
    queue: Callable[[Settings], str]  # the name of the queue that carries its jobs
    connected: Callable[[TenantRecord], bool]
    slice: Callable[[Any], Any] | None = None


# The tables every kind of sync shares; each kind's own are in its entry.
SHARED_TABLES = ("tenants", "runs", "partners", "claims", "feed", "holds", "webhooks",
                 "deliveries", "consents", "outbox", "subscriptions", "notified",
                 "partneraccess", "consentaudit", "budgets")


class KindRegistry:
    """The kinds of sync, in the order they were registered."""

    def __init__(self, *kinds: Kind) -> None:
        self._kinds: dict[str, Kind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: Kind) -> Kind:
        """Add a kind. Raises ValueError for a name or health column already taken."""
        if kind.name in self._kinds:
            raise ValueError(f"the sync kind {kind.name} is already registered")
        if any(k.health_column == kind.health_column for k in self._kinds.values()):
            raise ValueError(f"the health column {kind.health_column} is already taken")
        self._kinds[kind.name] = kind
        return kind

    def unregister(self, name: SyncKind) -> None:
        self._kinds.pop(name, None)

    def __iter__(self) -> Iterator[Kind]:
        return iter(list(self._kinds.values()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._kinds

    def names(self) -> list[SyncKind]:
        return [kind.name for kind in self]

    def tables(self) -> tuple[str, ...]:
        """The app's tables: the shared ones and every registered kind's."""
        own = (table for kind in self for table in kind.tables)
        return tuple(dict.fromkeys((*SHARED_TABLES, *own)))

    def get(self, name: str) -> Kind:
        """The kind named ``name``. Raises InputError ``invalid_request`` for no kind."""
        found = self._kinds.get(name)
        if found is None:
            raise InputError(f"{name!r} is no kind of sync: use one of "
                             f"{', '.join(self._kinds)}", code=ErrorCode.INVALID_REQUEST)
        return found

    def parse(self, name: object) -> SyncKind:
        """``name`` as a registered kind's name (from a queue message or a request).
        Raises InputError ``invalid_request`` for no kind."""
        return self.get(str(name)).name

    def stored(self, name: object) -> SyncKind:
        """The kind a stored row names: the registered kind, or the name as it is (a row
        may outlive its kind; reading it must not fail)."""
        found = self._kinds.get(str(name))
        return found.name if found else cast(SyncKind, str(name))


KINDS = KindRegistry(
    Kind(SyncKind.DIRECTORY, ("users", "groups", "memberships"), DIRECTORY_NEEDS,
         "Directory", lambda s: s.directory_queue, _directory_connected),
    Kind(SyncKind.DEVICES, ("inventory", "checkpoints"), DEVICE_NEEDS,
         "Devices", lambda s: s.devices_queue, _devices_connected),
)
