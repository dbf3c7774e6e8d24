"""The command line's errors are the API's: the same code, the same words, nothing changed."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, assert_error, connect_partner, stored, tenant_body
from tests.cli_tools import Cli
from tests.conftest import Harness
from tests.world import Partner, World


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.mark.slow
def test_adding_an_onboarded_tenant_is_the_apis_409_and_names_tenant_update(
    harness: Harness, world: World, api: Api, cli: Cli, monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = harness.start_onboarded()
    monkeypatch.setenv("T_SECRET", t.secret)
    before = stored(harness)
    refused = cli("tenant", "add", "--tenant-id", t.id, "--client-id", t.app_id,
                  "--group-id", t.level0, "--secret-env", "T_SECRET")
    assert refused.code == 2
    assert f"tenantsync tenant update --tenant-id {t.id}" in refused.error
    answer = assert_error(api.post("/api/tenants", json=tenant_body(t)), 409, "tenant_exists")
    assert refused.error == f"tenantsync: error: {answer['message']}"
    assert stored(harness) == before  # nothing overwritten, no new secret version


@pytest.mark.slow
def test_devices_of_deleted_users_without_a_directory_connection_is_the_apis_409(
    harness: Harness, world: World, api: Api, cli: Cli,
) -> None:
    partner = Partner(world)
    tid = partner.customer("Devices Only")
    harness.start()
    connect_partner(harness, partner, "gdap")
    harness.services.runner.run_one("devices", tid, "cli")
    refused = cli("devices", "--tenant-id", tid, "--user-deleted")
    assert (refused.code, refused.out) == (2, "")  # not "0 devices"
    answer = assert_error(api.get(f"/api/tenants/{tid}/devices", params={"userDeleted": True}),
                          409, "not_configured")
    assert refused.error == f"tenantsync: error: {answer['message']}"
    assert "directory connection" in refused.error
    assert len(cli("devices", "--tenant-id", tid, "--json").json()) == 3
