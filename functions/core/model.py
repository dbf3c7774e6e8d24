"""The records every part shares: tenants and their connections, health, runs."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str:
    # Times are stored as ISO strings: exact round trips, so unchanged rows compare equal.
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else ""


class SyncKind(StrEnum):
    """The names of the built-in kinds of sync; each has its own claim, queue, health and
    runs. What a kind is (its tables, permissions, health columns, slice), and any kind
    registered besides these: ``functions.core.kinds``."""

    DIRECTORY = "directory"
    DEVICES = "devices"


class Trigger(StrEnum):
    """What started a run."""

    TIMER = "timer"
    HTTP = "http"
    QUEUE = "queue"
    CLI = "cli"
    NOTIFICATION = "notification"  # Graph said the tenant's directory changed


# A run id: 13 digits that sort newest first within a tenant's partition, and 8 random hex.
RUN_ID_PATTERN = r"^[0-9]{13}-[0-9a-f]{8}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def new_run_id(now: datetime) -> str:
    """A run id that sorts newest first within a tenant's partition and is unique."""
    inverted = 10**13 - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{os.urandom(4).hex()}"


def is_run_id(value: object) -> bool:
    return isinstance(value, str) and bool(_RUN_ID.match(value))


@dataclass(frozen=True)
class RunOptions:
    """How one run syncs: ``full`` compares with every stored record even when what was
    read is unchanged; ``allow_mass_deletion`` applies a sync the deletion guard would hold
    back."""

    full: bool = False
    allow_mass_deletion: bool = False


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"


