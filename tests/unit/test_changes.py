"""Feed entries' versions and plan digests (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime

from functions.core.changes import (
    Change,
    plan_digest,
    record_version,
    record_versions,
    written_as_planned,
)
from functions.directory.model import UserRecord

USER = UserRecord("u1", "Jane Doe", "jane@contoso.example", "jane@x.example", True)


def test_a_version_follows_the_compared_fields_not_the_change_time() -> None:
    assert record_version(USER) == record_version(replace(USER, changed_at=datetime.now(UTC)))
    assert record_version(USER) != record_version(replace(USER, display_name="Jane Roe"))
    assert record_version(USER) != record_version(replace(USER, group_ids=("g1",)))


@dataclass(frozen=True)
class _Tag:
    name: str
    changed_at: datetime | None = field(default=None, compare=False)


def test_a_record_of_one_compared_field_is_versioned_by_it() -> None:
    assert record_version(_Tag("a")) == record_version(_Tag("a", datetime.now(UTC)))
    assert record_version(_Tag("a")) != record_version(_Tag("b"))


def test_records_versioned_together_have_each_its_own_version() -> None:
    # Types mixed and alternating: each record is versioned as its own type says.
    records = [USER, _Tag("a"), replace(USER, display_name="Jane Roe"), _Tag("b"), _Tag("a")]
    versions = record_versions(records)
    assert versions == [record_version(r) for r in records]
    assert len(set(versions)) == 4 and versions[1] == versions[4]
    assert record_versions([]) == []



def test_intents_of_earlier_releases_still_settle_against_their_records() -> None:
    # Earlier releases digested the compared fields' reprs joined by \x1f: an intent they
    # left holds versions made that way, and its write is still recognised by them.
    def by_hand(record: object, names: list[str]) -> str:
        text = "\x1f".join(repr(getattr(record, n)) for n in names)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    compared = [f.name for f in fields(USER) if f.compare]
    assert "changed_at" not in compared and len(compared) > 1
    renamed = replace(USER, display_name="Jane Roe")
    old = [Change("user", "u1", "updated", "Jane Roe", by_hand(renamed, compared)),
           Change("tag", "a", "created", "a", by_hand(_Tag("a"), ["name"]))]
    stored: dict[str, object] = {"user": renamed, "tag": _Tag("a", datetime.now(UTC))}
    assert written_as_planned(old, lambda kind, _: stored.get(kind)) == old
    stored["user"] = USER  # the rename was not written
    assert written_as_planned(old, lambda kind, _: stored.get(kind)) == old[1:]
    assert record_version(renamed) != by_hand(renamed, compared)  # versions are made anew


def test_a_plan_digest_is_of_what_changes_whatever_the_order_or_versions() -> None:
    a = [Change("user", "u1", "created", "A", "v1"), Change("user", "u2", "deleted", "B", "v2")]
    b = [Change("user", "u2", "deleted", "B", "other"), Change("user", "u1", "created", "", "")]
    assert plan_digest(a) == plan_digest(b)
    assert plan_digest(a) != plan_digest([*a, Change("group", "g", "created")])
    assert plan_digest(a[:1]) != plan_digest([Change("user", "u1", "updated")])


def test_written_as_planned_keeps_the_changes_whose_record_is_stored_as_written() -> None:
    renamed = replace(USER, display_name="Jane Roe")
    planned = [Change("user", "u1", "updated", "Jane Roe", record_version(renamed)),
               Change("user", "u2", "created", "New", "abc")]
    stored = {"u1": renamed}
    assert written_as_planned(planned, lambda _, i: stored.get(i)) == planned[:1]
    stored = {"u1": USER}  # the rename was not written
    assert written_as_planned(planned, lambda _, i: stored.get(i)) == []
