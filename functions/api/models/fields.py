"""Value types of the API's inputs, checked where they are parsed: a bad value never
reaches the services."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from functions.core.model import CREDENTIAL_TYPES, CUSTOMER_SOURCES, RUN_ID_PATTERN, is_run_id
from functions.core.validation import is_guid


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


def _run_id(value: str) -> str:
    if not is_run_id(value):
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


APP_ID_PATTERN = r"^[0-9A-Za-z._-]{1,200}$"


_APP_ID = re.compile(APP_ID_PATTERN)


def _app_id(value: str) -> str:
    if not _APP_ID.match(value):
        raise PydanticCustomError(
            "invalid_app_id",
            "must be a detected app ID: 1 to 200 letters, digits, '.', '_' or '-'")
    return value


# A detected app's id (Intune's are long hex strings).
AppId = Annotated[
    str, AfterValidator(_app_id), WithJsonSchema({"type": "string", "pattern": APP_ID_PATTERN})
]


def _one_of(values: tuple[str, ...], code: str) -> tuple[AfterValidator, WithJsonSchema]:
    """The validator (a 400 with ``code`` naming the choices) and schema of a string that
    must be one of ``values``."""

    def check(value: str) -> str:
        if value not in values:
            raise PydanticCustomError(code, f"must be one of {', '.join(values)}")
        return value

    return AfterValidator(check), WithJsonSchema({"type": "string", "enum": list(values)})


_SOURCE_CHECK, _SOURCE_SCHEMA = _one_of(CUSTOMER_SOURCES, "invalid_source")
Source = Annotated[str, _SOURCE_CHECK, _SOURCE_SCHEMA]


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


_CREDENTIAL_CHECK, _CREDENTIAL_SCHEMA = _one_of(CREDENTIAL_TYPES,
                                               "invalid_credential_type")
CredentialTypeName = Annotated[str, _CREDENTIAL_CHECK, _CREDENTIAL_SCHEMA]
