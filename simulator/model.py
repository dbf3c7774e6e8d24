"""The simulated world: applications, tenants and their directory objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .collection import Collection
from .delta_log import DeltaLog
from .inventory import EMPTY_LINKS, AppLinks

# Kinds of directory objects, as named in the fixture and the control API.
KINDS = ("users", "groups", "devices", "contacts")

DEFAULT_TOKEN_LIFETIME = 3599


@dataclass
class AppSecret:
    """One client secret (password credential) of an application."""

    id: str
    value: str = field(repr=False)
    expires: datetime | None


@dataclass(frozen=True)
class AppCertificate:
    """A certificate credential (keyCredential): the public certificate and its thumbprints."""

    id: str
    public_key: Any  # cryptography RSAPublicKey
    sha1: bytes  # x5t is the base64url SHA-1 of the DER certificate (RFC 7515 4.1.7)
    sha256: bytes  # x5t#S256: the same with SHA-256 (RFC 7515 4.1.8)
    expires: datetime  # the keyCredential's endDateTime: `expires`, else the cert's notAfter


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential: tokens from `issuer` about `subject` for `audience`."""

    issuer: str
    subject: str
    audience: str  # Graph allows exactly one audience per credential
    name: str = ""
    visible_at: float = 0.0  # time.time() from which the token endpoint sees it (propagation)


@dataclass
class Application:
    """An app registration: its client id, home tenant and credentials."""

    client_id: str
    home_tenant: str
    display_name: str
    secrets: list[AppSecret]
    multitenant: bool = False
    certificates: list[AppCertificate] = field(default_factory=list)
    federated_credentials: list[FederatedCredential] = field(default_factory=list)
    required_roles: list[str] = field(default_factory=list)  # application permissions requested
    redirect_uris: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ManagedIdentity:
    """A user-assigned managed identity the simulated Functions host holds."""

    client_id: str
    principal_id: str  # the object id of its service principal: the `sub` of its tokens
    home_tenant: str


@dataclass
class DirectoryObject:
    """A user, group, device or contact; `props` holds its Graph properties (with `id`)."""

    kind: str
    props: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.props["id"])


@dataclass
class Tenant:
    """A directory: its objects, group memberships and service principals (with roles)."""

    id: str
    display_name: str
    roles: dict[str, list[str]]  # client id -> application roles granted (admin consent)
    objects: dict[str, DirectoryObject]
    members: dict[str, list[str]]  # group id -> direct member ids, in insertion order
    organization: dict[str, Any] | None = None  # the Graph organization object (None: default)
    intune: Intune | None = None  # None: the tenant has no Intune licence
    gdap: Gdap | None = None  # delegated admin customers and relationships (partner side)
    partner_center: PartnerCenter | None = None  # Partner Center customers (partner side)
    admin_consent: str = "accept"  # what the tenant's admin answers at /adminconsent
    delta: DeltaLog = field(default_factory=DeltaLog)  # changes since start: users/groups delta


@dataclass(frozen=True)
class Intune:
    """A tenant's Intune data: rendered Graph items, never changed in place (replaced whole)."""

    licensed: bool
    devices: Collection  # managedDevice, as listed (list-hidden properties at their default)
    hidden: dict[str, dict[str, Any]]  # device id -> real values of its list-hidden properties
    detected_apps: Collection
    mobile_apps: Collection
    links: AppLinks = EMPTY_LINKS  # which detected apps each device has (by position)
    report_columns: dict[str, dict[str, str]] = field(default_factory=dict)  # by device id
    counted_apps: frozenset[str] = frozenset()  # apps whose deviceCount the fixture gave


@dataclass(frozen=True)
class Gdap:
    """Delegated admin customers and relationships of a partner tenant (rendered)."""

    customers: Collection
    relationships: Collection
    by_status: dict[str, Collection]  # relationships with one status, for $filter=status eq


@dataclass(frozen=True)
class PartnerCenter:
    """A partner's Partner Center customers (rendered) and the apps allowed to call it."""

    customers: Collection
    app_access: frozenset[str] | None  # client ids; None: every app installed in the tenant


@dataclass(frozen=True)
class ThrottleConfig:
    """Intune request budgets per (app, tenant) and category, and the directory's budget per
    app across all tenants, over a sliding window."""

    enabled: bool = True
    window_seconds: float = 20.0
    devices_per_window: int = 2000  # managedDevices + detectedApps
    apps_per_window: int = 1000  # mobileApps
    # Graph's identity and access budget per app across tenants: 150,000 RU per 20 s, a
    # members page 3 RU (2 with $select): about 50,000 requests, counted as requests here.
    directory_app_per_window: int = 50_000


@dataclass(frozen=True)
class ExportConfig:
    """How export jobs progress; the fixture's `export_jobs` (or `set_export_jobs`)."""

    advance: str = "polls"  # "polls": by GETs of the job; "seconds": by time since creation
    not_started: float = 0.0  # polls (or seconds) the job is notStarted ...
    in_progress: float = 1.0  # ... then inProgress, then done
    outcome: str = "completed"  # or "failed"
    # The documented example's URL expires 6 hours after the job was requested.
    url_lifetime_seconds: float = 21600.0
    # Accept the Read.All permissions for creating a job, as the real service did in 2023
    # (msgraph-sdk-powershell issue #2081); the v1.0 page documents ReadWrite.All only.
    read_permissions_create: bool = False


@dataclass
class VaultSeed:
    """A secret the vault holds at start-up."""

    value: str = field(repr=False)
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """Everything a fixture describes, validated and with ids in lower case."""

    applications: dict[str, Application]
    tenants: dict[str, Tenant]
    vault_principals: list[str]
    vault_secrets: dict[str, VaultSeed]
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    throttling: ThrottleConfig = field(default_factory=ThrottleConfig)
    managed_identities: dict[str, ManagedIdentity] = field(default_factory=dict)
    signed_in_admin_tenant: str | None = None  # whose admin answers /organizations|common
    federation_delay: float = 0.0  # seconds before a federated credential added later works
    export_jobs: ExportConfig = field(default_factory=ExportConfig)
