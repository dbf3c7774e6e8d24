"""When a request to Graph, the token endpoint or Key Vault is sent again (pure)."""

from __future__ import annotations

import pytest

from functions.clients.entra import _is_transient
from functions.clients.retry import RetryPolicy


def test_waits_grow_exponentially_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(max_retries=6, max_wait=10.0)
    waits = [policy.wait(n) for n in range(6)]
    for n, wait in enumerate(waits):
        base = min(2.0**n, 10.0)
        assert base <= wait <= base + min(1.0, base * 0.1)  # plus a little jitter


def test_a_service_hint_wins_but_never_past_the_cap() -> None:
    policy = RetryPolicy(max_retries=6, max_wait=10.0)
    assert 3.0 <= policy.wait(0, hinted=3.0) <= 3.3
    assert 10.0 <= policy.wait(0, hinted=400.0) <= 11.0
    assert policy.wait(5, hinted=0.0) == 0.0


def test_the_budget_is_a_number_of_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert [policy.may_retry(n) for n in range(4)] == [True, True, False, False]


def test_a_full_budget_window_is_waited_out_longer_than_an_outage_is_retried() -> None:
    policy = RetryPolicy(max_retries=1, max_throttled_retries=3)
    assert [policy.may_retry(n, status=503) for n in range(3)] == [True, False, False]
    assert [policy.may_retry(n, status=429) for n in range(4)] == [True, True, True, False]
    # An operator's larger retry budget still holds for 429s too.
    assert RetryPolicy(max_retries=8, max_throttled_retries=3).may_retry(7, status=429)


@pytest.mark.parametrize(("result", "transient"), [
    ({"error": "temporarily_unavailable", "error_codes": [90055]}, True),
    ({"error": "invalid_request", "error_codes": [90033]}, True),
    ({"error": "invalid_client", "error_codes": [7000215]}, False),
    ({"error": "unauthorized_client", "error_codes": [700016]}, False),
    ({"error": "invalid_client"}, False),
])
def test_only_a_busy_or_transient_token_answer_is_asked_again(
    result: dict[str, object], transient: bool
) -> None:
    assert _is_transient(result) is transient


def test_a_budget_is_spent_by_every_retry_of_its_requests() -> None:
    budget = RetryPolicy(max_retries=2, max_wait=5.0).budget()
    waits = []
    while budget.may_retry():
        waits.append(budget.spend(hinted=30.0))  # Retry-After past the cap: the cap
    assert len(waits) == 2 and all(5.0 <= w <= 5.5 for w in waits)
    assert RetryPolicy.retriable(429) and RetryPolicy.retriable(504)
    assert not RetryPolicy.retriable(500)
