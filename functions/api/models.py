"""What the HTTP API reads and writes: pydantic models, and the domain records turned into them.

Inputs forbid unknown fields. Field names are camelCase, as portals expect in JSON. The
client secret is write-only: it has an input field and no output field anywhere.
"""

from __future__ import annotations

import re
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

from ..config import DEFAULT_GRAPH_SCOPE
from ..domain import ChangeCounts, GroupRecord, Health, Run, RunStatus, TenantRecord, UserRecord
from ..validation import is_guid

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


def _update_schema(schema: dict[str, Any]) -> None:
    # Absent means "unchanged"; null is refused (see _no_nulls), so the document says so.
    for prop in schema.get("properties", {}).values():
        kinds = [k for k in prop.pop("anyOf", []) if k != {"type": "null"}]
        if len(kinds) == 1:
            prop.update(kinds[0])
        prop.pop("default", None)
    schema["minProperties"] = 1
    schema["dependentRequired"] = {"secretExpiresOn": ["clientSecret"]}


class TenantUpdate(Input):
    """Fields to change; a field left out stays as it is.

    A change to the connection is tested first, with the new secret or else the saved one.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(v is None for v in data.values()):
            raise PydanticCustomError(
                "null_field", "null is not a value here: leave a field out to keep it"
            )
        return data

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


class Counts(BaseModel):
    created: int
    updated: int
    unchanged: int
    markedDeleted: int
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


class SyncStarted(BaseModel):
    runId: str
    tenantId: str
    kind: str
    status: RunStatus
    statusUrl: str = Field(description="GET it for the run's status and counts")


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
    )


def _counts(c: ChangeCounts) -> Counts:
    return Counts(created=c.created, updated=c.updated, unchanged=c.unchanged,
                  markedDeleted=c.marked_deleted, restored=c.restored)


def run_out(r: Run) -> RunOut:
    return RunOut(
        runId=r.run_id, tenantId=r.tenant_id, kind=r.kind, trigger=r.trigger, status=r.status,
        startedAt=r.started_at, endedAt=r.ended_at, users=_counts(r.users),
        groups=_counts(r.groups), membershipsAdded=r.memberships_added,
        membershipsRemoved=r.memberships_removed, ignored=dict(r.ignored),
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
