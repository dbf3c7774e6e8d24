"""The shared pacer's slots and chunks (pure logic: the record of claims is a dict here; the
real one, on Azurite, is in tests/test_shared_budget.py)."""

from __future__ import annotations

from collections import Counter

from functions.clients.pacing import SharedPacer


class Record:
    """Claims as the budgets table keeps them: what every pacer claimed, per slot."""

    def __init__(self) -> None:
        self.claimed: Counter[tuple[str, int]] = Counter()
        self.writes = 0

    def claim(self, key: str, slot: int, limit: int, wanted: int) -> int:
        granted = max(0, min(wanted, limit - self.claimed[(key, slot)]))
        if granted:
            self.claimed[(key, slot)] += granted
            self.writes += 1
        return granted


class Clock:
    def __init__(self, at: float = 1000.0) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_two_pacers_of_one_app_share_a_slot_and_the_second_waits_for_the_next() -> None:
    record, clock = Record(), Clock()
    # 50 a 20 s window in 4 slots of 5 s: 10 a slot (50 / 5), claimed 5 at a time.
    first, second = (SharedPacer(record, "app", 50, 20.0, chunk=5, clock=clock,
                                 sleep=clock.sleep) for _ in range(2))
    for _ in range(3):
        first.take()
    for _ in range(5):
        second.take()
    assert clock.now == 1000.0  # 8 fit in the slot: nobody waited
    assert record.claimed[("app", 200)] == 10 and record.writes == 2  # in chunks, not per request
    second.take()  # the slot is spent (first holds 2 unused): the next slot's start
    assert clock.now == 1005.0 and second.waited == 5.0
    first.take()  # what it held of the last slot is gone: it claims in the new one
    assert record.claimed[("app", 201)] == 10 and first.waited == 0.0


def test_any_window_stays_inside_the_limit_whatever_the_pacers_ask() -> None:
    record, clock = Record(), Clock(1002.5)
    pacers = [SharedPacer(record, "app", 50, 20.0, chunk=3, clock=clock, sleep=clock.sleep)
              for _ in range(3)]
    sent: list[float] = []
    for n in range(400):
        pacers[n % 3].take()
        sent.append(clock.now)
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 20.0) <= 50


def test_a_grant_that_comes_back_after_its_slot_ended_is_not_spent_in_the_next() -> None:
    clock = Clock(1004.999)

    class Slow(Record):
        def claim(self, key: str, slot: int, limit: int, wanted: int) -> int:
            clock.now += 0.01  # the write came back after the slot ended
            return super().claim(key, slot, limit, wanted)

    record = Slow()
    pacer = SharedPacer(record, "app", 50, 20.0, chunk=5, clock=clock, sleep=clock.sleep)
    pacer.take()
    # The late grant of slot 200 was dropped; the request was granted from slot 201.
    assert record.claimed == Counter({("app", 200): 5, ("app", 201): 5})


def test_other_apps_have_budgets_of_their_own() -> None:
    record, clock = Record(), Clock()
    a = SharedPacer(record, "a", 10, 20.0, clock=clock, sleep=clock.sleep)
    b = SharedPacer(record, "b", 10, 20.0, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        a.take()
        b.take()
    assert clock.now == 1000.0
    assert record.claimed == Counter({("a", 200): 2, ("b", 200): 2})
