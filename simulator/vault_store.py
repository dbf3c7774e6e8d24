"""The secrets of the simulated Key Vault: versions, soft-delete and recovery."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from .model import VaultSeed

RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90


class VaultConflict(Exception):
    """The name belongs to a deleted secret that has not been purged."""


@dataclass
class SecretVersion:
    version: str
    value: str = field(repr=False)
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int


@dataclass
class SecretEntry:
    """All versions of one secret, oldest first; `name` keeps the case it was created with."""

    name: str
    versions: list[SecretVersion] = field(default_factory=list)
    deleted_at: int | None = None

    @property
    def latest(self) -> SecretVersion:
        return self.versions[-1]

    def find(self, version: str) -> SecretVersion | None:
        if not version:
            return self.latest
        for item in self.versions:
            if item.version == version.lower():
                return item
        return None


class VaultStore:
    """Secrets by lower-cased name (Key Vault names are case-insensitive). Not thread-safe:
    the caller holds the state lock."""

    def __init__(self, seeds: dict[str, VaultSeed]) -> None:
        self.live: dict[str, SecretEntry] = {}
        self.deleted: dict[str, SecretEntry] = {}
        for name, seed in seeds.items():
            self.set(name, seed.value, seed.content_type, dict(seed.tags), True, None, None)

    def set(
        self,
        name: str,
        value: str,
        content_type: str | None,
        tags: dict[str, str],
        enabled: bool,
        nbf: int | None,
        exp: int | None,
    ) -> tuple[SecretEntry, SecretVersion]:
        """Add a new version (creating the secret). Raises VaultConflict if it is deleted."""
        key = name.lower()
        if key in self.deleted:
            raise VaultConflict(name)
        entry = self.live.setdefault(key, SecretEntry(name=name))
        now = int(time.time())
        version = SecretVersion(
            version=uuid.uuid4().hex,
            value=value,
            content_type=content_type,
            tags=tags,
            enabled=enabled,
            nbf=nbf,
            exp=exp,
            created=now,
            updated=now,
        )
        entry.versions.append(version)
        return entry, version

    def get(self, name: str) -> SecretEntry | None:
        return self.live.get(name.lower())

    def delete(self, name: str) -> SecretEntry | None:
        entry = self.live.pop(name.lower(), None)
        if entry is not None:
            entry.deleted_at = int(time.time())
            self.deleted[name.lower()] = entry
        return entry

    def get_deleted(self, name: str) -> SecretEntry | None:
        return self.deleted.get(name.lower())

    def purge(self, name: str) -> bool:
        return self.deleted.pop(name.lower(), None) is not None

    def recover(self, name: str) -> SecretEntry | None:
        entry = self.deleted.pop(name.lower(), None)
        if entry is not None:
            entry.deleted_at = None
            self.live[name.lower()] = entry
        return entry
