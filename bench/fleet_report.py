"""The fleet benchmark's figures: one cycle's accounting, the tables it prints, its floors."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.fleet_fanout import InstanceShape
from bench.fleet_world import Fleet

FANOUT_FLOOR_TENANTS, FANOUT_FLOOR_S = 10_000, 60.0
# Room kept for the largest tenant an instance may meet: the directory benchmark's floor for
# one 100,000-user tenant's sync (docs/benchmarks.md).
LARGEST_TENANT_MB = 300


@dataclass
class Cycle:
    """One cycle at one K: fan-out, then every queued job run by the K workers."""

    k: int
    number: int
    wall_s: float  # the drain: from the end of the fan-out until every job has run
    fanout_s: float
    enqueued: int
    drained: bool
    sim: dict[str, Any]  # the simulator's counters for the cycle
    before: list[dict[str, Any]]  # each worker's report before and after it
    after: list[dict[str, Any]]
    timer: dict[str, float]  # the fan-out's own CPU seconds and storage operations
    peers: dict[str, float]  # CPU seconds of the simulator and Azurite
    statuses: Counter[str] = field(default_factory=Counter)
    synced_once: int = 0
    duplicates: int = 0
    missed: int = 0
    left: int = 0
    skipped_deliveries: int = 0
    recorded_cpu_ms: int = 0  # what the cycle's runs recorded they used (functions/core/usage.py)
    recorded_ops: int = 0

    def worker_runs(self) -> list[list[list[str]]]:
        """Each worker's runs of this cycle: [tenant, kind, run id, status, error code]."""
        return [a["runs"][len(b["runs"]):] for b, a in zip(self.before, self.after, strict=True)]

    def delta(self, key: str) -> float:
        return float(sum(a[key] - b[key] for b, a in zip(self.before, self.after, strict=True)))

    def cpu_use(self, cores: int) -> float:
        """Every process of the benchmark (workers, timer, simulator, Azurite) against the
        machine's cores, fan-out and drain together."""
        used = self.delta("cpu_s") + self.timer["cpu_s"] + sum(self.peers.values())
        return used / ((self.wall_s + self.fanout_s) * cores)

    @property
    def tenants(self) -> int:
        return self.synced_once or 1

    def requests(self, kind: str, method: str = "") -> int:
        return sum(n for key, n in self.sim["by_path_kind"].items()
                   if key.split(" ", 1)[1].startswith(kind) and key.startswith(method))

    def account(self, runs: Any, fleet: Fleet, since: datetime) -> None:
        """Read every tenant's runs of this cycle from the runs table: each tenant should
        have exactly one, succeeded, and none left queued or running."""
        wanted = [(t, "directory") for t in fleet.directory] + [(t, "devices")
                                                                 for t in fleet.devices]
        for tenant, kind in wanted:
            # Queued by this cycle's fan-out (or a run of it continuing): times are stored to
            # the microsecond, and the previous cycle had drained before ``since``.
            mine = [r for r in runs.recent(tenant, limit=50) if r.kind == kind
                    and (r.queued_at or r.started_at) >= since]
            real = [r for r in mine if r.error_code != "duplicate_delivery"]
            self.statuses.update(r.status.value for r in real)
            self.recorded_cpu_ms += sum(r.cpu_ms for r in real)
            self.recorded_ops += sum(r.storage_operations for r in real)
            self.skipped_deliveries += len(mine) - len(real)
            self.left += sum(r.active for r in mine)
            succeeded = sum(r.status.value == "succeeded" for r in real)
            if len(real) > 1:
                self.duplicates += 1
            if succeeded == 0:
                self.missed += 1
            elif len(real) == 1:
                self.synced_once += 1

    def pairs(self, fleet: Fleet) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        """(tenant, instance) pairs that ran, and (secret, instance) pairs that needed one."""
        tenants, secrets = set(), set()
        for i, runs in enumerate(self.worker_runs()):
            for tenant, kind, *_ in runs:
                if not tenant:
                    continue
                tenants.add((tenant, i))
                if kind == "devices":
                    if tenant in fleet.secret_devices:
                        secrets.add(("inventory app", i))
                elif fleet.directory.get(tenant, ("", "", "", 0))[1]:
                    secrets.add((tenant, i))
        return tenants, secrets


