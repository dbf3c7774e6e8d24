"""What the HTTP API reads and writes: pydantic models, and the domain records turned into them.

Inputs forbid unknown fields. Field names are camelCase, as portals expect in JSON. The
client secret is write-only: it has an input field and no output field anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from functions.core.config import DEFAULT_GRAPH_SCOPE
from functions.core.model import (
    CUSTOMER_SOURCES,
    ChangeCounts,
    Health,
    PartnerConnection,
    Run,
    RunStatus,
    TenantRecord,
)
from functions.core.validation import is_guid
from functions.devices.model import DetectedAppRecord, DeviceRecord, ManagedAppRecord
from functions.directory.model import GroupRecord, UserRecord
from functions.partners import Discovery

# --- value types: checked here, so a bad value never reaches the services ---------------


def _guid(value: str) -> str:
    # The value is not echoed: a secret pasted into the wrong field must not come back.
    if not is_guid(value.strip()):
        raise PydanticCustomError(
            "invalid_guid", "must be a GUID like 00000000-0000-0000-0000-000000000000"
        )
    return value.strip().lower()


Guid = Annotated[
    str, AfterValidator(_guid), WithJsonSchema({"type": "string", "format": "uuid"})
]

_SCOPE_PATTERN = r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*/\.default$"
_SCOPE = re.compile(_SCOPE_PATTERN)


def _scope(value: str) -> str:
    if len(value) > 256 or not _SCOPE.match(value):
        raise PydanticCustomError(
            "invalid_scope", "must look like https://graph.microsoft.com/.default"
        )
    return value


Scope = Annotated[
    str, AfterValidator(_scope),
    WithJsonSchema({"type": "string", "maxLength": 256, "pattern": _SCOPE_PATTERN}),
]

RUN_ID_PATTERN = r"^[0-9]{13}-[0-9a-f]{8}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def _run_id(value: str) -> str:
    if not _RUN_ID.match(value):
        raise PydanticCustomError(
            "invalid_run_id", "must be a run ID like 8217623300000-0a1b2c3d"
        )
    return value


RunId = Annotated[
    str, AfterValidator(_run_id), WithJsonSchema({"type": "string", "pattern": RUN_ID_PATTERN})
]


def _prefix(value: str) -> str:
    if not value or len(value) > 256 or not value.isprintable():
        raise PydanticCustomError(
            "invalid_filter", "must be 1 to 256 printable characters"
        )
    return value


Prefix = Annotated[
    str, AfterValidator(_prefix),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 256}),
]
# An exact-match filter value (compliance state, operating system): same rules as a prefix.
FilterValue = Prefix


def _source(value: str) -> str:
    if value not in CUSTOMER_SOURCES:
        raise PydanticCustomError(
            "invalid_source", f"must be one of {', '.join(CUSTOMER_SOURCES)}"
        )
    return value


Source = Annotated[
    str, AfterValidator(_source),
    WithJsonSchema({"type": "string", "enum": list(CUSTOMER_SOURCES)}),
]
MAX_TENANT_IDS = 1000  # customers or excluded tenants of one partner connection

KIND_PATTERN = r"^[a-z]{1,32}$"
Kind = Annotated[str, Field(pattern=KIND_PATTERN)]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    # pydantic would also take a number as a Unix time; an API caller means ISO 8601.
    if not isinstance(value, str | datetime) or (
        isinstance(value, str) and not _ISO_DATE.match(value)
    ):
        raise PydanticCustomError(
            "invalid_time", "must be an ISO 8601 date or time like 2027-05-31T00:00:00Z"
        )
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_only)]


def utc(value: datetime | None) -> datetime | None:
    """A time as given, or in UTC when the caller gave no zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# --- inputs ------------------------------------------------------------------------------


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(Input):
    """A tenant's directory connection, tested (a token, then the group) before it is saved."""

    tenantId: Guid = Field(description="Directory (tenant) ID")
    clientId: Guid = Field(description="Application (client) ID of the tenant's app")
    clientSecret: SecretStr = Field(
        min_length=1, max_length=1024,
        description="The client secret's **Value** (not its ID). Write-only: kept in Key "
                    "Vault, never returned.",
    )
    groupId: Guid = Field(description="Object ID of the level-0 security group")
    scope: Scope = Field(default=DEFAULT_GRAPH_SCOPE, description="OAuth scope for Graph")
    secretExpiresOn: Timestamp | None = Field(
        default=None, description="When the secret expires, for expiry warnings (UTC if no zone)"
    )


