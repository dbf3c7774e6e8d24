"""`revokeConsent` on a tenant's removal, over HTTP and on the command line: a tenant that
tenantsync consented nothing in is removed and nothing in its directory is touched; a
misspelt flag is refused before anything changes."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, assert_error
from tests.cli_tools import Cli
from tests.conftest import Harness


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def _directory(harness: Harness, tenant_id: str) -> dict[str, list[str]]:
    assert harness.sim is not None
    with harness.sim.state.lock:
        return {app: list(roles) for app, roles in
                harness.sim.state.world.tenants[tenant_id].roles.items()}


def test_revoke_consent_over_http_removes_a_tenant_tenantsync_consented_nothing_in(
        harness: Harness, api: Api) -> None:
    t = harness.start_onboarded()
    before = _directory(harness, t.id)
    assert_error(api.delete(f"/api/tenants/{t.id}?revokeConsents=true"), 400,
                 "unknown_parameter")
    assert harness.services.tenants.find(t.id) is not None
    r = api.delete(f"/api/tenants/{t.id}?revokeConsent=true")
    assert r.status_code == 204, r.text
    assert harness.services.tenants.find(t.id) is None
    assert _directory(harness, t.id) == before  # its admin's consent stays


def test_tenant_remove_revoke_consent_on_the_command_line(harness: Harness, cli: Cli) -> None:
    t = harness.start_onboarded()
    before = _directory(harness, t.id)
    removed = cli("tenant", "remove", "--tenant-id", t.id, "--revoke-consent")
    assert removed.code == 0, removed.err
    assert "removed in the customer's tenant what tenantsync had consented" in removed.out
    assert harness.services.tenants.find(t.id) is None
    assert _directory(harness, t.id) == before