def _bounds(cycles: list[Cycle], fleet: Fleet) -> dict[tuple[int, int], tuple[int, int]]:
    """Per (K, cycle): the token requests and Key Vault reads allowed at most: one per
    tenant (secret) an instance meets for the first time, plus, in the first cycle, each
    instance's own sign-in to the vault (and the vault's first challenge)."""
    seen: dict[int, tuple[set[Any], set[Any]]] = {}
    bounds = {}
    for c in cycles:
        tenants, secrets = c.pairs(fleet)
        old_t, old_s = seen.setdefault(c.k, (set(), set()))
        first = c.k if c.number == 1 else 0
        bounds[(c.k, c.number)] = (len(tenants - old_t) + first, len(secrets - old_s) + first)
        old_t |= tenants
        old_s |= secrets
    return bounds


def print_cycles(cycles: list[Cycle], fleet: Fleet, shape: InstanceShape, cores: int) -> None:
    print(f"\nfleet: {len(fleet.directory)} directory tenants "
          f"({sum(v[3] for v in fleet.directory.values()):,} users), {len(fleet.devices)} "
          f"device tenants ({sum(fleet.devices.values()):,} devices); an instance: "
          f"{shape.memory_mb} MB, {shape.threads} threads, queue batch {shape.batch} + "
          f"{shape.threshold}; {cores} cores on this machine")
    base = {c.number: c.tenants / c.wall_s for c in cycles if c.k == cycles[0].k}
    print(f"{'K':>2} {'cycle':>5} {'fan-out s':>9} {'drain s':>7} {'tenants/s':>9} "
          f"{'x K1':>5} {'Graph/t':>7} {'token/t':>7} {'KV/t':>6} {'storage/t':>9} "
          f"{'CPU s/t':>7} {'sim+Az CPU s/t':>14} {'CPU use':>7} {'peak MB':>7}")
    for c in cycles:
        rate = c.tenants / c.wall_s
        worker_cpu = c.delta("cpu_s") + c.timer["cpu_s"]
        peer_cpu = sum(c.peers.values())
        use = c.cpu_use(cores)
        ops = c.delta("storage_ops") + c.timer["ops"]
        peak = max(a["peak_mb"] for a in c.after)
        print(f"{c.k:>2} {c.number:>5} {c.fanout_s:>9.2f} {c.wall_s:>7.1f} {rate:>9.2f} "
              f"{rate / base[c.number]:>5.2f} {c.requests('graph') / c.tenants:>7.1f} "
              f"{c.requests('token') / c.tenants:>7.2f} "
              f"{c.requests('keyvault', 'GET') / c.tenants:>6.2f} {ops / c.tenants:>9.1f} "
              f"{worker_cpu / c.tenants:>7.3f} {peer_cpu / c.tenants:>14.3f} {use:>7.0%} "
              f"{peak:>7.0f}")
    print("tenants/s: while the workers drain (the fan-out is timed apart); CPU s/t: the "
          "workers' and the timer's; CPU use: everything on this machine's cores, both phases")
    print("\nper cycle: requests counted by the simulator (token = token endpoint, discovery "
          "= OpenID configuration, identity = managed-identity endpoint), the exactly-once "
          "accounting from the runs table")
    bounds = _bounds(cycles, fleet)
    for c in cycles:
        tokens, reads = bounds[(c.k, c.number)]
        print(f"K={c.k} cycle {c.number}: Graph {c.requests('graph')} ($batch parts "
              f"{c.sim['batch']['subrequests']}), 429s {c.sim['throttled']}, token "
              f"{c.requests('token')} (at most {tokens}), discovery {c.requests('discovery')}, "
              f"identity {c.requests('identity')}, Key Vault GET {c.requests('keyvault', 'GET')}"
              f" (at most {reads}); storage operations: timer {c.timer['ops']:.0f}, workers "
              f"{c.delta('storage_ops'):.0f}; CPU s: workers {c.delta('cpu_s'):.1f}, timer "
              f"{c.timer['cpu_s']:.1f}, simulator {c.peers['simulator']:.1f}, Azurite "
              f"{c.peers['azurite']:.1f}; runs {dict(c.statuses)}, synced once "
              f"{c.synced_once}, duplicates {c.duplicates}, missed {c.missed}, left queued or "
              f"running {c.left}, duplicate deliveries skipped {c.skipped_deliveries}, "
              f"message failures {c.delta('failures'):.0f}, drained {c.drained}; the runs "
              f"recorded {c.recorded_cpu_ms / 1000:.1f} CPU s and {c.recorded_ops} storage "
              "operations of their own (cost tenant prices these)")
        for i, runs in enumerate(c.worker_runs()):
            print(f"    instance {i}: {len(runs)} runs, peak {c.after[i]['peak_mb']} MB")
        print("    longest runs: " + ", ".join(
            f"{kind} of {_size(fleet, tenant, kind)} {float(took):.1f} s"
            for tenant, kind, *_, took in longest(c, 3)))


