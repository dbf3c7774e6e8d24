"""What a run uses (functions/core/usage.py) and what that costs (functions/core/pricing.py):
pure logic, no storage."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.core import usage
from functions.core.errors import InputError
from functions.core.pricing import (
    DEFAULT_SCHEDULES,
    INSTANCE_GB,
    PRICES,
    RUNS_AT_ONCE,
    START_TABLE_OPERATIONS,
    SyncUse,
    monthly,
    syncs_a_month,
)


def _burn(seconds: float) -> float:
    """Spend about ``seconds`` of this thread's CPU; returns how much it spent."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        sum(range(1000))
    return time.thread_time() - started


def test_a_run_counts_the_cpu_of_the_pool_threads_it_hands_work_to() -> None:
    meter = usage.Usage()
    with usage.metered(meter):
        own = _burn(0.05)
        with ThreadPoolExecutor(2) as pool:
            spent = sum(pool.map(usage.carried(_burn), [0.05, 0.05]))
        total = meter.cpu_seconds()
    assert total >= own + spent - 0.005
    assert total <= own + spent + 0.05  # nothing of other threads', nothing counted twice


def test_work_not_handed_over_is_not_counted_and_outside_a_run_nothing_is() -> None:
    meter = usage.Usage()
    with usage.metered(meter), ThreadPoolExecutor(1) as pool:
        pool.submit(_burn, 0.1).result()  # not carried: another run's, or nobody's
    assert meter.cpu_seconds() < 0.05
    assert usage.current() is None
    usage.count_storage_operation()  # no run: counted nowhere, and no error
    assert usage.carried(_burn) is _burn


def test_storage_operations_are_counted_for_the_run_of_the_thread_that_sent_them() -> None:
    first, second = usage.Usage(), usage.Usage()
    with usage.metered(first):
        usage.count_storage_operation()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(usage.carried(lambda _: usage.count_storage_operation()), range(5)))
        with usage.metered(second):  # a meter inside another counts alone meanwhile
            usage.count_storage_operation()
        usage.count_storage_operation()
    assert first.storage_operations == 7
    assert second.storage_operations == 1


def test_the_infra_default_schedules_fire_1440_and_120_times_a_month() -> None:
    assert syncs_a_month(DEFAULT_SCHEDULES["directory"]) == 48 * 30
    assert syncs_a_month(DEFAULT_SCHEDULES["devices"]) == 4 * 30
    assert syncs_a_month("0 0,30 9-17 * * *") == 2 * 9 * 30
    assert syncs_a_month("*/10 * * * * *") == 6 * 60 * 24 * 30


@pytest.mark.parametrize("schedule", ["0 */30 * * *", "0 */30 * * * 1-5", "0 */0 * * * *",
                                      "0 61 * * * *", "x * * * * *", "0 5-2 * * * *", ""])
def test_a_schedule_that_cannot_be_counted_is_refused_by_name(schedule: str) -> None:
    with pytest.raises(InputError) as caught:
        syncs_a_month(schedule)
    assert caught.value.code == "invalid_schedule"


def test_a_month_is_priced_from_what_each_sync_used() -> None:
    waiting = SyncUse(cpu_seconds=0.01, seconds=1.0, storage_operations=10)
    computing = SyncUse(cpu_seconds=2.0, seconds=1.0, storage_operations=10)
    # An instance executes while a run does, shared by the runs at once; never below CPU.
    assert waiting.gb_seconds == pytest.approx(INSTANCE_GB * 1.0 / RUNS_AT_ONCE)
    assert computing.gb_seconds == pytest.approx(INSTANCE_GB * 2.0)
    cost = monthly(computing, 1000)
    assert cost.compute == pytest.approx(1000 * INSTANCE_GB * 2.0 * PRICES.gb_second)
    assert cost.executions == pytest.approx(1000 * PRICES.million_executions / 1e6)
    assert cost.tables == pytest.approx(
        1000 * (10 + START_TABLE_OPERATIONS) * PRICES.table_10k / 1e4)
    assert cost.total == pytest.approx(cost.compute + cost.executions + cost.tables
                                       + cost.queues)
    assert monthly(computing, 2000).total == pytest.approx(2 * cost.total)
