"""Pacing inside a request budget, deadlines, and the roles of a token (pure logic)."""

from __future__ import annotations

import base64
import json

from functions.clients.claims import token_roles
from functions.clients.pacing import Deadline, RequestPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_grants_what_fits_and_waits_for_the_oldest_to_leave_the_window() -> None:
    clock = FakeClock()
    pacer = RequestPacer(50, 20.0, clock=clock, sleep=clock.sleep)
    assert pacer.take(20) == 20
    clock.now += 5
    assert pacer.take(20) == 20
    assert pacer.take(20, wait=False) == 10  # only 10 fit now: without waiting, 10 go
    assert pacer.take(1, wait=False) == 0
    assert clock.slept == []
    clock.now += 1
    # Full: a whole batch waits until the first 20 (sent at 100) leave the window at 120.
    assert pacer.take(20) == 20
    assert clock.slept == [14.0] and clock.now == 120.0
    assert pacer.waited == 14.0


def test_no_window_ever_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    pacer = RequestPacer(30, 2.0, clock=clock, sleep=clock.sleep)
    sent: list[tuple[float, int]] = []
    for size in [7, 20, 3, 20, 20, 1, 20, 20, 20, 5] * 3:
        granted = pacer.take(size)
        assert 1 <= granted <= size
        sent.append((clock.now, granted))
        clock.now += 0.05
    for start, _ in sent:
        assert sum(n for t, n in sent if start <= t < start + 2.0) <= 30


def test_a_wait_past_the_deadline_is_not_waited() -> None:
    clock = FakeClock()
    pacer = RequestPacer(5, 10.0, clock=clock, sleep=clock.sleep)
    assert pacer.take(5) == 5
    deadline = Deadline(3.0, clock=clock)
    assert pacer.take(1, deadline) == 0 and clock.slept == []
    assert pacer.wait_for(1) == 10.0
    assert pacer.wait_for(12) == 10.0 + 2 * 10.0  # three windows' worth
    assert pacer.take(1, deadline.extended(10)) == 1 and clock.slept == [10.0]


def test_a_later_run_counts_what_an_earlier_one_sent_in_the_same_window() -> None:
    clock = FakeClock()
    first = RequestPacer(10, 20.0, clock=clock, sleep=clock.sleep)
    first.take(8)
    clock.now += 15
    record = first.recent(now_unix=1_000_015.0)
    assert record == [[1_000_000.0, 8]]
    later_clock = FakeClock()
    later_clock.now = 5.0  # another process: another monotonic clock
    second = RequestPacer(10, 20.0, clock=later_clock, sleep=later_clock.sleep)
    second.prime(record, now_unix=1_000_016.0)  # one second later
    assert second.take(5, wait=False) == 2  # 8 of 10 are still in the window for 4 s
    assert second.take(1) == 1 and later_clock.slept == [4.0]


def test_a_refusal_holds_every_grant_until_the_service_said_its_window_refills() -> None:
    clock = FakeClock()
    pacer = RequestPacer(50, 20.0, clock=clock, sleep=clock.sleep)
    assert pacer.take(5) == 5
    # Another process spent the budget: the service refuses though 45 fit in our window.
    pacer.refused(3.5)
    assert pacer.take(1, wait=False) == 0
    assert pacer.wait_for(10) == 3.5
    assert pacer.take(10) == 10
    assert clock.slept == [3.5]
    pacer.refused(None)  # no wait named: a whole window
    assert pacer.wait_for(1) == 20.0
    pacer.refused(600.0)  # never longer than a window
    assert pacer.wait_for(1) == 20.0


def test_deadlines_count_down_and_never_passes_for_none() -> None:
    clock = FakeClock()
    deadline = Deadline(5.0, clock=clock)
    assert deadline.remaining() == 5.0 and not deadline.passed()
    clock.now += 6
    assert deadline.remaining() == 0.0 and deadline.passed()
    assert not Deadline.never().passed()


def _token(claims: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.signature"


def test_the_roles_of_a_token_are_read_from_its_payload() -> None:
    roles = ["DeviceManagementManagedDevices.ReadWrite.All", "Organization.Read.All"]
    assert token_roles(_token({"tid": "t", "roles": roles})) == frozenset(roles)
    assert token_roles(_token({"tid": "t"})) == frozenset()  # no consent: no roles claim
    assert token_roles(_token({"roles": "not a list"})) == frozenset()
    assert token_roles(_token([1, 2])) == frozenset()
    assert token_roles("not.a.jwt!") == frozenset()
    assert token_roles("opaque-token") == frozenset()
