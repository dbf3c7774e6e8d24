"""The command line does what the API does: every API operation has a command, and its
``--json`` prints what the API answers for the same record (the one projection of each)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.api.app import ROUTERS
from functions.cli.parser import operations
from tests.api.conftest import Api, assert_error
from tests.cli_tools import Cli, Result
from tests.conftest import Harness
from tests.world import Partner, World, seed_example


def api_operations() -> set[str]:
    """Every API operation, by its route function's name (stable, unlike operation ids)."""
    return {route.endpoint.__name__ for router in ROUTERS for route in router.routes
            if hasattr(route, "endpoint")}


def test_every_api_operation_has_a_command() -> None:
    missing = api_operations() - set(operations())
    assert not missing, f"API operations without a tenantsync command: {sorted(missing)}"
    assert not set(operations()) - api_operations(), "a command names an unknown operation"


class Parity:
    """Runs a command for an API operation and remembers which operations were compared."""

    def __init__(self, cli: Cli, api: Api) -> None:
        self.cli, self.api = cli, api
        self.compared: set[str] = set()

    def run(self, operation: str, *argv: str, code: int = 0) -> Result:
        words = operations()[operation]
        assert argv[:len(words)] == words, f"{operation} is `tenantsync {' '.join(words)}`"
        result = self.cli(*argv)
        assert result.code == code, result.err
        self.compared.add(operation)
        return result

    def items(self, path: str, **params: Any) -> list[Any]:
        """Every item of an API list, in small pages (the command line uses large ones)."""
        found: list[Any] = []
        token = None
        while True:
            query = {**params, "pageSize": 2, **({"continuationToken": token} if token else {})}
            page = self.api.get(path, params=query)
            assert page.status_code == 200, page.text
            found.extend(page.json()["items"])
            token = page.json()["continuationToken"]
            if not token:
                return found

    def get(self, path: str) -> Any:
        answer = self.api.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def parity(capsys: pytest.CaptureFixture[str], api: Api) -> Parity:
    return Parity(Cli(capsys), api)


