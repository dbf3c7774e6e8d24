"""The process's kept threads (functions/core/crew.py): jobs reuse idle threads, never wait
behind one another, idle threads end; the pool face keeps its own limit and an executor's
contract (results, errors, order, shutdown)."""

from __future__ import annotations

import threading
import time

import pytest

from functions.core.crew import Crew, CrewPool, named


def _until(check: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.01)
    return False


def test_a_job_after_another_runs_on_the_thread_the_first_left_idle() -> None:
    crew = Crew()
    seen: list[int] = []
    done = threading.Event()
    crew.run(lambda: (seen.append(threading.get_ident()), done.set()))
    assert done.wait(5)
    assert _until(lambda: crew.busy() == 0)
    done.clear()
    crew.run(lambda: (seen.append(threading.get_ident()), done.set()))
    assert done.wait(5)
    assert seen[0] == seen[1] and crew.size() == 1


def test_jobs_that_wait_on_each_other_all_run_at_once() -> None:
    crew = Crew()
    count = 6
    arrived = threading.Barrier(count, timeout=5)
    passed: list[bool] = []
    for _ in range(count):
        crew.run(lambda: passed.append(arrived.wait() >= 0))
    assert _until(lambda: len(passed) == count)  # a job queued behind another would hang
    assert crew.size() == count


def test_an_idle_thread_ends_and_a_failing_job_does_not_take_its_thread_down() -> None:
    crew = Crew(idle_seconds=0.05)
    ran = threading.Event()

    def fails() -> None:
        raise RuntimeError("boom")

    crew.run(fails)
    crew.run(ran.set)
    assert ran.wait(5)
    assert _until(lambda: crew.size() == 0)


def test_a_thread_is_named_for_its_work_and_renamed_after() -> None:
    crew = Crew()
    names: list[str] = []
    done = threading.Event()

    def job() -> None:
        with named("graph-batch"):
            names.append(threading.current_thread().name)
        names.append(threading.current_thread().name)
        done.set()

    crew.run(job)
    assert done.wait(5)
    assert names == ["graph-batch", "crew"]


def test_the_pool_keeps_its_limit_and_gives_results_errors_and_order() -> None:
    crew = Crew()
    running, most = 0, 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        if n == 7:
            raise ValueError("seven")
        return n * n

    with CrewPool(3, crew=crew) as pool:
        futures = [pool.submit(work, n) for n in range(12)]
    assert all(f.done() for f in futures)  # shutdown waited
    assert most <= 3
    assert [f.result() for f in futures if f.exception() is None] == [
        n * n for n in range(12) if n != 7]
    with pytest.raises(ValueError, match="seven"):
        futures[7].result()
    with CrewPool(2, crew=crew) as pool:
        assert list(pool.map(lambda n: n + 1, range(5))) == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError):
        pool.submit(work, 1)
