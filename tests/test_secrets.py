"""Secrets stay in Key Vault: never in a table, a log record, an error or CLI output."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests

from functions.cli import main
from functions.core.config import Settings
from functions.core.model import Health, RunStatus
from functions.core.sensitive import SecretValue
from functions.services import Services
from tests.conftest import Harness
from tests.notify_helpers import (
    body,
    graph_subscriptions,
    notification,
    serve_api,
    start_notified,
    wait_for,
)
from tests.world import World, seed_example


@pytest.mark.slow
def test_client_secret_appears_in_no_log_entity_error_or_output(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    t, ids = seed_example(world)
    expired = world.tenant("Expired", secret_expires="2020-01-01T00:00:00Z")
    harness.start()
    caplog.set_level(logging.DEBUG)  # every logger, including msal, azure and urllib3
    harness.onboard(t)
    harness.sync(t)
    assert harness.sim is not None
    harness.sim.remove_member(t.id, t.level0, ids["tom"])
    harness.sim.set_faults([{"match": {"path_contains": "/members"}, "kind": "throttle",
                             "retry_after": 0.05, "times": 1}])
    harness.sync(t)
    errors = []
    for bad_secret in (expired.secret, "wrong-" + t.secret):
        try:
            harness.services.onboarding.add_directory_tenant(
                expired.id, expired.app_id, SecretValue(bad_secret), expired.level0)
        except Exception as exc:
            errors.append(f"{exc!s} {exc!r}")
    assert len(errors) == 2
    assert main(["--verbose", "users", "--tenant-id", t.id, "--json"]) == 0
    assert main(["--verbose", "runs", "list", "--tenant-id", t.id, "--json"]) == 0
    assert main(["--verbose", "tenant", "list", "--json"]) == 0

    secrets = [t.secret, expired.secret, world.operator_secret]
    log_text = "\n".join(r.getMessage() + " " + repr(r.__dict__) for r in caplog.records)
    out = capsys.readouterr()
    entity_text = repr(harness.entities())
    for secret in secrets:
        assert secret not in log_text
        assert secret not in entity_text
        assert secret not in out.out + out.err
        assert all(secret not in e for e in errors)
    assert len(caplog.records) > 20  # the scan saw real logging, not an empty capture
    assert repr(SecretValue(t.secret)) == "SecretValue('***')"


def test_new_secret_takes_effect_at_the_next_token_request(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    assert harness.sync(t).status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    # The admin creates a second secret in Entra, saves it, then deletes the first one.
    new_secret = "rotated~" + t.secret[::-1]
    harness.sim.set_app_secrets(t.app_id, [{"id": t.secret_id, "value": new_secret,
                                            "expires": "2099-01-01T00:00:00Z"}])
    tokens_before = harness.sim.stats()["tokens_issued"]
    harness.services.onboarding.set_directory_secret(t.id, SecretValue(new_secret))
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    # A token was requested with the new secret (the old one no longer exists in Entra).
    assert harness.sim.stats()["tokens_issued"] == tokens_before + 1
    versions = harness.services.secrets.versions(f"tenant-{t.id}-directory")
    assert len(versions) == 2  # rotation is a new Key Vault version, the old one kept


def test_secret_expiry_is_kept_with_the_tenant_and_warns_before(
    harness: Harness, world: World
) -> None:
    t, _ = seed_example(world)
    harness.start()
    soon = datetime.now(UTC) + timedelta(days=10)
    harness.onboard(t, secret_expires_on=soon)
    run = harness.sync(t)
    assert run.status == RunStatus.SUCCEEDED
    tenant = harness.services.tenants.get(t.id)
    assert tenant.secret_expires_on is not None
    assert abs((tenant.secret_expires_on - soon).total_seconds()) < 1
    assert tenant.health == Health.SECRET_EXPIRING


@pytest.mark.slow
def test_secret_rotated_by_another_instance_is_used_without_a_failed_run(
    harness: Harness, world: World
) -> None:
    t = harness.start_onboarded()
    worker = Services(Settings.from_env(harness.env))  # a second instance, cache warm
    assert worker.runner.run_one("directory", t.id, "queue").status == RunStatus.SUCCEEDED
    assert harness.sim is not None
    new_secret = "rotated~" + t.secret[::-1]
    harness.sim.set_app_secrets(t.app_id, [{"id": t.secret_id, "value": new_secret,
                                            "expires": "2099-01-01T00:00:00Z"}])
    harness.services.onboarding.set_directory_secret(t.id, SecretValue(new_secret))
    worker.tokens.forget()  # its token has expired: the next run must ask Entra again
    run = worker.runner.run_one("directory", t.id, "queue")
    assert run.status == RunStatus.SUCCEEDED
    assert run.error_code == ""


@pytest.mark.slow
def test_client_states_appear_in_no_log_entity_or_answer(
    harness: Harness, world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscription's clientState is a secret: only Key Vault and Graph hold it."""
    caplog.set_level(logging.DEBUG)  # every logger: uvicorn, the API, msal, azure, urllib3
    with serve_api() as base_url:
        t, ids = start_notified(harness, world, base_url)
        made = graph_subscriptions(harness)
        users = next(s for s in made if s["resource"] == "/users")
        sim = harness.sim
        assert sim is not None
        sim.remove_member(t.id, t.level0, ids["tom"])  # a real notification
        assert wait_for(lambda: any(d.status == 202 for d in sim.notifications_sent()))
        notify = f"{base_url}/api/notifications/graph"
        answers = [
            requests.post(notify, data=body(notification(users, ids["john"])), timeout=10),
            requests.post(notify, data=body(notification(users, ids["john"],
                                                         client_state="wrong")), timeout=10),
            requests.get(f"{base_url}/api/tenants/{t.id}/notifications", timeout=10),
        ]
        harness.services.subscriber.remove_tenant(t.id)
    assert [a.status_code for a in answers] == [202, 403, 200]
    log_text = "\n".join(r.getMessage() + " " + repr(r.__dict__) for r in caplog.records)
    answer_text = "\n".join(f"{a.headers!r} {a.text}" for a in answers)
    entity_text = repr(harness.entities())
    assert len(made) == 3
    for state in (s["clientState"] for s in made):
        assert state not in log_text
        assert state not in entity_text
        assert state not in answer_text
    assert any(r.name.startswith("uvicorn") for r in caplog.records)  # the scan saw the server