class Health(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    CONSENT_MISSING = "consent_missing"
    PERMISSION_MISSING = "permission_missing"
    INTUNE_NOT_LICENSED = "intune_not_licensed"
    SECRET_EXPIRING = "secret_expiring"  # noqa: S105 - a state name, not a secret
    SECRET_EXPIRED = "secret_expired"  # noqa: S105
    FAILING = "failing"
    QUARANTINED = "quarantined"
    EXCLUDED = "excluded"
    INACTIVE = "inactive"
    DISABLED = "disabled"
    UNSUPPORTED = "unsupported"  # e.g. a customer bought through an indirect reseller
    DELETION_HELD = "deletion_held"  # the deletion guard holds a sync until it is released
    AWAITING_GROUP = "awaiting_group"  # consented without a level-0 group: choose one
    IN_PROGRESS = "in_progress"  # a read too large for one run, resumed by the next
    AWAITING_CONSENT = "awaiting_consent"  # consented; Entra propagates it (retried on a back-off)


class CredentialType(StrEnum):
    """How an app signs in: a client secret or a certificate kept in Key Vault, or the
    function app's managed identity as a federated credential (nothing kept at all)."""

    SECRET = "secret"  # noqa: S105 - a credential type, not a secret
    CERTIFICATE = "certificate"
    FEDERATED = "federated"


CREDENTIAL_TYPES = tuple(t.value for t in CredentialType)


@dataclass(frozen=True)
class Credential:
    """An app's credential: its type and, for a secret or a certificate, the name of the Key
    Vault secret that holds it (empty for ``federated``)."""

    type: CredentialType = CredentialType.SECRET
    key_vault_name: str = ""


@dataclass(frozen=True)
class AppConnection:
    """An app to sign in as, in the tenant a sync reads: its client ID, its credential and
    the scope of its tokens."""

    client_id: str
    credential: Credential
    scope: str


@dataclass(frozen=True)
class DirectoryConnection:
    """How to read one tenant's level-0 group (the admin's onboarding input, minus the secret)."""

    tenant_id: str
    client_id: str
    group_id: str  # empty while the tenant awaits its level-0 group (consented without one)
    scope: str
    secret_name: str  # the Key Vault name of its secret or certificate; empty if federated
    credential_type: CredentialType = CredentialType.SECRET

    @property
    def credential(self) -> Credential:
        return Credential(self.credential_type, self.secret_name)


@dataclass(frozen=True)
class DeviceConnection:
    """How to read a customer tenant's Intune data: the partner's multitenant inventory app."""

    tenant_id: str
    partner_tenant_id: str
    client_id: str
    secret_name: str  # the Key Vault name of its secret or certificate; empty if federated
    active: bool = True  # False once the partner relationship ended (kept, not deleted)
    excluded: bool = False
    unsupported_reason: str = ""
    credential_type: CredentialType = CredentialType.SECRET

    @property
    def credential(self) -> Credential:
        return Credential(self.credential_type, self.secret_name)


CUSTOMER_SOURCES = ("gdap", "partner-center", "list")


@dataclass
class PartnerConnection:
    """A partner's two apps and where its customer tenants come from (secrets in Key Vault)."""

    partner_tenant_id: str
    partner_client_id: str
    partner_secret_name: str
    inventory_client_id: str
    inventory_secret_name: str
    source: str  # one of CUSTOMER_SOURCES
    customers: tuple[str, ...] = ()  # the typed list, for source "list"
    include_partner_tenant: bool = False
    excluded: tuple[str, ...] = ()
    created_at: datetime | None = None
    partner_credential_type: CredentialType = CredentialType.SECRET
    inventory_credential_type: CredentialType = CredentialType.SECRET

    @property
    def partner_credential(self) -> Credential:
        return Credential(self.partner_credential_type, self.partner_secret_name)

    @property
    def inventory_credential(self) -> Credential:
        return Credential(self.inventory_credential_type, self.inventory_secret_name)


@dataclass
class SyncState:
    """A tenant's health for one kind of sync."""

    health: Health = Health.UNKNOWN
    health_since: datetime | None = None
    last_error_code: str = ""
    last_error: str = ""
    consecutive_failures: int = 0
    secret_expires_on: datetime | None = None
    quarantined_until: datetime | None = None
    fingerprint: str = ""  # digest of the last complete read that was fully written
    # When the stored records were last compared in full with a complete read: the
    # fingerprint is trusted only for a while after (storage that lost writes heals by it).
    verified_at: datetime | None = None


@dataclass
class TenantRecord:
    """A tenant as stored: its connections and, per kind of sync, its state."""

    tenant_id: str
    directory: DirectoryConnection | None = None
    display_name: str = ""
    enabled: bool = True
    created_at: datetime | None = None
    directory_state: SyncState = field(default_factory=SyncState)
    devices: DeviceConnection | None = None
    device_state: SyncState = field(default_factory=SyncState)
    organization: str = ""  # organization display name from Graph (device sync)
    default_domain: str = ""
    verified_domains: tuple[str, ...] = ()
    # The state of each other registered kind (functions.core.kinds), by its name.
    other_states: dict[str, SyncState] = field(default_factory=dict)

    def state(self, kind: SyncKind) -> SyncState:
        if kind == SyncKind.DIRECTORY:
            return self.directory_state
        if kind == SyncKind.DEVICES:
            return self.device_state
        return self.other_states.setdefault(kind, SyncState())

    def set_state(self, kind: SyncKind, state: SyncState) -> None:
        if kind == SyncKind.DIRECTORY:
            self.directory_state = state
        elif kind == SyncKind.DEVICES:
            self.device_state = state
        else:
            self.other_states[kind] = state

    # The directory state, read as the tenant's own (the directory sync came first).
    @property
    def health(self) -> Health:
        return self.directory_state.health

    @property
    def health_since(self) -> datetime | None:
        return self.directory_state.health_since

    @property
    def last_error_code(self) -> str:
        return self.directory_state.last_error_code

    @property
    def last_error(self) -> str:
        return self.directory_state.last_error

    @property
    def consecutive_failures(self) -> int:
        return self.directory_state.consecutive_failures

    @property
    def secret_expires_on(self) -> datetime | None:
        return self.directory_state.secret_expires_on

    @secret_expires_on.setter
    def secret_expires_on(self, value: datetime | None) -> None:
        self.directory_state.secret_expires_on = value


@dataclass
class ChangeCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_deleted: int = 0
    restored: int = 0

    def seen(self, new: Any, old: Any | None, out: list[Any], *, mark: str) -> None:
        """Count one record a complete or partial read found against its stored self, and
        collect it in ``out`` if it must be written.

        ``mark`` names the record's "gone" flag (deleted, retired, removed): a stored
        record carrying it is back, so the new record (without the mark) restores it.
        """
        if old is None:
            out.append(new)
            self.created += 1
        elif getattr(old, mark):
            out.append(new)
            self.restored += 1
        elif new != old:
            out.append(new)
            self.updated += 1
        else:
            self.unchanged += 1

    def add(self, other: ChangeCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.marked_deleted += other.marked_deleted
        self.restored += other.restored


@dataclass
class Run:
    """One sync of one tenant: what started it, how it ended, what it changed."""

    run_id: str
    tenant_id: str
    kind: SyncKind
    trigger: str  # a Trigger
    started_at: datetime
    status: RunStatus = RunStatus.RUNNING
    ended_at: datetime | None = None
    users: ChangeCounts = field(default_factory=ChangeCounts)
    groups: ChangeCounts = field(default_factory=ChangeCounts)
    memberships_added: int = 0
    memberships_removed: int = 0
    devices: ChangeCounts = field(default_factory=ChangeCounts)  # marked_deleted = retired
    apps: ChangeCounts = field(default_factory=ChangeCounts)  # detected and managed apps
    ignored: Counter[str] = field(default_factory=Counter)
    graph_requests: int = 0
    throttled: int = 0
    entities_written: int = 0
    transactions: int = 0
    # What the run used of its instance (functions/core/usage.py): its threads' CPU, and
    # the storage requests they sent, up to the save of its final record.
    cpu_ms: int = 0
    storage_operations: int = 0
    error_code: str = ""
    error: str = ""
    options: RunOptions = field(default_factory=RunOptions)
    # While running: until when the worker running it has promised to renew this (its
    # lease); past it, the run is taken as dead and closed by the next start or the timer.
    lease_until: datetime | None = None
    attempts: int = 0  # how many workers took it (more than one after a takeover)
    queued_at: datetime | None = None
    # The change-feed cursors before and after the changes it recorded ("" for none).
    changes_from: str = ""
    changes_to: str = ""

    @property
    def active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def totals(self) -> ChangeCounts:
        total = ChangeCounts()
        for counts in (self.users, self.groups, self.devices, self.apps):
            total.add(counts)
        return total

    @property
    def duration_ms(self) -> int:
        if self.ended_at is None:
            return 0
        return int((self.ended_at - self.started_at).total_seconds() * 1000)


@dataclass
class ConsentRequest:
    """An admin-consent link a portal asked for: which kind of sync it connects, through
    which app, for which tenant (empty: any tenant whose admin opens it), with which level-0
    group (directory, optional) or partner (a partner's customer), until when; once used,
    the tenant that consented and its first run."""

    consent_id: str  # the nonce the link's signed state carries
    kind: SyncKind
    client_id: str
    created_at: datetime
    expires_at: datetime
    tenant_id: str = ""
    group_id: str = ""
    partner_tenant_id: str = ""
    used_at: datetime | None = None
    consented_tenant_id: str = ""
    run_id: str = ""
