"""Device and software sync across a partner's customers, against Azurite and the simulator."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.core.errors import InputError
from functions.core.model import Health, Run, RunOptions, RunStatus
from functions.core.sensitive import SecretValue
from functions.devices import reader as reader_module
from functions.devices.store import DeviceFilter
from functions.partners import discovery as partners_module
from functions.storage import packed
from tests.cli_tools import Cli
from tests.conftest import Harness
from tests.world import Partner, World, device, directory_side


def connect(harness: Harness, partner: Partner, source: str = "list", **kwargs: Any) -> None:
    if source == "list" and "customers" not in kwargs:
        kwargs["customers"] = list(partner.customers)
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source=source, **kwargs)


def sync(harness: Harness, tenant_id: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    return harness.services.runner.run_one("devices", tenant_id, "cli", RunOptions(**kwargs))


@pytest.mark.parametrize("source", ["list", "gdap", "partner-center"])
def test_customers_are_discovered_from_each_source_with_paging(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    partner = Partner(world)
    ids = [partner.customer(f"Customer {i}") for i in range(5)]
    ended = partner.customer("Former", gdap_status="terminated")
    harness.start()
    # Pages of 2, so that each source needs several requests.
    monkeypatch.setattr(partners_module, "GDAP_PAGE_SIZE", "2")
    monkeypatch.setattr(partners_module, "PARTNER_CENTER_PAGE_SIZE", "2")
    connect(harness, partner, source, **({"customers": ids} if source == "list" else {}))
    found = harness.services.partners.discover(partner.id)
    expected = set(ids) | ({ended} if source == "partner-center" else set())
    assert {c.tenant_id for c in found.found} == expected
    assert set(found.new) == expected
    for tid in ids:
        tenant = harness.services.tenants.get(tid)
        assert tenant.devices is not None
        assert tenant.devices.partner_tenant_id == partner.id


def test_new_customer_gets_a_full_sync_at_once_through_the_cli(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    partner = Partner(world)
    first = partner.customer("Alpha", devices=4, detected=120, mobile=3)
    harness.start()
    monkeypatch.setenv("P_SECRET", partner.partner_secret)
    monkeypatch.setenv("I_SECRET", partner.inventory_secret)
    added = Cli(capsys)("partner", "add", "--partner-tenant-id", partner.id,
                        "--partner-client-id", partner.partner_app, "--partner-secret-env",
                        "P_SECRET", "--inventory-client-id", partner.inventory_app,
                        "--inventory-secret-env", "I_SECRET", "--source", "gdap")
    assert added.code == 0, added.err
    # Not a terminal: the API's answer to the same request, then a JSON line per run.
    saved, synced = added.lines()
    assert saved["partnerTenantId"] == partner.id and saved["discovery"]["new"] == [first]
    assert [q["runId"] for q in saved["discovery"]["queued"]] == [synced["runId"]]
    [run] = harness.services.runs.recent(first, 5)
    assert run.kind == "devices" and run.status == RunStatus.SUCCEEDED
    assert run.devices.created == 4
    assert run.apps.created == 123
    tenant = harness.services.tenants.get(first)
    assert tenant.organization == "Alpha Ltd"
    assert tenant.default_domain == "alpha.example"
    assert tenant.verified_domains == ("alpha.example", "alpha.onmicrosoft.com")
    assert tenant.device_state.health == Health.HEALTHY


def test_device_fields_software_and_serial_normalisation(harness: Harness, world: World) -> None:
    partner = Partner(world)
    tid = partner.customer("Beta", devices=0, detected=0, mobile=3)
    devices = partner.customers[tid]["intune"]["managed_devices"]
    good = device("BETA-1", 1, serialNumber="  pf3abc12 ")
    junk = device("BETA-2", 2, serialNumber="To Be Filled By O.E.M.",
                  userId="00000000-0000-0000-0000-000000000000")
    default = device("BETA-3", 3, serialNumber="Default string")
    for d in (good, junk, default):
        devices[d["id"]] = d
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert sync(harness, tid).status == RunStatus.SUCCEEDED
    stored = {d.name: d for d in harness.services.inventory.devices(tid, DeviceFilter())}
    assert stored["BETA-1"].serial_number == "PF3ABC12"
    assert stored["BETA-2"].serial_number is None
    assert stored["BETA-3"].serial_number is None
    assert stored["BETA-2"].user_id is None
    one = stored["BETA-1"]
    assert one.manufacturer == "Contoso" and one.model == "Laptop 9"
    assert one.operating_system == "Windows" and one.os_version == "10.0.22631"
    assert one.owner_type == "company" and one.management_agent == "mdm"
    assert one.user_id == good["userId"] and one.user_upn == "user1@customer.example"
    assert one.total_storage_bytes == 256_000_000_000  # past Int32: stored as Int64
    assert one.is_encrypted is True and one.wifi_mac == "A0B1C2D3E4F5"
    assert one.imei is None  # Graph's empty string is "none"
    types = {a.app_type for a in harness.services.inventory.managed_apps(tid)}
    assert types == {"win32LobApp", "iosStoreApp", "androidManagedStoreApp"}


def test_device_gone_from_intune_is_retired_with_a_time_then_restored(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tid = partner.customer("Gamma", devices=3)
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    sync(harness, tid)
    assert harness.sim is not None
    gone = next(iter(partner.customers[tid]["intune"]["managed_devices"]))
    harness.sim.delete_object(tid, "managed_devices", gone)
    run = sync(harness, tid)
    assert run.devices.marked_deleted == 1
    [retired] = harness.services.inventory.devices(tid, DeviceFilter(retired=True))
    assert retired.id == gone and retired.retired_at is not None
    assert len(list(harness.services.inventory.devices(tid, DeviceFilter()))) == 3  # kept


@pytest.mark.slow
def test_failure_in_the_middle_of_the_device_listing_retires_nothing(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = Partner(world)
    tid = partner.customer("Delta", devices=6, detected=60)
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    sync(harness, tid)
    assert harness.sim is not None
    for did in list(partner.customers[tid]["intune"]["managed_devices"])[:2]:
        harness.sim.delete_object(tid, "managed_devices", did)
    monkeypatch.setitem(reader_module._LISTINGS, "devices", (
        "/deviceManagement/managedDevices", {"$select": reader_module.DEVICE_SELECT, "$top": "2"},
        "DeviceManagementManagedDevices.Read.All"))
    harness.sim.set_faults([{"match": {"path_contains": "/managedDevices"}, "kind": "status",
                             "status": 500, "code": "InternalServerError", "page": 2}])
    run = sync(harness, tid)
    assert run.status == RunStatus.PARTIAL
    assert run.devices.marked_deleted == 0
    assert not list(harness.services.inventory.devices(tid, DeviceFilter(retired=True)))
    harness.sim.clear_faults()
    assert sync(harness, tid).devices.marked_deleted == 2


@pytest.mark.slow
def test_second_unchanged_device_sync_writes_no_entity(harness: Harness, world: World) -> None:
    partner = Partner(world)
    tid = partner.customer("Epsilon", devices=5, detected=70, mobile=4)
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    first = sync(harness, tid)
    # Packed: a tenant this small is one bucket row, with no layout row.
    assert first.entities_written == 1
    assert first.devices.created == 5 and first.apps.created == 70 + 4
    before = harness.entities()
    again = sync(harness, tid)
    full = sync(harness, tid, full=True)
    for run in (again, full):
        assert run.status == RunStatus.SUCCEEDED
        assert run.entities_written == 0
        assert run.devices.unchanged == 5
    def etags(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
        return {(e["_table"], e["RowKey"]): e["_etag"] for e in rows
                if e["_table"].endswith("inventory")}

    assert len(etags(before)) == 1
    assert etags(harness.entities()) == etags(before)


@pytest.mark.slow
def test_devices_of_users_marked_deleted_in_the_directory_are_listed(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tid = partner.customer("Zeta", devices=0)
    side = directory_side(partner, tid)
    harness.start()
    harness.services.onboarding.add_directory_tenant(
        tid, side.app, SecretValue(side.secret), side.group)
    harness.services.runner.run_one("directory", tid, "cli")
    assert harness.sim is not None
    harness.sim.remove_member(tid, side.group, side.leaver)
    harness.services.runner.run_one("directory", tid, "cli")
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    sync(harness, tid)
    from functions.cli import main

    assert main(["devices", "--tenant-id", tid, "--user-deleted", "--json"]) == 0
    deleted_users = {u.id for u in harness.users_of(tid, deleted_only=True)}
    flt = DeviceFilter(user_ids=deleted_users)
    assert [d.name for d in harness.services.inventory.devices(tid, flt)] == ["ZETA-0"]


def test_relationship_ended_makes_the_tenant_inactive_not_deleted(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    keep, leave = partner.customer("Keep"), partner.customer("Leave", devices=2)
    harness.start()
    connect(harness, partner, "gdap")
    harness.services.partners.discover(partner.id)
    sync(harness, leave)
    # The customer ends the GDAP relationship.
    for rel in partner.data["gdap"]["relationships"]:
        if rel["customer"]["tenantId"] == leave:
            rel["status"] = "terminated"
    assert harness.sim is not None
    harness.sim.update_tenant(partner.id, {"gdap": partner.data["gdap"]})
    result = harness.services.partners.discover(partner.id)
    assert result.inactive == [leave]
    tenant = harness.services.tenants.get(leave)
    assert tenant.devices is not None and not tenant.devices.active
    assert tenant.device_state.health == Health.INACTIVE
    assert len(list(harness.services.inventory.devices(leave, DeviceFilter()))) == 2
    assert sync(harness, leave).status == RunStatus.SKIPPED
    assert harness.services.tenants.get(keep).devices.active  # type: ignore[union-attr]


def test_excluded_tenant_is_never_queried(harness: Harness, world: World) -> None:
    partner = Partner(world)
    kept, excluded = partner.customer("Kept"), partner.customer("Excluded")
    harness.start()
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"tenant": excluded, "path_contains": "/"},
                             "kind": "status", "status": 500}])
    connect(harness, partner, "gdap", excluded=[excluded])
    result = harness.services.partners.discover(partner.id)
    assert result.excluded == [excluded] and result.new == [kept]
    harness.services.scheduler.schedule("devices", trigger="cli")
    run = sync(harness, excluded)
    assert run.status == RunStatus.SKIPPED and run.error_code == "excluded"
    assert harness.services.tenants.get(excluded).device_state.health == Health.EXCLUDED
    assert harness.sim.stats()["faults"][0]["seen"] == 0  # not one request for that tenant


def test_indirect_reseller_customer_shows_a_clear_status(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    indirect = partner.customer("Indirect", relationship="none")
    harness.start()
    connect(harness, partner, "partner-center")
    result = harness.services.partners.discover(partner.id)
    assert result.unsupported == [indirect]
    run = sync(harness, indirect)
    assert run.status == RunStatus.SKIPPED
    assert "indirect" in run.error
    assert harness.services.tenants.get(indirect).device_state.health == Health.UNSUPPORTED


def _health_after_sync(harness: Harness, tid: str) -> Health:
    sync(harness, tid)
    return harness.services.tenants.get(tid).device_state.health


@pytest.mark.slow
def test_each_health_state_is_reached_from_its_cause(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = Partner(world)
    healthy = partner.customer("Healthy")
    unlicensed = partner.customer("NoIntune", licensed=False)
    unconsented = partner.customer("NoConsent", consented=False)
    no_permission = partner.customer("NoPerm", roles=["Organization.Read.All"])
    failing = partner.customer("Failing")
    harness.start(TENANTSYNC_GRAPH_MAX_RETRIES="1", TENANTSYNC_QUARANTINE_AFTER="3")
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"tenant": failing, "path_contains": "/deviceManagement"},
                             "kind": "status", "status": 503, "retry_after": 0.01}])
    assert _health_after_sync(harness, healthy) == Health.HEALTHY
    assert _health_after_sync(harness, unlicensed) == Health.INTUNE_NOT_LICENSED
    unlicensed_state = harness.services.tenants.get(unlicensed).device_state
    assert "Intune is not licensed" in unlicensed_state.last_error
    # A failed run still counts the requests it made (organization, then devices).
    assert harness.services.runs.recent(unlicensed, 1)[0].graph_requests == 2
    assert _health_after_sync(harness, unconsented) == Health.CONSENT_MISSING
    assert _health_after_sync(harness, no_permission) == Health.PERMISSION_MISSING
    assert "DeviceManagementManagedDevices.Read.All" in harness.services.tenants.get(
        no_permission).device_state.last_error
    assert _health_after_sync(harness, failing) == Health.FAILING
    state = harness.services.tenants.get(failing).device_state
    assert state.last_error and state.health_since is not None
    assert _health_after_sync(harness, failing) == Health.FAILING
    assert _health_after_sync(harness, failing) == Health.QUARANTINED
    quarantined = harness.services.tenants.get(failing)
    assert quarantined.device_state.quarantined_until is not None
    from functions.sync.health import schedulable

    now = datetime.now(UTC)
    assert not schedulable(quarantined, "devices", now)
    assert schedulable(quarantined, "devices", now + timedelta(hours=7))  # after the back-off
    harness.sim.clear_faults()
    assert _health_after_sync(harness, failing) == Health.HEALTHY


def test_secret_expiring_and_expired_are_health_states(harness: Harness, world: World) -> None:
    partner = Partner(world)
    tid = partner.customer("Soon")
    harness.start()
    harness.services.partners.add(
        partner.id, partner.partner_app, SecretValue(partner.partner_secret),
        partner.inventory_app, SecretValue(partner.inventory_secret), source="list",
        customers=[tid], inventory_secret_expires_on=datetime.now(UTC) + timedelta(days=12))
    harness.services.partners.discover(partner.id)
    assert _health_after_sync(harness, tid) == Health.SECRET_EXPIRING
    assert harness.sim is not None
    harness.sim.set_app_secrets(partner.inventory_app, [{
        "id": partner.inventory_secret_id, "value": partner.inventory_secret,
        "expires": "2020-01-01T00:00:00Z"}])
    harness.services.tokens.forget()  # a cached token would hide the expiry for an hour
    assert _health_after_sync(harness, tid) == Health.SECRET_EXPIRED


@pytest.mark.slow
def test_one_failing_tenant_leaves_the_others_succeeded(harness: Harness, world: World) -> None:
    partner = Partner(world)
    good = [partner.customer(f"Good {i}") for i in range(3)]
    no_consent = partner.customer("Token fails", consented=False)
    forbidden = partner.customer("Forbidden", roles=["Organization.Read.All"])
    broken = partner.customer("Broken")
    slow = partner.customer("Slow")
    harness.start(TENANTSYNC_GRAPH_MAX_RETRIES="1", TENANTSYNC_GRAPH_TIMEOUT="0.5")
    assert harness.sim is not None
    harness.sim.set_faults([
        {"match": {"tenant": broken, "path_contains": "/deviceManagement"}, "kind": "status",
         "status": 500},
        {"match": {"tenant": slow, "path_contains": "/organization"}, "kind": "latency",
         "seconds": 2},
    ])
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    runs = {r.tenant_id: r for r in harness.services.runner.run_many(
        "devices", [*good, no_consent, forbidden, broken, slow], "cli")}
    for tid in good:
        assert runs[tid].status == RunStatus.SUCCEEDED
    assert runs[no_consent].error_code == "app_not_found"
    assert runs[forbidden].error_code == "permission_missing"
    assert runs[broken].status in (RunStatus.PARTIAL, RunStatus.FAILED)
    assert runs[slow].status == RunStatus.FAILED
    assert runs[slow].error_code == "graph_unreachable"


@pytest.mark.slow
def test_sync_across_many_tenants_stays_correct_when_throttled(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    # Each detected app's devices are one request: 60 apps and a budget of 20 a second
    # (the pacing is left at Intune's 2,000 per 20 s, so the simulator's budget bites).
    tenants = [partner.customer(f"T{i}", devices=2, detected=60) for i in range(4)]
    world.fixture["throttling"] = {"enabled": True, "window_seconds": 1,
                                   "intune_devices_per_window": 20, "intune_apps_per_window": 1}
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    runs = harness.services.runner.run_many("devices", tenants, "cli")
    assert all(r.status == RunStatus.SUCCEEDED for r in runs)
    assert sum(r.throttled for r in runs) > 0
    for tid in tenants:
        assert len(list(harness.services.inventory.detected_apps(tid))) == 60


@pytest.mark.slow
def test_partner_and_inventory_secrets_appear_in_no_log_entity_or_error(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    partner = Partner(world)
    good = partner.customer("Good")
    bad = partner.customer("NoConsent", consented=False)
    harness.start(TENANTSYNC_GRAPH_MAX_RETRIES="1")
    caplog.set_level(logging.DEBUG)
    connect(harness, partner, "partner-center")
    harness.services.partners.discover(partner.id)
    harness.services.runner.run_many("devices", [good, bad], "cli")
    errors = []
    try:
        harness.services.partners.add(
            partner.id, partner.partner_app, SecretValue("x" + partner.partner_secret),
            partner.inventory_app, SecretValue(partner.inventory_secret), source="gdap")
    except Exception as exc:
        errors.append(f"{exc!s} {exc!r}")
    from functions.cli import main

    assert main(["--verbose", "tenant", "list", "--json"]) == 0
    assert main(["--verbose", "devices", "--tenant-id", good, "--json"]) == 0
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    text += repr(harness.entities()) + "".join(errors) + "".join(capsys.readouterr())
    assert errors and "not valid" in errors[0]
    for secret in (partner.partner_secret, partner.inventory_secret):
        assert secret not in text
    assert len(caplog.records) > 20


def _inventory_rows(harness: Harness, tid: str) -> dict[str, dict[str, Any]]:
    return {e["RowKey"]: e for e in harness.entities()
            if e["_table"].endswith("inventory") and e["PartitionKey"] == tid}


def _compressed_size(row: dict[str, Any]) -> int:
    return sum(len(v) for v in row.values() if isinstance(v, bytes))


def _all_pages(harness: Harness, tid: str, size: int) -> tuple[list[str], list[str]]:
    """Every device id over every page, and the tokens that were handed out."""
    ids: list[str] = []
    tokens: list[str] = []
    token = None
    while True:
        page, token = harness.services.inventory.devices_page(
            tid, DeviceFilter(), page_size=size, continuation=token)
        ids.extend(d.id for d in page)
        if token is None:
            return ids, tokens
        tokens.append(token)


def _one_customer(harness: Harness, world: World, name: str, **kwargs: Any
                  ) -> tuple[Partner, str]:
    """A partner with one customer, connected and discovered."""
    partner = Partner(world)
    tid = partner.customer(name, **kwargs)
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    return partner, tid


@pytest.mark.slow
def test_a_big_tenant_is_bucketed_rewritten_by_bucket_and_regrown_without_losing_a_record(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    partner, tid = _one_customer(harness, world, "Omega", devices=60, detected=3, mobile=1)
    # Small buckets, so that 60 devices need several.
    monkeypatch.setattr(packed, "TARGET_BYTES", 4_000)
    first = sync(harness, tid)
    rows = _inventory_rows(harness, tid)
    buckets = rows["layout"]["Buckets"]
    assert buckets >= 4
    bucket_rows = sorted(k for k in rows if k != "layout")
    assert bucket_rows == [packed.row_key(buckets, i) for i in range(buckets)]
    assert first.entities_written == buckets + 1  # and the layout row

    listed, tokens = _all_pages(harness, tid, 7)
    devices = partner.customers[tid]["intune"]["managed_devices"]
    assert sorted(listed) == sorted(devices)  # each exactly once, over many pages
    assert len(tokens) >= 60 // 7

    # One device changes: only its bucket is written again.
    assert harness.sim is not None
    changed_id = sorted(devices)[0]
    harness.sim.upsert_object(tid, "managed_devices", {**devices[changed_id],
                                                       "osVersion": "11.0.26100"})
    before = _inventory_rows(harness, tid)
    run = sync(harness, tid)
    assert (run.devices.updated, run.entities_written) == (1, 1)
    after = _inventory_rows(harness, tid)
    moved = {k for k in after if after[k]["_etag"] != before[k]["_etag"]}
    assert moved == {packed.row_key(buckets, packed.bucket_of(changed_id, buckets))}

    # One device leaves (retired), then buckets overflow: the tenant is laid out anew.
    gone = sorted(devices)[1]
    harness.sim.delete_object(tid, "managed_devices", gone)
    assert sync(harness, tid).devices.marked_deleted == 1
    newcomer = device("Omega-NEW", 99)
    # Its bucket, one device larger, will not fit what the bucket holds now.
    home = _inventory_rows(harness, tid)[
        packed.row_key(buckets, packed.bucket_of(newcomer["id"], buckets))]
    monkeypatch.setattr(packed, "MAX_BUCKET_BYTES", _compressed_size(home))
    harness.sim.upsert_object(tid, "managed_devices", newcomer)
    grown = sync(harness, tid)
    assert grown.status == RunStatus.SUCCEEDED and grown.devices.created == 1
    rows = _inventory_rows(harness, tid)
    regrown = rows["layout"]["Buckets"]
    assert regrown > buckets
    # Only rows of the new layout are left (an empty bucket has no row).
    assert {k for k in rows if k != "layout"} <= {
        packed.row_key(regrown, i) for i in range(regrown)}
    stored = {d.id: d for d in harness.services.inventory.devices(tid, DeviceFilter())}
    assert len(stored) == 61
    assert stored[gone].retired and stored[gone].retired_at is not None
    assert stored[changed_id].os_version == "11.0.26100"
    # A token from before the new layout is refused, not misread.
    with pytest.raises(InputError, match="start again") as refused:
        harness.services.inventory.devices_page(tid, DeviceFilter(), page_size=7,
                                                continuation=tokens[0])
    assert refused.value.code == "invalid_continuation"
    assert sorted(_all_pages(harness, tid, 9)[0]) == sorted(stored)


def _children() -> set[int]:
    """This process's live multiprocessing workers (not its resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == os.getpid() and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_sync_many_shares_tenants_between_worker_processes(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tenants = [partner.customer(f"Worker {i}", devices=2 + i) for i in range(4)]
    unlicensed = partner.customer("No Intune", licensed=False)
    harness.start(TENANTSYNC_WORKER_PROCESSES="2", TENANTSYNC_DEVICE_CONCURRENCY="4",
                  TENANTSYNC_GRAPH_CONCURRENCY="2")
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    order = [tenants[2], unlicensed, *tenants[:2], tenants[3]]
    assert harness.sim is not None
    harness.sim.set_latency(0.05)
    harness.sim.reset_stats()
    before = _children()
    heard: list[Run] = []
    try:
        harness.services.runner.start_workers()
        assert len(_children() - before) == 2
        runs = harness.services.runner.run_many("devices", order, "cli", on_run=heard.append)
    finally:
        harness.services.runner.close()
    # Each run was reported once, as it ended (through the workers' queue or their results).
    assert sorted(r.run_id for r in heard) == sorted(r.run_id for r in runs)
    assert all(not r.active for r in heard)
    # Two processes, two tenants each at once, but one limit of 2 Graph requests in flight.
    assert 1 < harness.sim.stats()["graph_in_flight_peak"] <= 2
    assert [r.tenant_id for r in runs] == order  # in the order asked for
    by_tenant = {r.tenant_id: r for r in runs}
    assert by_tenant[unlicensed].status == RunStatus.FAILED
    assert by_tenant[unlicensed].error_code == "intune_not_licensed"
    for i, tid in enumerate(tenants):
        assert by_tenant[tid].status == RunStatus.SUCCEEDED
        assert by_tenant[tid].devices.created == 2 + i
        assert len(list(harness.services.inventory.devices(tid, DeviceFilter()))) == 2 + i
    # Each worker process recorded its runs where this process reads them.
    assert {r.run_id for tid in order for r in harness.services.runs.recent(tid, 5)} == {
        r.run_id for r in runs}