def _update_schema(dependent: dict[str, list[str]]) -> Callable[[dict[str, Any]], None]:
    """The JSON schema of an update: ``dependent`` maps an expiry to the secret it needs."""

    def apply(schema: dict[str, Any]) -> None:
        # Absent means "unchanged"; null is refused (see _no_nulls), so the document says so.
        for prop in schema.get("properties", {}).values():
            kinds = [k for k in prop.pop("anyOf", []) if k != {"type": "null"}]
            if len(kinds) == 1:
                prop.update(kinds[0])
            prop.pop("default", None)
        schema["minProperties"] = 1
        schema["dependentRequired"] = dependent

    return apply


class UpdateInput(Input):
    """Fields to change: a field left out stays as it is, and null is refused."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(v is None for v in data.values()):
            raise PydanticCustomError(
                "null_field", "null is not a value here: leave a field out to keep it"
            )
        return data


class TenantUpdate(UpdateInput):
    """Fields to change; a field left out stays as it is.

    A change to the connection is tested first, with the new secret or else the saved one.
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_update_schema({"secretExpiresOn": ["clientSecret"]})
    )

    clientId: Guid | None = None
    groupId: Guid | None = None
    scope: Scope | None = None
    clientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A new client secret's Value: saved as a new Key Vault version, used "
                    "from the next token request. Write-only.",
    )
    secretExpiresOn: Timestamp | None = Field(
        default=None, description="Expiry of the new clientSecret (only together with it)"
    )
    enabled: StrictBool | None = Field(
        default=None, description="false leaves the tenant out of scheduled syncs"
    )


_PARTNER_APP_KEY_DOC = ("The partner app's client secret **Value** (the app that lists "
                           "customers). Write-only: kept in Key Vault, never returned.")
_INVENTORY_APP_KEY_DOC = ("The inventory app's client secret **Value** (the multitenant "
                             "app that reads Intune). Write-only: kept in Key Vault, never "
                             "returned.")
_CUSTOMERS = "Customer tenant IDs, for source `list` only"
_EXCLUDED = "Customer tenant IDs never to query (kept as excluded)"


def _customers_only_for_list(source: str | None, customers: list[str] | None) -> None:
    if customers and source is not None and source != "list":
        raise PydanticCustomError(
            "customers_not_for_source",
            "customers is only for source 'list'; gdap and partner-center find them",
        )


class PartnerCreate(Input):
    """A partner connection: its two apps (tested before anything is saved) and where its
    customer tenants come from."""

    partnerTenantId: Guid = Field(description="The partner's own tenant ID")
    partnerClientId: Guid = Field(description="Client ID of the app that lists customers")
    partnerClientSecret: SecretStr = Field(min_length=1, max_length=1024,
                                           description=_PARTNER_APP_KEY_DOC)
    inventoryClientId: Guid = Field(
        description="Client ID of the multitenant app that reads customers' Intune data")
    inventoryClientSecret: SecretStr = Field(min_length=1, max_length=1024,
                                             description=_INVENTORY_APP_KEY_DOC)
    source: Source = Field(description="Where customers come from: GDAP relationships, "
                                       "Partner Center, or the `customers` list")
    customers: list[Guid] = Field(default_factory=list, max_length=MAX_TENANT_IDS,
                                  description=_CUSTOMERS)
    includePartnerTenant: StrictBool = Field(
        default=False, description="Sync the partner's own tenant's devices too")
    excluded: list[Guid] = Field(default_factory=list, max_length=MAX_TENANT_IDS,
                                 description=_EXCLUDED)
    partnerSecretExpiresOn: Timestamp | None = Field(
        default=None, description="When the partner app's secret expires (UTC if no zone)")
    inventorySecretExpiresOn: Timestamp | None = Field(
        default=None, description="When the inventory app's secret expires (UTC if no zone)")

    @model_validator(mode="after")
    def _customers_for_list(self) -> PartnerCreate:
        _customers_only_for_list(self.source, self.customers)
        return self


