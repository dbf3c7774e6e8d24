"""A new instance's first moments: its threads all ask at once for a token or a secret, and
each reaches Entra or Key Vault once (the fleet benchmark's floors, issue 21)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from azure.keyvault.secrets._shared import http_challenge_cache

from functions.clients.entra import VaultCredential
from functions.core.config import Settings
from functions.core.sensitive import SecretValue
from functions.services import Services
from tests.conftest import Harness
from tests.world import World

THREADS = 8


def at_once(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``work(i)`` on ``threads`` threads released together; their answers in order."""
    start = threading.Barrier(threads)
    answers: list[Any] = [None] * threads

    def one(i: int) -> None:
        start.wait()
        answers[i] = work(i)

    runners = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=60)
    return answers


def counted(stats: dict[str, Any]) -> dict[str, int]:
    kinds = stats["by_path_kind"]
    return {"token": kinds.get("POST token", 0), "vault": kinds.get("GET keyvault", 0)}


def test_threads_of_a_new_instance_reading_secrets_at_once_sign_in_to_the_vault_once(
    harness: Harness, world: World
) -> None:
    harness.start()
    names = [f"first-moments-{i}" for i in range(THREADS)]
    for i, name in enumerate(names):
        harness.services.secrets.put(name, SecretValue(f"value-{i}"), expires_on=None)
    assert harness.sim is not None
    instance = Services(Settings.from_env(harness.env))  # nothing cached, not even the vault's
    # The SDK keeps the vault's auth challenge process-wide: a new instance starts without it.
    http_challenge_cache.clear()
    harness.sim.reset_stats()
    values = at_once(lambda i: instance.secrets.get(names[i]).value.reveal())
    assert values == [f"value-{i}" for i in range(THREADS)]
    # One token for the instance's own identity, one auth challenge (a 401 GET) and one read
    # of each secret: not one sign-in and challenge per thread.
    assert counted(harness.sim.stats()) == {"token": 1, "vault": THREADS + 1}
    harness.sim.reset_stats()
    at_once(lambda i: instance.secrets.get(names[i % 2]))
    assert counted(harness.sim.stats()) == {"token": 0, "vault": 0}


def test_threads_asking_at_once_for_one_tenants_secret_and_token_ask_once(
    harness: Harness, world: World
) -> None:
    tenant = harness.start_onboarded()
    assert harness.sim is not None
    instance = Services(Settings.from_env(harness.env))
    instance.secrets.ping()  # the vault's own sign-in and challenge, out of the count
    harness.sim.reset_stats()
    connection = harness.services.tenants.get(tenant.id).directory
    assert connection is not None

    def token(_: int) -> str:
        return VaultCredential(instance.tokens, instance.secrets, tenant.id, tenant.app_id,
                               connection.credential, "https://graph.microsoft.com/.default")()

    tokens = at_once(token)
    assert len(set(tokens)) == 1
    # Key Vault read once for the tenant's secret, Entra asked once for its token.
    assert counted(harness.sim.stats()) == {"token": 1, "vault": 1}