@pytest.mark.slow
def test_a_one_bucket_tenant_that_outgrows_it_gets_a_layout_row_and_loses_nothing(
    harness: Harness, world: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, tid = _one_customer(harness, world, "Sigma", devices=10, detected=2, mobile=1)
    sync(harness, tid)
    rows = _inventory_rows(harness, tid)
    assert set(rows) == {packed.row_key(1, 0)}  # no layout row
    # One device more will not fit what the one bucket holds now.
    monkeypatch.setattr(packed, "MAX_BUCKET_BYTES", _compressed_size(rows[packed.row_key(1, 0)]))
    assert harness.sim is not None
    harness.sim.upsert_object(tid, "managed_devices", device("Sigma-NEW", 42))
    run = sync(harness, tid)
    assert (run.status, run.devices.created, run.devices.unchanged) == (
        RunStatus.SUCCEEDED, 1, 10)
    rows = _inventory_rows(harness, tid)
    buckets = rows["layout"]["Buckets"]
    assert buckets > 1 and packed.row_key(1, 0) not in rows
    assert len(list(harness.services.inventory.devices(tid, DeviceFilter()))) == 11
    assert len(list(harness.services.inventory.detected_apps(tid))) == 2
    assert len(list(harness.services.inventory.managed_apps(tid))) == 1
    assert sync(harness, tid).entities_written == 0


@pytest.mark.slow
def test_tenants_in_flight_share_the_graph_request_limit(harness: Harness, world: World) -> None:
    partner = Partner(world)
    tenants = [partner.customer(f"Limit {i}", devices=2) for i in range(6)]
    harness.start(TENANTSYNC_DEVICE_CONCURRENCY="6", TENANTSYNC_GRAPH_CONCURRENCY="3")
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert harness.sim is not None
    harness.sim.set_latency(0.05)
    harness.sim.reset_stats()
    runs = harness.services.runner.run_many("devices", tenants, "cli")
    assert all(r.status == RunStatus.SUCCEEDED for r in runs)
    # Six tenants at once, never more than three Graph requests at once.
    assert 1 < harness.sim.stats()["graph_in_flight_peak"] <= 3


@pytest.mark.slow
def test_a_worker_process_that_dies_mid_sync_costs_no_tenant(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tenants = [partner.customer(f"Crash {i}", devices=3) for i in range(4)]
    harness.start(TENANTSYNC_WORKER_PROCESSES="2", TENANTSYNC_DEVICE_CONCURRENCY="2",
                  TENANTSYNC_GRAPH_CONCURRENCY="2")
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert harness.sim is not None
    harness.sim.set_latency(0.2)  # each tenant takes about a second
    heard: list[Run] = []
    try:
        harness.services.runner.start_workers()
        workers = sorted(_children())
        with ThreadPoolExecutor(1) as pool:
            syncing = pool.submit(harness.services.runner.run_many, "devices", tenants, "cli",
                                  on_run=heard.append)
            time.sleep(0.5)
            os.kill(workers[0], signal.SIGKILL)
            runs = syncing.result(timeout=60)
    finally:
        harness.services.runner.close()
    assert [r.tenant_id for r in runs] == tenants
    assert all(r.status == RunStatus.SUCCEEDED for r in runs), [r.error for r in runs]
    for tid in tenants:
        assert len(list(harness.services.inventory.devices(tid, DeviceFilter()))) == 3
    # The recovered runs are reported too, each once, with how they ended.
    assert sorted(r.run_id for r in heard) == sorted(r.run_id for r in runs)
    assert {r.status for r in heard} == {RunStatus.SUCCEEDED}