def test_each_command_prints_what_the_api_answers(
    harness: Harness, world: World, parity: Parity, monkeypatch: pytest.MonkeyPatch,
) -> None:
    t, ids = seed_example(world)
    partner = Partner(world)
    alpha = partner.customer("Alpha", devices=3, detected=3, mobile=2)
    beta = partner.customer("Beta", licensed=False)
    harness.start()
    monkeypatch.setenv("T_SECRET", t.secret)
    monkeypatch.setenv("P_SECRET", partner.partner_secret)
    monkeypatch.setenv("I_SECRET", partner.inventory_secret)
    parity.cli.extra_secrets += [t.secret, partner.partner_secret, partner.inventory_secret]
    p, tenant_path = parity, f"/api/tenants/{t.id}"

    added = p.run("create_tenant", "tenant", "add", "--tenant-id", t.id, "--client-id",
                  t.app_id, "--group-id", t.level0, "--secret-env", "T_SECRET",
                  "--secret-expires", "2099-01-01", "--json").json()
    assert added == p.get(tenant_path)
    assert p.run("get_tenant", "tenant", "show", "--tenant-id", t.id, "--json").json() == (
        p.get(tenant_path))
    [run] = p.run("start_directory_sync", "sync", "directory", "--tenant-id", t.id,
                  "--json").lines()
    assert run == p.get(f"{tenant_path}/runs/{run['runId']}")
    assert run["status"] == "succeeded" and run["users"]["created"] == 5
    users = p.run("list_users", "users", "--tenant-id", t.id, "--json").json()
    assert len(users) == 5 and users == p.items(f"{tenant_path}/users")
    by_name = p.cli("users", "--tenant-id", t.id, "--group", "Management", "--json")
    assert by_name.json() == p.items(f"{tenant_path}/users", groupId=ids["management"])
    assert len(by_name.json()) == 2
    groups = p.run("list_groups", "groups", "--tenant-id", t.id, "--json").json()
    assert groups == p.items(f"{tenant_path}/groups") and len(groups) == 1

    first, *synced = p.run(
        "create_partner", "partner", "add", "--partner-tenant-id", partner.id,
        "--partner-client-id", partner.partner_app, "--partner-secret-env", "P_SECRET",
        "--inventory-client-id", partner.inventory_app, "--inventory-secret-env", "I_SECRET",
        "--source", "list", "--customer", alpha, "--customer", beta, "--json", code=1,
    ).lines()  # 1: Beta has no Intune licence
    saved = p.get(f"/api/partners/{partner.id}")
    assert {k: first[k] for k in saved} == saved
    assert sorted(first["discovery"]["new"]) == sorted([alpha, beta])
    assert first["discoveryError"] is None
    assert sorted(q["runId"] for q in first["discovery"]["queued"]) == sorted(
        r["runId"] for r in synced)
    for r in synced:
        assert r == p.get(f"/api/tenants/{r['tenantId']}/runs/{r['runId']}")
    assert p.run("list_partners", "partner", "list", "--json").json() == p.items(
        "/api/partners")
    assert p.run("get_partner", "partner", "show", "--partner-tenant-id", partner.id,
                 "--json").json() == saved

    [run] = p.run("start_devices_sync", "sync", "devices", "--tenant-id", alpha,
                  "--json").lines()
    assert run == p.get(f"/api/tenants/{alpha}/runs/{run['runId']}")
    assert run["devices"]["unchanged"] == 3
    devices = p.run("list_devices", "devices", "--tenant-id", alpha, "--json").json()
    assert len(devices) == 3 and devices == p.items(f"/api/tenants/{alpha}/devices")
    noncompliant = p.cli("devices", "--tenant-id", alpha, "--compliance-state",
                         "NonCompliant", "--json").json()
    assert noncompliant == p.items(f"/api/tenants/{alpha}/devices",
                                   complianceState="noncompliant") != []
    detected = p.run("list_detected_apps", "software", "--tenant-id", alpha, "--json").json()
    assert len(detected) == 3 and detected == p.items(f"/api/tenants/{alpha}/software/detected")
    managed = p.run("list_managed_apps", "software", "--tenant-id", alpha, "--managed",
                    "--json").json()
    assert len(managed) == 2 and managed == p.items(f"/api/tenants/{alpha}/software/managed")

    runs = p.run("list_runs", "runs", "list", "--tenant-id", alpha, "--limit", "0",
                 "--json").json()
    assert len(runs) == 2 and runs == p.items(f"/api/tenants/{alpha}/runs")
    assert p.run("get_run", "runs", "show", "--tenant-id", alpha, "--run-id",
                 runs[0]["runId"], "--json").json() == runs[0]
    failures = p.run("list_failures", "runs", "failures", "--json").json()
    assert [f["tenantId"] for f in failures] == [beta]
    assert failures == p.items("/api/runs/failures")
    assert p.run("list_tenants", "tenant", "list", "--json").json() == p.items("/api/tenants")
    unlicensed = p.cli("tenant", "list", "--health", "intune_not_licensed", "--json").json()
    assert [x["tenantId"] for x in unlicensed] == [beta]
    assert unlicensed == p.items("/api/tenants", health="intune_not_licensed")

    updated = p.run("update_tenant", "tenant", "update", "--tenant-id", t.id, "--disable",
                    "--json").json()
    assert updated == p.get(tenant_path) and updated["enabled"] is False
    changed, *_ = p.run("update_partner", "partner", "update", "--partner-tenant-id",
                        partner.id, "--exclude", beta, "--json").lines()
    saved = p.get(f"/api/partners/{partner.id}")
    assert {k: changed[k] for k in saved} == saved and saved["excluded"] == [beta]
    [found] = p.run("discover", "partner", "discover", "--partner-tenant-id", partner.id,
                    "--json").lines()
    answer = p.api.post(f"/api/partners/{partner.id}/discover")
    assert answer.status_code == 202 and found == answer.json()
    assert found["excluded"] == [beta] and found["queued"] == []
    assert p.run("health", "health", "--json").json() == p.get("/api/health")

    p.run("delete_partner", "partner", "remove", "--partner-tenant-id", partner.id)
    assert_error(p.api.get(f"/api/partners/{partner.id}"), 404, "unknown_partner")
    assert p.get(f"/api/tenants/{alpha}")["devices"]["health"] == "inactive"
    p.run("delete_tenant", "tenant", "remove", "--tenant-id", t.id)
    gone = assert_error(p.api.get(tenant_path), 404, "unknown_tenant")
    # The same error, the same words, and the exit code of its status (4xx: 2).
    shown = p.cli("tenant", "show", "--tenant-id", t.id, "--json")
    assert (shown.code, shown.error) == (2, f"tenantsync: error: {gone['message']}")

    assert p.compared == api_operations()