def longest(cycle: Cycle, count: int) -> list[list[str]]:
    """The cycle's longest runs: one of them bounds its drain from below, whatever K."""
    runs = [r for worker in cycle.worker_runs() for r in worker if r[0]]
    return sorted(runs, key=lambda r: -float(r[-1]))[:count]


def _size(fleet: Fleet, tenant: str, kind: str) -> str:
    if kind == "devices":
        return f"{fleet.devices.get(tenant, 0):,} devices"
    return f"{fleet.directory.get(tenant, ('', '', '', 0))[3]:,} users"


def print_fanout(fanout: dict[str, Any]) -> None:
    projected = fanout["seconds"] * FANOUT_FLOOR_TENANTS / fanout["tenants"]
    print(f"\ntimer fan-out alone: {fanout['tenants']:,} tenant rows -> {fanout['enqueued']:,} "
          f"jobs in {fanout['seconds']} s ({fanout['storage_ops'] / fanout['tenants']:.1f} "
          f"storage operations and {fanout['cpu_s'] * 1000 / fanout['tenants']:.2f} ms of "
          f"tenantsync CPU a tenant, {fanout['queued']:,} messages queued); "
          f"{projected:.0f} s for {FANOUT_FLOOR_TENANTS:,}"
          + ("" if fanout["tenants"] >= FANOUT_FLOOR_TENANTS else " (projected, linear)"))


def check_floors(cycles: list[Cycle], fleet: Fleet, shape: InstanceShape,
                 fanout: dict[str, Any] | None) -> list[tuple[str, bool]]:
    total = len(fleet.directory) + len(fleet.devices)
    checks: list[tuple[str, bool]] = []
    for c in cycles:
        checks.append((f"K={c.k} cycle {c.number}: every tenant synced exactly once "
                       f"({c.synced_once}/{total}; duplicates {c.duplicates}, missed "
                       f"{c.missed}, left {c.left})",
                       c.synced_once == total and not (c.duplicates or c.missed or c.left)))
    rates = {c.k: c.tenants / c.wall_s for c in cycles if c.number == 1}
    if 1 in rates and 2 in rates:
        checks.append((f"tenants/s at K=2 >= 1.5x K=1 (first cycle's drain: "
                       f"{rates[2] / rates[1]:.2f}x)",
                       rates[2] >= 1.5 * rates[1]))
    bounds = _bounds(cycles, fleet)
    for c in cycles:
        tokens, reads = bounds[(c.k, c.number)]
        checks.append((f"K={c.k} cycle {c.number}: token requests <= 1 per tenant per instance "
                       f"per token lifetime ({c.requests('token')} <= {tokens})",
                       c.requests("token") <= tokens))
        checks.append((f"K={c.k} cycle {c.number}: Key Vault reads <= 1 per secret per instance "
                       f"({c.requests('keyvault', 'GET')} <= {reads})",
                       c.requests("keyvault", "GET") <= reads))
    if cycles:
        peak = max(a["peak_mb"] for c in cycles for a in c.after)
        checks.append((f"peak memory an instance + {LARGEST_TENANT_MB} MB for the largest "
                       f"tenant <= {shape.memory_mb} MB ({peak:.0f} + {LARGEST_TENANT_MB})",
                       peak + LARGEST_TENANT_MB <= shape.memory_mb))
    if fanout:
        projected = fanout["seconds"] * FANOUT_FLOOR_TENANTS / fanout["tenants"]
        checks.append((f"timer fan-out of {FANOUT_FLOOR_TENANTS:,} due tenants <= "
                       f"{FANOUT_FLOOR_S:.0f} s ({projected:.0f} s"
                       + (")" if fanout["tenants"] >= FANOUT_FLOOR_TENANTS else
                          f", projected from {fanout['tenants']:,})"),
                       projected <= FANOUT_FLOOR_S and fanout["enqueued"] == fanout["tenants"]))
    return checks
