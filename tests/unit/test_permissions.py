"""The permission table: what each sync needs, and which granted permissions give it."""

from __future__ import annotations

import base64
import json

import pytest

from functions.core.permissions import (
    DEVICE_NEEDS,
    DIRECTORY_NEEDS,
    SATISFIED_BY,
    missing,
    token_roles,
)


def _token(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(("granted", "absent"), [
    ([], ["GroupMember.Read.All", "User.Read.All"]),
    (["GroupMember.Read.All"], ["User.Read.All"]),
    (["GroupMember.Read.All", "User.Read.All"], []),
    (["Directory.Read.All"], []),  # includes both
    (["Group.ReadWrite.All", "User.ReadWrite.All"], []),  # ReadWrite includes Read
    (["User.Read.All", "Device.Read.All"], ["GroupMember.Read.All"]),
])
def test_directory_needs(granted: list[str], absent: list[str]) -> None:
    assert missing(DIRECTORY_NEEDS, granted) == absent


def test_device_needs_accept_directory_read_for_the_organization() -> None:
    granted = ["Directory.Read.All", "DeviceManagementManagedDevices.Read.All",
               "DeviceManagementApps.ReadWrite.All"]
    assert missing(DEVICE_NEEDS, granted) == []
    assert missing(DEVICE_NEEDS, ["Organization.Read.All"]) == [
        "DeviceManagementManagedDevices.Read.All", "DeviceManagementApps.Read.All"]


def test_every_need_is_satisfied_by_itself_first() -> None:
    assert all(options[0] == need for need, options in SATISFIED_BY.items())


@pytest.mark.parametrize(("token", "roles"), [
    (_token({"roles": ["User.Read.All", "GroupMember.Read.All"]}),
     ["User.Read.All", "GroupMember.Read.All"]),
    (_token({"appid": "x"}), []),  # no admin consent: no roles claim
    (_token({"roles": "User.Read.All"}), []),
    ("not.a.jwt!", []),
    ("opaque", []),
])
def test_token_roles(token: str, roles: list[str]) -> None:
    assert token_roles(token) == roles
