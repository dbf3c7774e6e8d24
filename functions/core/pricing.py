"""What syncing a tenant costs a month on Azure: from what its runs used (``cpu_ms``,
``storage_operations``, measured by functions/core/usage.py), or, before it is onboarded,
from its size and the benchmarks' figures. Pure functions; docs/scale.md explains the
model and gives each price's source and date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from functions.core.errors import ErrorCode, InputError


@dataclass(frozen=True)
class PriceList:
    """US dollars, as gathered on 7 December 2026 (docs/scale.md, "Sources")."""

    # Flex Consumption, on demand: memory time while executing, and executions
    # [functions-consumption-costs, 02/10/2025].
    gb_second: float = 0.000026
    million_executions: float = 0.40
    # Storage (GPv2 LRS quotes): table transactions and queue operations, per 10,000.
    table_10k: float = 0.00036
    queue_10k: float = 0.004


PRICES = PriceList()

# The instance the infra chooses (infra/main.bicep instanceMemoryMB = 2,048) and the sync
# jobs it runs at once (host.json batchSize + newBatchThreshold, and as many threads:
# PYTHON_THREADPOOL_THREAD_COUNT in infra/modules/functionapp.bicep; tests/infra/test_scale.py).
INSTANCE_GB = 2.0
RUNS_AT_ONCE = 6
# What a sync costs outside its own run's record (tests/test_run_cost.py measures it): the
# start (the claim, the queued run) and what follows the record's save (the tenant's state,
# the outbox's publication, the subscriptions) in table operations; the message's put, its
# share of a receive and its delete in queue operations (fleet benchmark, docs/scale.md).
START_TABLE_OPERATIONS = 6.0
QUEUE_OPERATIONS = 2.1

DAYS_A_MONTH = 30
# The timers' schedules the infra sets by default (infra/main.bicep directorySchedule and
# devicesSchedule), used where the app setting is not at hand.
DEFAULT_SCHEDULES = {"directory": "0 */30 * * * *", "devices": "0 15 */6 * * *"}


@dataclass(frozen=True)
class SyncUse:
    """What one sync used: its threads' CPU, its wall time, its own storage operations."""

    cpu_seconds: float
    seconds: float
    storage_operations: float

    @property
    def gb_seconds(self) -> float:
        """The instance memory time it is billed: the instance executes while any run does,
        shared by the runs at once, and never less than the CPU the run itself used."""
        return INSTANCE_GB * max(self.cpu_seconds, self.seconds / RUNS_AT_ONCE)


@dataclass(frozen=True)
class MonthlyCost:
    """One tenant's syncs of one kind for a month, priced."""

    syncs: float
    gb_seconds: float
    compute: float
    executions: float
    tables: float
    queues: float

    @property
    def total(self) -> float:
        return self.compute + self.executions + self.tables + self.queues


def monthly(use: SyncUse, syncs: float, prices: PriceList = PRICES) -> MonthlyCost:
    """``syncs`` syncs a month, each using ``use``."""
    gb_seconds = use.gb_seconds * syncs
    table_ops = (use.storage_operations + START_TABLE_OPERATIONS) * syncs
    return MonthlyCost(
        syncs=syncs, gb_seconds=gb_seconds, compute=gb_seconds * prices.gb_second,
        executions=syncs * prices.million_executions / 1_000_000,
        tables=table_ops * prices.table_10k / 10_000,
        queues=QUEUE_OPERATIONS * syncs * prices.queue_10k / 10_000)


def syncs_a_month(schedule: str) -> int:
    """How many times a month a timer's NCRONTAB schedule (``{second} {minute} {hour} {day}
    {month} {day-of-week}``) fires, for schedules that fire every day alike (``*`` in the
    last three fields), as the infra's defaults do.

    Raises:
        InputError: ``invalid_schedule``: a schedule this cannot count.
    """
    fields = schedule.split()
    if len(fields) != 6 or fields[3:] != ["*", "*", "*"]:
        raise InputError(
            f"cannot count the firings of schedule {schedule!r}: give a six-field NCRONTAB "
            "schedule that fires every day alike (day, month and day of week '*')",
            code=ErrorCode.INVALID_SCHEDULE)
    a_day = math.prod(len(_values(f, limit, schedule))
                      for f, limit in zip(fields[:3], (60, 60, 24), strict=True))
    return a_day * DAYS_A_MONTH


def _values(field: str, limit: int, schedule: str) -> set[int]:
    """The values one NCRONTAB field (``*``, ``*/n``, ``a-b``, ``a-b/n``, lists) matches."""
    found: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if span == "*":
                low, high = 0, limit - 1
            elif "-" in span:
                low, high = (int(v) for v in span.split("-", 1))
            else:
                low = high = int(span)
        except ValueError:
            raise InputError(f"cannot read the field {field!r} of schedule {schedule!r}",
                             code=ErrorCode.INVALID_SCHEDULE) from None
        if step < 1 or not 0 <= low <= high < limit:
            raise InputError(f"the field {field!r} of schedule {schedule!r} is out of range",
                             code=ErrorCode.INVALID_SCHEDULE)
        found.update(range(low, high + 1, step))
    return found


# --- before onboarding: from the tenant's size ---------------------------------------------

@dataclass(frozen=True)
class SizeModel:
    """A sync's use as a fixed part and a part per user or device, fitted to the benchmarks
    (docs/scale.md, "What a tenant costs"). A measured tenant's runs replace it."""

    cpu_fixed: float
    cpu_each: float
    seconds_fixed: float
    seconds_each: float
    storage_fixed: float
    storage_each: float

    def use(self, size: int) -> SyncUse:
        return SyncUse(self.cpu_fixed + self.cpu_each * size,
                       self.seconds_fixed + self.seconds_each * size,
                       self.storage_fixed + self.storage_each * size)


# Directory: a first sync writes about 1.8 entities a user, 100 to a transaction; an
# unchanged one is a delta read of 2 requests, whatever the size (bench.directory, bench.fleet).
DIRECTORY_FIRST = SizeModel(0.10, 0.00012, 0.5, 0.00036, 14, 0.018)
DIRECTORY_UNCHANGED = SizeModel(0.04, 0.0, 0.2, 0.0, 6, 0.0)
# Devices with per-device software (bench.devices --scenario msp: 500 devices, 300 apps;
# 0.130-0.146 CPU s a first sync and 0.059-0.066 an unchanged one, 8 December).
DEVICES_FIRST = SizeModel(0.03, 0.00022, 2.0, 0.008, 30, 0.004)
DEVICES_UNCHANGED = SizeModel(0.02, 0.00009, 1.5, 0.006, 10, 0.0)

MODELS = {"directory": (DIRECTORY_FIRST, DIRECTORY_UNCHANGED),
          "devices": (DEVICES_FIRST, DEVICES_UNCHANGED)}
