"""The command line does what the API does: every API operation has a command, and its
``--json`` prints what the API answers for the same record (the one projection of each)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from devstack.receiver import Receiver
from functions.api.app import ROUTERS
from functions.cli.parser import operations
from tests.api.conftest import Api, assert_error
from tests.api.parity_partner_consent import partner_side_consent
from tests.cli_tools import Cli, Result
from tests.conftest import Harness
from tests.consent_helpers import redirect_of
from tests.partner_side import PartnerSide
from tests.world import Deployment, Partner, Tenant, World, seed_example


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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.mark.slow
def test_each_command_prints_what_the_api_answers(
    harness: Harness, world: World, parity: Parity, monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
) -> None:
    t, ids = seed_example(world)
    deployment = Deployment(world)
    partner = Partner(world)
    alpha = partner.customer("Alpha", devices=3, detected=3, mobile=2)
    intune = world.fixture["tenants"][alpha]["intune"]
    first_app = sorted(intune["detected_apps"])[0]
    for device_id in sorted(intune["managed_devices"])[:2]:  # the first app is on two
        intune["managed_devices"][device_id]["detected_apps"] = [first_app]
    beta = partner.customer("Beta", licensed=False)
    guarded = world.tenant("Guarded")
    staff = [guarded.user(f"User {i:02d}") for i in range(12)]
    guarded.add(guarded.level0, *staff)
    joining = world.tenant("Joining")
    joining.add(joining.level0, joining.user("Sam Roe"))
    zero_touch = PartnerSide(world)
    unconsented = zero_touch.customer("Unconsented")
    harness.start(**deployment.env(), TENANTSYNC_WEBHOOK_ALLOW_PRIVATE="true",
                  TENANTSYNC_WEBHOOK_RETRY_BASE_SECONDS="0",
                  TENANTSYNC_WEBHOOK_CA_BUNDLE=receiver.ca_path)
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
    choices = p.run("list_security_groups", "tenant", "groups", "--tenant-id", t.id,
                    "--json").json()
    assert choices == p.items(f"{tenant_path}/directory/groups")
    assert ids["management"] in {g["id"] for g in choices}

    webhooks(p, harness, receiver, t)
    change_feed(p, t)

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
    on_app = p.run("list_app_devices", "devices", "--tenant-id", alpha, "--app-id", first_app,
                   "--json").json()
    assert len(on_app) == 2 and on_app == p.items(
        f"/api/tenants/{alpha}/software/detected/{first_app}/devices")
    [app] = [a for a in detected if a["id"] == first_app]
    named = p.cli("devices", "--tenant-id", alpha, "--app-name", app["name"][:5].upper(),
                  "--json").json()
    assert named == on_app == p.items(f"/api/tenants/{alpha}/devices", appName=app["name"][:5])
    one = p.run("get_device", "device", "--tenant-id", alpha, "--device-id", on_app[0]["id"],
                "--json").json()
    assert one == p.get(f"/api/tenants/{alpha}/devices/{on_app[0]['id']}")
    assert [s["appId"] for s in one["software"]] == [first_app]

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
    [found] = p.run("discover_customers", "partner", "discover", "--partner-tenant-id",
                    partner.id, "--json").lines()
    answer = p.api.post(f"/api/partners/{partner.id}/discover")
    assert answer.status_code == 202 and found == answer.json()
    assert found["excluded"] == [beta] and found["queued"] == []
    assert p.run("get_health", "health", "--json").json() == p.get("/api/health")
    assert p.run("tenant_notifications", "tenant", "notifications", "--tenant-id", t.id,
                 "--json").json() == p.get(f"/api/tenants/{t.id}/notifications")
    # Without a customer awaiting consent, every item is deterministic (no new link).
    links = p.run("partner_consent_links", "partner", "consent-links", "--partner-tenant-id",
                  partner.id, "--json").json()
    assert links == p.get(f"/api/partners/{partner.id}/consent-links")
    assert [item["tenantId"] for item in links["items"]] == [alpha]  # beta: excluded

    deletion_guard(p, harness, guarded, staff)
    consent(p, harness, deployment, joining)
    partner_side_consent(p, harness, zero_touch, unconsented)

    p.run("delete_partner", "partner", "remove", "--partner-tenant-id", partner.id)
    assert_error(p.api.get(f"/api/partners/{partner.id}"), 404, "unknown_partner")
    assert p.get(f"/api/tenants/{alpha}")["devices"]["health"] == "inactive"
    p.run("delete_tenant", "tenant", "remove", "--tenant-id", t.id)
    gone = assert_error(p.api.get(tenant_path), 404, "unknown_tenant")
    # The same error, the same words, and the exit code of its status (4xx: 2).
    shown = p.cli("tenant", "show", "--tenant-id", t.id, "--json")
    assert (shown.code, shown.error) == (2, f"tenantsync: error: {gone['message']}")

    assert p.compared == api_operations()


def webhooks(p: Parity, harness: Harness, receiver: Receiver, t: Tenant) -> None:
    """Subscribe, deliver, read the deliveries, re-send, rotate, change and remove: the
    signing secret is in the answers of add and rotate-secret only, as in the API's."""
    created = p.run("create_webhook", "webhook", "add", "--url", receiver.url, "--event",
                    "sync.finished", "--tenant-id", t.id, "--json").json()
    hook_path = f"/api/webhooks/{created['id']}"
    hook = p.get(hook_path)
    assert {k: created[k] for k in hook} == hook and set(created) == {*hook, "secret"}
    assert p.run("list_webhooks", "webhook", "list", "--json").json() == p.items(
        "/api/webhooks") == [hook]
    assert p.run("get_webhook", "webhook", "show", "--webhook-id", hook["id"],
                 "--json").json() == hook
    assert p.cli("sync", "directory", "--tenant-id", t.id, "--full").code == 0
    assert harness.services.delivery_worker.drain() == 1
    [got] = receiver.received
    Webhook(created["secret"]).verify(got.body, got.headers)  # the secret shown is the one
    deliveries = p.run("list_deliveries", "webhook", "deliveries", "--webhook-id", hook["id"],
                       "--json").json()
    assert deliveries == p.items(f"{hook_path}/deliveries")
    assert [d["status"] for d in deliveries] == ["delivered"]
    delivery_path = f"{hook_path}/deliveries/{deliveries[0]['id']}"
    assert p.run("get_delivery", "webhook", "delivery", "--webhook-id", hook["id"],
                 "--delivery-id", deliveries[0]["id"], "--json").json() == p.get(
        delivery_path) == deliveries[0]
    resent = p.run("resend_delivery", "webhook", "resend", "--webhook-id", hook["id"],
                   "--delivery-id", deliveries[0]["id"], "--json").json()
    assert resent == p.get(delivery_path)
    assert harness.services.delivery_worker.drain() == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [got.headers["webhook-id"]] * 2
    rotated = p.run("rotate_webhook_secret", "webhook", "rotate-secret", "--webhook-id",
                    hook["id"], "--grace-hours", "1", "--json").json()
    hook = p.get(hook_path)
    assert {k: rotated[k] for k in hook} == hook and hook["previousSecretValidUntil"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    updated = p.run("update_webhook", "webhook", "update", "--webhook-id", hook["id"],
                    "--disable", "--json").json()
    assert updated == p.get(hook_path) and updated["enabled"] is False
    p.run("delete_webhook", "webhook", "remove", "--webhook-id", hook["id"])
    gone = assert_error(p.api.get(hook_path), 404, "unknown_webhook")
    shown = p.cli("webhook", "show", "--webhook-id", hook["id"], "--json")
    assert (shown.code, shown.error) == (2, f"tenantsync: error: {gone['message']}")


def change_feed(p: Parity, t: Tenant) -> None:
    """The feed read to its end is the API's pages joined, with the last page's cursor; a
    limited read is the API's page of that size exactly."""
    path = f"/api/tenants/{t.id}/changes"
    items, cursor = [], None
    while True:
        page = p.api.get(path, params={"pageSize": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["cursor"]
        if not page.json()["more"]:
            break
    everything = p.run("list_changes", "changes", "--tenant-id", t.id, "--json").json()
    assert everything == {"items": items, "cursor": cursor, "more": False} and len(items) > 3
    first = p.cli("changes", "--tenant-id", t.id, "--limit", "3", "--json").json()
    assert first == p.api.get(path, params={"pageSize": 3}).json() and first["more"]
    rest = p.cli("changes", "--tenant-id", t.id, "--cursor", first["cursor"], "--json").json()
    assert rest == p.api.get(path, params={"cursor": first["cursor"], "pageSize": 1000}).json()
    assert rest["items"] == items[3:]
    bad = p.cli("changes", "--tenant-id", t.id, "--cursor", "00000000.1", "--json")
    refused = assert_error(p.api.get(path, params={"cursor": "00000000.1"}), 400,
                           "invalid_cursor")
    assert (bad.code, bad.error) == (2, f"tenantsync: error: {refused['message']}")


def deletion_guard(p: Parity, harness: Harness, g: Tenant, staff: list[str]) -> None:
    """Held back, previewed, discarded, held again and released: exactly as the API."""
    harness.onboard(g)
    harness.sync(g)
    assert harness.sim is not None
    leavers = staff[:11]
    for uid in leavers:
        harness.sim.remove_member(g.id, g.level0, uid)
    path = f"/api/tenants/{g.id}/directory/held"
    # Nothing previewed, nothing to release: the API's 404, not a sync without a preview.
    nothing = p.cli("sync", "directory", "--tenant-id", g.id, "--allow-mass-deletion")
    answer = assert_error(p.api.post(f"/api/tenants/{g.id}/directory/sync",
                                     json={"allowMassDeletion": True}), 404, "nothing_held")
    assert (nothing.code, nothing.error) == (2, f"tenantsync: error: {answer['message']}")
    [held_run] = p.cli("sync", "directory", "--tenant-id", g.id, "--json").lines()
    assert (held_run["status"], held_run["errorCode"]) == ("skipped", "deletion_guard")
    held = p.run("get_held_sync", "held", "show", "--tenant-id", g.id, "--json").json()
    assert held == p.api.get(path, params={"pageSize": 100}).json()
    assert held["runId"] == held_run["runId"] and held["continuationToken"] is None
    deleted = p.cli("held", "show", "--tenant-id", g.id, "--change", "deleted", "--json")
    assert deleted.json() == p.api.get(path, params={"pageSize": 100, "change": "deleted"}).json()
    assert {c["entityId"] for c in deleted.json()["changes"]} == set(leavers)
    p.run("discard_held_sync", "held", "discard", "--tenant-id", g.id)
    gone = assert_error(p.api.get(path), 404, "nothing_held")
    assert p.get(f"/api/tenants/{g.id}")["health"] == "healthy"
    shown = p.cli("held", "show", "--tenant-id", g.id)
    assert (shown.code, shown.error) == (2, f"tenantsync: error: {gone['message']}")
    assert p.cli("sync", "directory", "--tenant-id", g.id).code == 1  # held again
    previewed = {c["entityId"] for c in p.get(path)["changes"] if c["change"] == "deleted"}
    [released] = p.cli("sync", "directory", "--tenant-id", g.id, "--allow-mass-deletion",
                       "--json").lines()
    assert released["status"] == "succeeded" and released["users"]["markedDeleted"] == 11
    assert set(harness.users(g, deleted_only=True)) == previewed == set(leavers)
    assert_error(p.api.get(path), 404, "nothing_held")


def consent(p: Parity, harness: Harness, d: Deployment, joining: Tenant) -> None:
    """A link, what became of it, and the callback: its page is for the admin's browser, so
    the command prints the consent record it settled; a replay is the same refusal."""
    link = p.run("create_consent", "consent", "link", "--kind", "directory", "--tenant-id",
                 joining.id, "--group-id", joining.level0, "--json").json()
    twin = p.api.post("/api/consents", json={"kind": "directory", "tenantId": joining.id,
                                             "groupId": joining.level0})
    assert twin.status_code == 201, twin.text
    assert set(link) == set(twin.json())
    assert {k: v for k, v in link.items() if k not in ("consentId", "url", "expiresAt")} == {
        k: v for k, v in twin.json().items() if k not in ("consentId", "url", "expiresAt")}
    # The same address but its state (last: one per link).
    assert link["url"].split("&state=")[0] == twin.json()["url"].split("&state=")[0]
    consent_path = f"/api/consents/{link['consentId']}"
    assert p.run("get_consent", "consent", "show", "--consent-id", link["consentId"],
                 "--json").json() == p.get(consent_path)
    query = redirect_of(harness, link["url"])
    redirect = f"{d.public_url}/api/consent/callback?{query}"
    settled = p.run("consent_callback", "consent", "complete", "--redirect-url", redirect,
                    "--json").json()
    assert settled == p.get(consent_path)
    assert (settled["status"], settled["consentedTenantId"]) == ("used", joining.id)
    first = p.get(f"/api/tenants/{joining.id}/runs/{settled['runId']}")
    assert first["status"] == "queued" and first["kind"] == "directory"
    page = p.api.get(f"/api/consent/callback?{query}")  # the admin's browser, once more
    replayed = p.cli("consent", "complete", "--redirect-url", redirect)
    assert (page.status_code, replayed.code) == (409, 2)
    assert html.escape(replayed.error.removeprefix("tenantsync: error: ")) in page.text
