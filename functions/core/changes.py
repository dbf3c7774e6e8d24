"""What one write of a sync did to one record: the entries of a tenant's change feed.

Entity and change kinds are plain strings, so that a new kind of record (device-app links,
say) adds entries without a new schema: the feed stores them as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import fields
from operator import attrgetter
from typing import Any

import orjson

from functions.core.records import record

# Entity kinds the syncs record today.
USER, GROUP, MEMBERSHIP = "user", "group", "membership"
DEVICE, DETECTED_APP, MANAGED_APP = "device", "detectedApp", "managedApp"
DEVICE_SOFTWARE = "deviceSoftware"  # the detected apps on one device
HEALTH_ENTITY = "health"  # a side of the tenant (directory, devices): its health changed

# Change kinds: directory records are created, updated, deleted (marked "Azure ID:
# deleted"), restored; memberships added and ended; devices retired; apps detected,
# changed, removed.
CREATED, UPDATED, DELETED, RESTORED = "created", "updated", "deleted", "restored"
ADDED, ENDED = "added", "ended"
RETIRED = "retired"
DETECTED, CHANGED, REMOVED = "detected", "changed", "removed"


@record
class Change:
    """One change a run writes: ``entity`` kind and ``entity_id``, the ``change`` kind, a
    display ``name`` (empty where a record has none), and ``version``, a digest of the
    record as written (to tell afterwards whether the write happened)."""

    entity: str
    entity_id: str
    change: str
    name: str = ""
    version: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """What the change is, without the record's times: for comparing two plans."""
        return self.entity, self.entity_id, self.change


def record_version(record: Any) -> str:
    """A digest of a record's compared fields (a dataclass): equal digests, equal records.

    Fields declared ``compare=False`` (``changed_at``) are left out, like equality does.
    The fields are encoded as one JSON array (orjson: a third of the time of their reprs,
    which ``legacy_version`` digests; a first device sync versions 1,300 records a tenant).
    """
    return record_versions((record,))[0]


def record_versions(records: Iterable[Any]) -> list[str]:
    """``record_version`` of each record, the getter of their type looked up once a type
    (a first device sync versions every record it writes: a loop with nothing else in it)."""
    versions: list[str] = []
    add, digest, dumps = versions.append, hashlib.blake2b, orjson.dumps
    kind: type | None = None
    values: Callable[[Any], tuple[Any, ...]] = tuple
    for written in records:
        if type(written) is not kind:
            kind = type(written)
            values = _compared(kind)
        add(digest(dumps(values(written), default=repr), digest_size=8).hexdigest())
    return versions


def legacy_version(record: Any) -> str:
    """The digest earlier releases wrote (of the fields' reprs joined by \x1f): intents left
    by them are still settled against it."""
    values = _compared(type(record))(record)
    return hashlib.blake2b("\x1f".join(map(repr, values)).encode(), digest_size=8).hexdigest()


_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _compared(record_type: type) -> Callable[[Any], tuple[Any, ...]]:
    """The values of a record type's compared fields, in order (looked up once per type:
    a run versions every record it writes, a device sync thousands of them)."""
    getter = _GETTERS.get(record_type)
    if getter is None:
        names = [f.name for f in fields(record_type) if f.compare]
        if len(names) == 1:
            name = names[0]
            getter = _GETTERS[record_type] = lambda record: (getattr(record, name),)
        else:
            getter = _GETTERS[record_type] = attrgetter(*names)
    return getter


def written_as_planned(changes: Iterable[Change],
                       stored: Callable[[str, str], Any | None]) -> list[Change]:
    """The changes whose record is stored as the change wrote it (``stored`` looks a record
    up by entity kind and id): what an interrupted write did get done."""
    kept = []
    for change in changes:
        record = stored(change.entity, change.entity_id)
        if record is not None and change.version in (record_version(record),
                                                     legacy_version(record)):
            kept.append(change)
    return kept


def plan_digest(changes: Iterable[Change]) -> str:
    """A digest of what a plan changes (entity, id, change kind), whatever its times."""
    digest = hashlib.sha256()
    for key in sorted(c.key for c in changes):
        digest.update("|".join(key).encode() + b"\n")
    return digest.hexdigest()