class PartnerUpdate(UpdateInput):
    """Fields to change; a field left out stays as it is. Both apps are tested again (with
    the new secrets or else the saved ones) before anything changes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema({
        "partnerSecretExpiresOn": ["partnerClientSecret"],
        "inventorySecretExpiresOn": ["inventoryClientSecret"],
    }))

    partnerClientId: Guid | None = None
    partnerClientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A new secret Value of the partner app: a new Key Vault version. "
                    "Write-only.")
    partnerSecretExpiresOn: Timestamp | None = Field(
        default=None, description="Expiry of the new partnerClientSecret (only with it)")
    inventoryClientId: Guid | None = None
    inventoryClientSecret: SecretStr | None = Field(
        default=None, min_length=1, max_length=1024,
        description="A new secret Value of the inventory app: a new Key Vault version, used "
                    "from the next token request. Write-only.")
    inventorySecretExpiresOn: Timestamp | None = Field(
        default=None, description="Expiry of the new inventoryClientSecret (only with it)")
    source: Source | None = None
    customers: list[Guid] | None = Field(default=None, max_length=MAX_TENANT_IDS,
                                         description=_CUSTOMERS + " (replaces the list)")
    includePartnerTenant: StrictBool | None = None
    excluded: list[Guid] | None = Field(default=None, max_length=MAX_TENANT_IDS,
                                        description=_EXCLUDED + " (replaces the list)")

    @model_validator(mode="after")
    def _customers_for_list(self) -> PartnerUpdate:
        _customers_only_for_list(self.source, self.customers)
        return self


# --- outputs -----------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code (see docs/api.md)")
    message: str = Field(description="What went wrong and how to fix it")
    runId: str | None = Field(default=None, description="The run in the way (409 only)")


class ErrorBody(BaseModel):
    error: ErrorDetail


class DirectoryConnectionOut(BaseModel):
    clientId: str
    groupId: str
    scope: str


class DeviceSide(BaseModel):
    """A tenant's device connection (through a partner) and the device sync's state."""

    partnerTenantId: str
    active: bool = Field(description="false once the partner relationship ended (data kept)")
    excluded: bool = Field(description="The partner connection excludes it: never queried")
    unsupportedReason: str | None = Field(description="Why its devices cannot be read")
    organization: str | None = Field(description="Organization name, from the device sync")
    defaultDomain: str | None
    verifiedDomains: list[str]
    health: Health
    healthSince: datetime | None
    lastErrorCode: str | None
    lastError: str | None
    consecutiveFailures: int
    quarantinedUntil: datetime | None = Field(
        description="Scheduled syncs skip the tenant until then")
    secretExpiresOn: datetime | None = Field(description="Of the partner's inventory app")


class Tenant(BaseModel):
    tenantId: str
    displayName: str = Field(description="Name of the level-0 group")
    enabled: bool
    health: Health
    healthSince: datetime | None
    secretExpiresOn: datetime | None
    lastErrorCode: str | None
    lastError: str | None
    consecutiveFailures: int
    createdAt: datetime | None
    directory: DirectoryConnectionOut | None
    devices: DeviceSide | None = Field(
        description="Device connection and sync state; null without a device connection")


class Counts(BaseModel):
    created: int
    updated: int
    unchanged: int
    markedDeleted: int
    restored: int


class DeviceCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    retired: int = Field(description="Gone from Intune: kept, marked retired")
    restored: int


class AppCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    removed: int = Field(description="Gone from Intune: kept, marked removed")
    restored: int


class RunOut(BaseModel):
    runId: str
    tenantId: str
    kind: str
    trigger: str
    status: RunStatus
    startedAt: datetime
    endedAt: datetime | None
    users: Counts
    groups: Counts
    membershipsAdded: int
    membershipsRemoved: int
    devices: DeviceCounts = Field(description="Device runs: managed devices")
    apps: AppCounts = Field(description="Device runs: detected and managed apps")
    ignored: dict[str, int] = Field(description="Members not imported, by reason")
    graphRequests: int
    throttled: int
    entitiesWritten: int
    transactions: int
    errorCode: str | None
    error: str | None


class User(BaseModel):
    id: str = Field(description="Entra object ID")
    displayName: str
    email: str | None = Field(description="Entra `mail`; null for an anonymous user")
    upn: str
    anonymous: bool
    direct: bool = Field(description="A direct member of the level-0 group")
    azureIdDeleted: bool = Field(description='"Azure ID: deleted": left the level-0 group')
    deletedAt: datetime | None


class Group(BaseModel):
    id: str = Field(description="Entra object ID of a level-1 group")
    displayName: str
    azureIdDeleted: bool
    deletedAt: datetime | None


class Device(BaseModel):
    """A managed device as the last device sync stored it (all of its fields)."""

    model_config = ConfigDict(extra="forbid")  # device_out fails loudly on a new field

    id: str = Field(description="Intune managed device ID")
    name: str
    serialNumber: str | None = Field(
        description="Trimmed and upper-cased; null when empty or a placeholder like "
                    "'To Be Filled By O.E.M.'")
    manufacturer: str | None
    model: str | None
    operatingSystem: str | None
    osVersion: str | None
    ownerType: str | None = Field(description="company or personal")
    enrolledAt: str | None = Field(description="As Intune gives it (ISO 8601)")
    lastSyncAt: str | None = Field(description="As Intune gives it (ISO 8601)")
    complianceState: str | None
    managementAgent: str | None
    azureAdDeviceId: str | None
    userId: str | None = Field(description="Primary user's Entra object ID")
    userUpn: str | None
    userEmail: str | None
    userDisplayName: str | None
    imei: str | None
    meid: str | None
    wifiMac: str | None
    ethernetMac: str | None
    totalStorageBytes: int | None
    freeStorageBytes: int | None
    isEncrypted: bool | None
    retired: bool = Field(description="Gone from Intune (kept, never deleted)")
    retiredAt: datetime | None


class DetectedApp(BaseModel):
    id: str = Field(description="Intune detected app ID")
    name: str
    version: str | None
    publisher: str | None
    platform: str | None
    deviceCount: int | None = Field(description="Devices it was detected on")
    sizeBytes: int | None
    removed: bool = Field(description="No longer detected (kept)")
    removedAt: datetime | None


class ManagedApp(BaseModel):
    id: str = Field(description="Intune mobile app ID")
    name: str
    type: str = Field(description="App type, e.g. win32LobApp, iosStoreApp")
    publisher: str | None
    removed: bool = Field(description="No longer in Intune (kept)")
    removedAt: datetime | None


class Partner(BaseModel):
    """A partner connection (never its secrets)."""

    partnerTenantId: str
    partnerClientId: str
    inventoryClientId: str
    source: str = Field(description="gdap, partner-center or list")
    customers: list[str] = Field(description="The typed list (source `list`)")
    includePartnerTenant: bool
    excluded: list[str]
    createdAt: datetime | None


class Customer(BaseModel):
    tenantId: str
    name: str
    unsupportedReason: str | None


class Problem(BaseModel):
    code: str
    message: str


class Page(BaseModel):
    continuationToken: str | None = Field(
        description="Pass it back to get the next page; null on the last page. A page can "
                    "hold fewer items than pageSize while more follow."
    )


class TenantPage(Page):
    items: list[Tenant]


class RunPage(Page):
    items: list[RunOut]


class UserPage(Page):
    items: list[User]


class GroupPage(Page):
    items: list[Group]


class DevicePage(Page):
    items: list[Device]


class DetectedAppPage(Page):
    items: list[DetectedApp]


class ManagedAppPage(Page):
    items: list[ManagedApp]


class PartnerPage(Page):
    items: list[Partner]


class SyncStarted(BaseModel):
    runId: str
    tenantId: str
    kind: str
    status: RunStatus
    statusUrl: str = Field(description="GET it for the run's status and counts")


class DiscoveryOut(BaseModel):
    """What a discovery found and did, and the device syncs it queued."""

    partnerTenantId: str
    found: list[Customer] = Field(description="Customers the source lists now")
    new: list[str] = Field(description="New customers: a first device sync is queued")
    reactivated: list[str]
    inactive: list[str] = Field(description="No longer listed: kept, no longer synced")
    excluded: list[str]
    unsupported: list[str]
    queued: list[SyncStarted] = Field(
        description="The device sync of each new customer (or the one already under way)")


class PartnerSaved(Partner):
    """A saved partner connection and what the discovery that followed found and queued."""

    discovery: DiscoveryOut | None = Field(description="Null when the discovery failed")
    discoveryError: Problem | None = Field(
        description="Why the discovery failed (the connection is saved: fix it, then POST "
                    "/partners/{partnerTenantId}/discover)")


class ComponentHealth(BaseModel):
    status: Literal["ok", "unavailable"]
    code: str | None = Field(default=None, description="Error code when unavailable")


class HealthReport(BaseModel):
    status: Literal["ok", "unavailable"]
    storage: ComponentHealth
    keyVault: ComponentHealth

    @property
    def http_status(self) -> int:
        return 200 if self.status == "ok" else 503


# --- domain -> output --------------------------------------------------------------------


def tenant_out(t: TenantRecord) -> Tenant:
    d = t.directory
    return Tenant(
        tenantId=t.tenant_id, displayName=t.display_name, enabled=t.enabled, health=t.health,
        healthSince=t.health_since, secretExpiresOn=t.secret_expires_on,
        lastErrorCode=t.last_error_code or None, lastError=t.last_error or None,
        consecutiveFailures=t.consecutive_failures, createdAt=t.created_at,
        directory=None if d is None else DirectoryConnectionOut(
            clientId=d.client_id, groupId=d.group_id, scope=d.scope
        ),
        devices=_device_side(t),
    )


def _device_side(t: TenantRecord) -> DeviceSide | None:
    d, s = t.devices, t.device_state
    if d is None:
        return None
    return DeviceSide(
        partnerTenantId=d.partner_tenant_id, active=d.active, excluded=d.excluded,
        unsupportedReason=d.unsupported_reason or None, organization=t.organization or None,
        defaultDomain=t.default_domain or None, verifiedDomains=list(t.verified_domains),
        health=s.health, healthSince=s.health_since, lastErrorCode=s.last_error_code or None,
        lastError=s.last_error or None, consecutiveFailures=s.consecutive_failures,
        quarantinedUntil=s.quarantined_until, secretExpiresOn=s.secret_expires_on,
    )


def _counts(c: ChangeCounts) -> Counts:
    return Counts(created=c.created, updated=c.updated, unchanged=c.unchanged,
                  markedDeleted=c.marked_deleted, restored=c.restored)


def _device_counts(c: ChangeCounts) -> DeviceCounts:
    return DeviceCounts(created=c.created, updated=c.updated, unchanged=c.unchanged,
                        retired=c.marked_deleted, restored=c.restored)


def _app_counts(c: ChangeCounts) -> AppCounts:
    return AppCounts(created=c.created, updated=c.updated, unchanged=c.unchanged,
                     removed=c.marked_deleted, restored=c.restored)


def run_out(r: Run) -> RunOut:
    return RunOut(
        runId=r.run_id, tenantId=r.tenant_id, kind=r.kind, trigger=r.trigger, status=r.status,
        startedAt=r.started_at, endedAt=r.ended_at, users=_counts(r.users),
        groups=_counts(r.groups), membershipsAdded=r.memberships_added,
        membershipsRemoved=r.memberships_removed, devices=_device_counts(r.devices),
        apps=_app_counts(r.apps), ignored=dict(r.ignored),
        graphRequests=r.graph_requests, throttled=r.throttled,
        entitiesWritten=r.entities_written, transactions=r.transactions,
        errorCode=r.error_code or None, error=r.error or None,
    )


def user_out(u: UserRecord) -> User:
    return User(id=u.id, displayName=u.display_name, email=u.email, upn=u.upn,
                anonymous=u.anonymous, direct=u.direct, azureIdDeleted=u.deleted,
                deletedAt=u.deleted_at)


def group_out(g: GroupRecord) -> Group:
    return Group(id=g.id, displayName=g.display_name, azureIdDeleted=g.deleted,
                 deletedAt=g.deleted_at)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def device_out(d: DeviceRecord) -> Device:
    return Device(**{_camel(name): getattr(d, name) for name in d.__slots__})


def detected_app_out(a: DetectedAppRecord) -> DetectedApp:
    return DetectedApp(id=a.id, name=a.name, version=a.version, publisher=a.publisher,
                       platform=a.platform, deviceCount=a.device_count, sizeBytes=a.size_bytes,
                       removed=a.removed, removedAt=a.removed_at)


def managed_app_out(a: ManagedAppRecord) -> ManagedApp:
    return ManagedApp(id=a.id, name=a.name, type=a.app_type, publisher=a.publisher,
                      removed=a.removed, removedAt=a.removed_at)


def partner_out(p: PartnerConnection) -> Partner:
    return Partner(
        partnerTenantId=p.partner_tenant_id, partnerClientId=p.partner_client_id,
        inventoryClientId=p.inventory_client_id, source=p.source, customers=list(p.customers),
        includePartnerTenant=p.include_partner_tenant, excluded=list(p.excluded),
        createdAt=p.created_at,
    )


def discovery_out(d: Discovery, queued: list[SyncStarted]) -> DiscoveryOut:
    return DiscoveryOut(
        partnerTenantId=d.partner_tenant_id,
        found=[Customer(tenantId=c.tenant_id, name=c.name,
                        unsupportedReason=c.unsupported_reason or None) for c in d.found],
        new=list(d.new), reactivated=list(d.reactivated), inactive=list(d.inactive),
        excluded=list(d.excluded), unsupported=list(d.unsupported), queued=queued,
    )
