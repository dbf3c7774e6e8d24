"""Checks on identifiers that come from people and portals."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from functions.core.errors import InputError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Table Storage forbids / \ # ? and control characters in keys (PartitionKey/RowKey).
_FORBIDDEN_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
MAX_KEY_LENGTH = 512  # Azurite's limit; Azure allows 1 KiB.


def guid(value: object, what: str) -> str:
    """Return ``value`` as a lower-case GUID string.

    Raises:
        InputError: when ``value`` is not a GUID, naming ``what`` it should have been.
    """
    if not isinstance(value, str) or not _GUID.match(value.strip()):
        shown = value if isinstance(value, str) and len(value) <= 80 else "<value>"
        raise InputError(
            f"{what} must be a GUID like 00000000-0000-0000-0000-000000000000, got {shown!r}",
            code="invalid_guid",
        )
    return value.strip().lower()


def is_guid(value: object) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def table_key(value: str, what: str) -> str:
    """Return ``value`` if it can be a PartitionKey or RowKey, else raise InputError."""
    if not value or len(value) > MAX_KEY_LENGTH or _FORBIDDEN_KEY_CHARS.search(value):
        raise InputError(f"{what} cannot be used as a table key", code="invalid_key")
    return value


def scope(value: str) -> str:
    """Check an OAuth scope for the client-credentials flow (``<resource>/.default``)."""
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc or not value.endswith("/.default"):
        raise InputError(
            f"scope must look like https://graph.microsoft.com/.default, got {value!r}",
            code="invalid_scope",
        )
    return value
