"""The one page a customer's admin sees, in a real browser: headless Debian chromium opens
the consent link, the simulator's consent page redirects, the redirect lands on the callback
served by the real app under uvicorn, and the rendered page says what happened."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import Api, LiveServer, run_queued_jobs, stored
from tests.conftest import Harness
from tests.consent_helpers import consent_world
from tests.world import World

CHROMIUM = [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
    # The simulator's certificate comes from a CA made at its start (see docs/simulator.md).
    "--ignore-certificate-errors",
]


def _rendered(url: str, profile: Path) -> str:
    """The DOM chromium renders at the end of the redirects from ``url``."""
    assert shutil.which("chromium"), "chromium is missing: run scripts/bootstrap.sh as root"
    done = subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_chromium_follows_the_link_to_a_page_that_says_connected(
    harness: Harness, world: World, api: Api, live_server: LiveServer, tmp_path: Path
) -> None:
    d, t, _ = consent_world(world, public_url=live_server.base_url)
    harness.start(**d.env())
    url = api.post("/api/consents", json={"kind": "directory", "tenantId": t.id,
                                          "groupId": t.level0}).json()["url"]
    dom = _rendered(url, tmp_path / "profile")
    assert 'data-outcome="connected"' in dom
    assert ">Connected</h1>" in dom
    assert "TinyMDM" in dom
    assert harness.services.tenants.get(t.id).directory is not None
    assert run_queued_jobs(harness, "directory") == 1


@pytest.mark.slow
def test_chromium_shows_a_refusal_and_nothing_is_stored(
    harness: Harness, world: World, api: Api, live_server: LiveServer, tmp_path: Path
) -> None:
    d, t, _ = consent_world(world, public_url=live_server.base_url)
    world.fixture["tenants"][t.id]["admin_consent"] = "refuse"
    harness.start(**d.env())
    url = api.post("/api/consents", json={"kind": "directory", "tenantId": t.id}).json()["url"]
    before = stored(harness)
    dom = _rendered(url, tmp_path / "profile")
    assert 'data-outcome="not-connected"' in dom
    assert ">Not connected</h1>" in dom
    assert "did not grant the consent" in dom
    assert stored(harness) == before
