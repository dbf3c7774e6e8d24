"""Turning change notifications on: the setting, and what the connection test says of the
optional permission they need for groups."""

from __future__ import annotations

import pytest

from functions.core.config import Settings
from functions.core.errors import ConfigurationError
from functions.core.sensitive import SecretValue
from tests.conftest import Harness
from tests.notify_helpers import NOTIFY_ROLES
from tests.world import World, seed_example


@pytest.mark.parametrize(("given", "kept"), [
    (None, None),
    ("https://tenantsync.azurewebsites.net/", "https://tenantsync.azurewebsites.net"),
    ("https://api.example.com:8443", "https://api.example.com:8443"),
    ("http://127.0.0.1:7071", "http://127.0.0.1:7071"),  # the local stack, on loopback
])
def test_the_notification_url_is_an_https_base(given: str | None, kept: str | None) -> None:
    env = {} if given is None else {"TENANTSYNC_NOTIFICATION_URL": given}
    assert Settings.from_env(env).notification_url == kept


@pytest.mark.parametrize("given", ["http://tenantsync.example.com", "ftp://x.example",
                                   "https://x.example/api?x=1", "https://x.example/path"])
def test_anything_else_is_a_configuration_error(given: str) -> None:
    with pytest.raises(ConfigurationError, match="TENANTSYNC_NOTIFICATION_URL"):
        Settings.from_env({"TENANTSYNC_NOTIFICATION_URL": given})


@pytest.mark.parametrize(("roles", "notified", "noted"), [
    (None, True, True),  # GroupMember.Read.All and User.Read.All only
    (NOTIFY_ROLES, True, False),
    (None, False, False),  # notifications off: nothing to say
])
def test_the_connection_test_names_the_optional_permission(
        harness: Harness, world: World, roles: list[str] | None, notified: bool,
        noted: bool) -> None:
    t, _ = seed_example(world)
    if roles:
        t.data["service_principals"][t.app_id]["roles"] = list(roles)
    harness.start(**({"TENANTSYNC_NOTIFICATION_URL": "https://app.example"} if notified else {}))
    check = harness.services.onboarding.check_directory(
        t.id, t.app_id, SecretValue(t.secret), t.level0, "https://graph.microsoft.com/.default")
    assert check.group_name  # the test passed either way: the permission is optional
    assert bool(check.notes) == noted
    assert all("Group.Read.All" in note for note in check.notes)
