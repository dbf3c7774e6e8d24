"""Validation helpers shared by the fixture parser and the control API.

Every helper raises FixtureError with a one-line message that starts with the path of the
offending value (for example `tenants.<id>.intune.managed_devices.<id>.isEncrypted: ...`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NoReturn

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class FixtureError(ValueError):
    """A fixture or a control request is invalid. The message is one line naming the path."""


def fail(path: str, message: str) -> NoReturn:
    """Raise a FixtureError for `path`."""
    raise FixtureError(f"{path}: {message}")


def is_guid(value: object) -> bool:
    return isinstance(value, str) and _GUID.match(value) is not None


def guid(value: object, path: str) -> str:
    """Return `value` in lower case if it is a GUID string, else raise FixtureError."""
    if not is_guid(value):
        fail(path, f"not a GUID: {show(value)}")
    assert isinstance(value, str)
    return value.lower()


def mapping(value: object, path: str, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Return `value` if it is a JSON object (with only `allowed` keys, when given)."""
    if not isinstance(value, dict):
        fail(path, f"must be an object, not {type_name(value)}")
    if allowed is not None:
        for key in value:
            if key not in allowed:
                fail(path, f"unknown key '{key}' (expected one of: {', '.join(allowed)})")
    return value


def as_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        fail(path, f"must be a list, not {type_name(value)}")
    return value


def text(value: object, path: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value):
        fail(path, "must be a non-empty string")
    return value


def boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        fail(path, "must be true or false")
    return value


def integer(value: object, path: str, minimum: int, maximum: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        upper = f" to {maximum}" if maximum is not None else " or more"
        fail(path, f"must be an integer from {minimum}{upper}")
    return value


def number(value: object, path: str, minimum: float, maximum: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not minimum <= value <= maximum
    ):
        fail(path, f"must be a number from {minimum:g} to {maximum:g}")
    return float(value)


def show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)


def parse_time(value: object, path: str) -> datetime:
    """Parse an ISO 8601 time with a time zone (e.g. 2027-05-01T00:00:00Z)."""
    raw = text(value, path)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        fail(path, f"not an ISO 8601 time: {show(raw)}")
    if parsed.tzinfo is None:
        fail(path, "time needs a time zone (e.g. a trailing Z)")
    return parsed
