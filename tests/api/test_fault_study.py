"""The fault study of the pipeline, a test per row: what an operator does to a deployment
(kills processes, cuts storage, delivers twice, races starts, breaks dependencies) and what
must hold afterwards. Each would fail on the code before the one engine (issue 9).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.stack import ACCOUNT, ACCOUNT_KEY, AzuriteProcess
from functions.core.errors import ConflictError, StorageError
from functions.core.model import RunOptions, RunStatus
from functions.storage import packed
from functions.storage.tables import TableStore
from tests.api.conftest import Api, assert_error, run_queued_jobs, tenant_body
from tests.cli_tools import check_no_secret
from tests.conftest import Harness
from tests.proxy import SwitchableProxy
from tests.test_devices import connect
from tests.world import Partner, Tenant, World, seed_example

ROOT = Path(__file__).resolve().parents[2]
# Short lives, so that a dead run is found out within the test.
FAST = {"TENANTSYNC_RUN_LEASE_SECONDS": "2", "TENANTSYNC_QUEUED_RUN_TIMEOUT_SECONDS": "3"}
LEASE = 2.0


@dataclass
class Outage:
    tables: SwitchableProxy
    queues: SwitchableProxy

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"QueueEndpoint=http://127.0.0.1:{self.queues.port}/{ACCOUNT};"
                f"TableEndpoint=http://127.0.0.1:{self.tables.port}/{ACCOUNT};")

    def cut(self) -> None:
        self.tables.cut()
        self.queues.cut()

    def restore(self) -> None:
        self.tables.restore()
        self.queues.restore()


@pytest.fixture
def outage(azurite: AzuriteProcess) -> Iterator[Outage]:
    proxies = Outage(SwitchableProxy(azurite.table_port), SwitchableProxy(azurite.queue_port))
    yield proxies
    proxies.tables.close()
    proxies.queues.close()


def _cli(harness: Harness, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "functions.cli", *args], cwd=ROOT,
                            env={**os.environ, **harness.env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)


def _only_run(harness: Harness, tenant: Tenant, status: RunStatus) -> str:
    runs = [r for r in harness.services.runs.recent(tenant.id, 50) if r.status == status]
    return runs[0].run_id if runs else ""


# --- storage outage during a run, the job not retried ------------------------------------


@pytest.mark.slow
def test_a_run_cut_off_from_storage_is_closed_by_the_next_start_after_its_lease(
    harness: Harness, world: World, outage: Outage
) -> None:
    t, _ = seed_example(world)
    harness.start(TENANTSYNC_STORAGE_CONNECTION=outage.connection_string, **FAST)
    harness.onboard(t)
    services = harness.services
    job = services.starter.start(t.id, "directory", "http", enqueue=False)
    assert harness.sim is not None
    harness.sim.set_latency(0.3)  # the read takes a while: storage goes during it
    threading.Timer(0.2, outage.cut).start()
    with pytest.raises(StorageError):
        services.engine.execute(job)
    outage.restore()
    harness.sim.set_latency(0)
    assert job.run_id is not None
    stuck = services.runs.get(t.id, job.run_id)
    assert stuck.status == RunStatus.RUNNING  # nobody could record its end; no retry comes
    assert stuck.lease_until is not None
    # The lease runs out: the clock moves on past it rather than the test sleeping.
    harness.clock.advance(max(0.0, (stuck.lease_until - harness.clock()).total_seconds()) + 0.2)
    again = services.starter.start(t.id, "directory", "http", enqueue=False)
    closed = services.runs.get(t.id, job.run_id)
    assert (closed.status, closed.error_code) == (RunStatus.FAILED, "run_abandoned")
    assert closed.ended_at is not None
    assert services.engine.execute(again).status == RunStatus.SUCCEEDED
    assert not harness.users(t, deleted_only=True)


@pytest.mark.slow
def test_a_queued_run_whose_job_was_lost_is_closed_by_the_schedule(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded(**FAST)
    services = harness.services
    lost = services.starter.start(t.id, "directory", "http", enqueue=False)  # never delivered
    assert services.scheduler.schedule("directory") == (0, 1)  # still queued: not twice
    harness.clock.advance(3.5)  # past the queued-run timeout
    assert services.scheduler.schedule("directory") == (1, 0)
    assert lost.run_id is not None
    closed = services.runs.get(t.id, lost.run_id)
    assert (closed.status, closed.error_code) == (RunStatus.FAILED, "run_not_started")
    # A run that never started has no bearing on the tenant's health.
    assert services.tenants.get(t.id).directory_state.consecutive_failures == 0


@pytest.mark.slow
def test_the_schedule_closes_a_dead_run_of_a_tenant_it_does_not_start(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded(**FAST)
    services = harness.services
    lost = services.starter.start(t.id, "directory", "http", enqueue=False)
    services.onboarding.set_enabled(t.id, False)
    harness.clock.advance(3.5)  # past the queued-run timeout
    assert services.scheduler.schedule("directory") == (0, 1)
    assert lost.run_id is not None
    assert services.runs.get(t.id, lost.run_id).status == RunStatus.FAILED


# --- the syncing process killed -----------------------------------------------------------


@pytest.mark.slow
def test_a_killed_sync_blocks_http_starts_only_until_its_lease_runs_out(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded(**FAST)
    assert harness.sim is not None
    harness.sim.set_latency(0.5)  # the sync takes seconds
    cli = _cli(harness, "sync", "directory", "--tenant-id", t.id)
    _wait_for(lambda: bool(_only_run(harness, t, RunStatus.RUNNING)))
    running = _only_run(harness, t, RunStatus.RUNNING)
    cli.send_signal(signal.SIGKILL)
    cli.wait(timeout=10)
    harness.sim.set_latency(0)
    refused = assert_error(api.post(f"/api/tenants/{t.id}/directory/sync"), 409, "sync_running")
    assert refused["runId"] == running
    time.sleep(LEASE + 0.5)
    assert api.post(f"/api/tenants/{t.id}/directory/sync").status_code == 202
    closed = harness.services.runs.get(t.id, running)
    assert (closed.status, closed.error_code) == (RunStatus.FAILED, "run_abandoned")
    assert run_queued_jobs(harness, "directory") == 1


# --- the local worker killed --------------------------------------------------------------


@pytest.mark.slow
def test_a_killed_local_worker_loses_no_job(harness: Harness, world: World, api: Api) -> None:
    t = harness.start_onboarded(**FAST)
    assert harness.sim is not None
    run_id = api.post(f"/api/tenants/{t.id}/directory/sync").json()["runId"]
    harness.sim.set_latency(0.5)
    worker = _cli(harness, "worker")
    _wait_for(lambda: harness.services.runs.get(t.id, run_id).status == RunStatus.RUNNING)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    harness.sim.set_latency(0)
    # The message comes back once its visibility (longer than a lease) runs out; the next
    # worker takes the run over.
    time.sleep(LEASE * 1.25 + 1.5)
    again = _cli(harness, "worker")
    assert again.wait(timeout=60) == 0, again.stderr.read() if again.stderr else ""
    run = harness.services.runs.get(t.id, run_id)
    assert run.status == RunStatus.SUCCEEDED
    assert run.attempts == 2
    assert set(harness.users(t)) and not harness.users(t, deleted_only=True)


# --- the same message delivered twice at once ----------------------------------------------


@pytest.mark.slow
def test_the_same_job_delivered_twice_at_once_syncs_once(harness: Harness, world: World) -> None:
    t = harness.start_onboarded()
    services = harness.services
    job = services.starter.start(t.id, "directory", "queue", enqueue=False)
    assert harness.sim is not None
    harness.sim.set_latency(0.2)
    harness.sim.reset_stats()
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: services.jobs.handle(job.to_json(), "directory"),
                             range(2)))
    assert sorted(r.status.value for r in runs if r) == ["skipped", "succeeded"]
    duplicate = next(r for r in runs if r and r.status == RunStatus.SKIPPED)
    assert duplicate.error_code == "duplicate_delivery" and job.run_id in duplicate.error
    # One sync's Graph reads: the level-0 group, its members, Management's members.
    graph = harness.sim.stats()["by_path_kind"]
    assert graph.get("GET graph.group", 0) == 1, graph  # the level-0 group, read once
    assert graph.get("GET graph.members", 0) == 2, graph  # TinyMDM's and Management's members


# --- a CLI sync while a queued one runs ----------------------------------------------------


@pytest.mark.slow
def test_a_cli_sync_while_a_queued_one_waits_is_refused_and_names_it(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded(**FAST)
    queued = api.post(f"/api/tenants/{t.id}/directory/sync").json()["runId"]
    cli = _cli(harness, "sync", "directory", "--tenant-id", t.id)
    _out, err = cli.communicate(timeout=60)
    assert cli.returncode == 2
    assert queued in err and "already queued" in err and "Traceback" not in err
    assert run_queued_jobs(harness, "directory") == 1
    assert harness.services.runs.get(t.id, queued).status == RunStatus.SUCCEEDED


@pytest.mark.slow
def test_a_killed_cli_run_holds_back_the_timer_too_until_its_lease_runs_out(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded(**FAST)
    assert harness.sim is not None
    harness.sim.set_latency(0.5)
    cli = _cli(harness, "sync", "directory", "--tenant-id", t.id)
    _wait_for(lambda: bool(_only_run(harness, t, RunStatus.RUNNING)))
    cli.send_signal(signal.SIGKILL)
    cli.wait(timeout=10)
    harness.sim.set_latency(0)
    assert harness.services.scheduler.schedule("directory") == (0, 1)
    time.sleep(LEASE + 0.5)
    assert harness.services.scheduler.schedule("directory") == (1, 0)


# --- dependencies: token endpoint and Key Vault ---------------------------------------------


def _token_fault(harness: Harness, status: int, times: int | None) -> None:
    assert harness.sim is not None
    harness.services.tokens.forget()  # MSAL would answer from its cache
    fault: dict[str, object] = {"match": {"path_contains": "/oauth2/v2.0/token"},
                                "kind": "status", "status": status, "retry_after": 1}
    if times is not None:
        fault["times"] = times
    harness.sim.set_faults([fault])


@pytest.mark.slow
@pytest.mark.parametrize("status", [503, 429])
def test_one_busy_answer_from_the_token_endpoint_is_retried(
    harness: Harness, world: World, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    t = harness.start_onboarded()
    _token_fault(harness, status, times=1)
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(("status", "code", "http"), [
    (503, "authority_unreachable", 502), (429, "authority_throttled", 503),
])
@pytest.mark.slow
def test_a_token_endpoint_that_stays_busy_is_a_named_dependency_error(
    harness: Harness, world: World, api: Api, caplog: pytest.LogCaptureFixture,
    status: int, code: str, http: int,
) -> None:
    t, _ = seed_example(world)
    other, _ = seed_example(world)
    harness.start(TENANTSYNC_GRAPH_MAX_RETRIES="2", TENANTSYNC_GRAPH_MAX_RETRY_WAIT="1")
    harness.onboard(t)
    _token_fault(harness, status, times=None)
    run = harness.sync(t)
    assert (run.status, run.error_code) == (RunStatus.FAILED, code)
    # Onboarding over HTTP: never 422 (the admin's input is fine) nor 500.
    assert_error(api.post("/api/tenants", json=tenant_body(other)), http, code)
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.slow
def test_a_key_vault_connection_reset_is_retried(harness: Harness, world: World) -> None:
    t = harness.start_onboarded(TENANTSYNC_SECRET_CACHE_SECONDS="0")
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": "/keyvault/secrets/"}, "kind": "drop",
                             "times": 2}])
    assert harness.sync(t).status == RunStatus.SUCCEEDED


@pytest.mark.slow
def test_a_key_vault_that_stays_unreachable_is_key_vault_error_everywhere(
    harness: Harness, world: World, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    t = harness.start_onboarded(TENANTSYNC_SECRET_CACHE_SECONDS="0",
                                TENANTSYNC_GRAPH_MAX_RETRY_WAIT="1")
    assert harness.sim is not None
    harness.sim.set_faults([{"match": {"path_contains": "/keyvault/secrets"}, "kind": "drop"}])
    run = harness.sync(t)
    assert (run.status, run.error_code) == (RunStatus.FAILED, "key_vault_error")
    # A secret saved again over HTTP (its connection test passes): the vault is the problem.
    assert_error(api.patch(f"/api/tenants/{t.id}", json={"clientSecret": t.secret}),
                 503, "key_vault_error")
    cli = subprocess.run(
        [sys.executable, "-m", "functions.cli", "tenant", "update", "--tenant-id", t.id,
         "--secret-env", "NEW_SECRET"], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, **harness.env, "NEW_SECRET": t.secret}, timeout=120)
    assert cli.returncode == 1
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tenantsync: error: Key Vault"), cli.stderr
    check_no_secret(cli.stdout + cli.stderr, ["NEW_SECRET", t.secret])
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.slow
def test_a_storage_connection_reset_after_a_transaction_was_sent_is_retried(
    outage: Outage,
) -> None:
    # The reset comes after Azurite carried the transaction out: only its answer is lost. A
    # transaction of upserts is idempotent, so sending it again is safe, and the write whole.
    store = TableStore.from_connection_string(outage.connection_string, "reset")
    store.ensure_tables()
    rows = [{"PartitionKey": "p", "RowKey": f"{i:04d}", "Value": i} for i in range(250)]
    outage.tables.drop_answers(2)
    stats = store.write("users", rows)
    assert (stats.entities, stats.transactions) == (250, 3)
    stored = store.query("users", "PartitionKey eq @p", {"p": "p"})
    assert sorted(e["Value"] for e in stored) == list(range(250))


# --- storage that acknowledged writes and lost them -----------------------------------------


@pytest.mark.slow
def test_storage_that_lost_acknowledged_writes_converges_at_the_next_full_comparison(
    harness: Harness, world: World
) -> None:
    t, ids = seed_example(world)
    harness.start(TENANTSYNC_FULL_COMPARE_HOURS="0.0005")  # 1.8 s
    harness.onboard(t)
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    store: TableStore = harness.services.tables
    for name in ("tom", "jane"):  # acknowledged, then lost
        store.delete("users", t.id, ids[name])
    trusted = harness.sync(t)  # the digest still matches: within the window it is trusted
    assert trusted.users.created == 0
    assert ids["tom"] not in harness.users(t)
    time.sleep(2.0)
    healed = harness.sync(t)
    assert healed.users.created == 2
    assert {ids["tom"], ids["jane"]} <= set(harness.users(t))


@pytest.mark.slow
def test_a_write_cut_short_makes_the_next_identical_read_compare_in_full(
    harness: Harness, world: World
) -> None:
    t, ids = seed_example(world)
    # Every sync reads in full: the engine's digest is the subject (a delta re-sync loads
    # only the rows its changes touch; lost rows are its full comparison's to find).
    harness.start(**FAST, TENANTSYNC_DIRECTORY_RECONCILE_HOURS="0")
    harness.onboard(t)
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["tom"])
    store = harness.services.tables
    users_table = store.table("users")
    users_table.delete_table()  # the users write of the next run fails part-way
    with pytest.raises(StorageError):
        harness.sync(t)
    store.ensure_tables()
    harness.sim.add_member(t.id, t.level0, ids["tom"])  # the tree is as it was again
    state = harness.services.tenants.get(t.id).directory_state
    assert state.fingerprint == ""  # no longer vouches for the tables
    healed = _sync_when_free(harness, t)  # once the failed run's lease has run out
    assert healed.users.created == len(harness.users(t)) > 0


def _sync_when_free(harness: Harness, t: Tenant):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        try:
            return harness.sync(t)
        except ConflictError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


# --- an inventory layout cut short -----------------------------------------------------------


def test_rows_left_over_from_an_interrupted_relayout_are_cleaned_up(
    harness: Harness, world: World
) -> None:
    partner = Partner(world)
    tid = partner.customer("Contoso", devices=3)
    harness.start()
    connect(harness, partner)
    harness.services.partners.discover(partner.id)
    assert harness.services.runner.run_one("devices", tid, "cli").status == RunStatus.SUCCEEDED
    store = harness.services.tables
    orphan = packed.row_key(4, 2)  # a bucket of a layout the tenant does not have
    store.upsert("inventory", {"PartitionKey": tid, "RowKey": orphan, "devices0": b""})
    harness.services.runner.run_one("devices", tid, "cli", RunOptions(full=True))
    assert store.get("inventory", tid, orphan) is None


# --- a group's members --------------------------------------------------------------------


@pytest.mark.slow
def test_a_page_of_a_groups_members_is_one_query(
    harness: Harness, world: World, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    t, ids = seed_example(world)
    harness.start()
    harness.onboard(t)
    harness.sync(t)
    calls: list[str] = []
    for name in ("get", "query", "query_page"):
        original = getattr(TableStore, name)

        def counted(self, *args, __original=original, __name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(f"{__name} {args[0]}")
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(TableStore, name, counted)
    page = api.get(f"/api/tenants/{t.id}/users", params={"groupId": ids["management"]})
    assert page.status_code == 200
    assert {u["id"] for u in page.json()["items"]} == {ids["jane"], ids["richard"]}
    assert [c for c in calls if not c.endswith("tenants")] == ["query_page memberships"]


# --- clean stops ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_local_stack_stops_azurite_and_the_simulator(
    tmp_path: Path, sig: signal.Signals
) -> None:
    from devstack.stack import free_port

    state = tmp_path / "local.json"
    serve = subprocess.Popen(
        [sys.executable, "scripts/serve.py", "--port", str(free_port()), "--state-file",
         str(state), "--no-worker", "--empty"], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        _wait_for(state.exists, timeout=60)
        pids = json.loads(state.read_text())["pids"]
        children = [pids["azurite"], pids["simulator"]]
        assert all(_alive(pid) for pid in children)
        serve.send_signal(sig)
        serve.wait(timeout=30)
        _wait_for(lambda: not any(_alive(pid) for pid in children), timeout=20)
        if sig == signal.SIGTERM:
            assert not state.exists()  # removed on the way out
    finally:
        serve.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its parent.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


# --- racing starts -------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_starts_at_once_from_http_the_timer_and_the_cli_queue_one_run(
    harness: Harness, world: World, api: Api
) -> None:
    t = harness.start_onboarded()
    services = harness.services

    def http(_: int) -> str:
        return str(api.post(f"/api/tenants/{t.id}/directory/sync").status_code)

    def timer(_: int) -> str:
        return "timer:" + str(services.scheduler.schedule("directory")[0])

    def cli(_: int) -> str:
        try:
            services.starter.start(t.id, "directory", "cli", enqueue=False)
            return "cli:started"
        except ConflictError:
            return "cli:refused"

    starters = [http, timer, cli] * 7
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda f: f(0), starters[:20]))
    started = (outcomes.count("202") + outcomes.count("timer:1")
               + outcomes.count("cli:started"))
    assert started == 1, outcomes
    recorded = [r for r in services.runs.recent(t.id, 50) if r.kind == "directory"]
    assert len(recorded) == 1 and recorded[0].status == RunStatus.QUEUED


@pytest.fixture(autouse=True)
def _quiet_azure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
