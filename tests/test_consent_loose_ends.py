"""Loose ends of onboarding: every redirect URI is the deployment's real callback, derived
from its settings (the host name the Functions host gives it, or TENANTSYNC_PUBLIC_URL),
never a placeholder; without either, no link is made. Links never used are purged by the
consent timer a week after they expired."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.functions.timer import TimerRequest

from functions.core.errors import ConfigurationError
from tests.conftest import Harness, indexed_functions
from tests.consent_helpers import consent_world
from tests.partner_side import PartnerSide
from tests.world import World


def _redirect(url: str) -> str:
    return parse_qs(urlsplit(url).query)["redirect_uri"][0]


def test_redirect_uris_are_the_deployments_callbacks_from_its_host_name(
        harness: Harness, world: World) -> None:
    _, t, _ = consent_world(world, public_url="https://tenantsync-prod.azurewebsites.net")
    side = PartnerSide(world)
    harness.start(WEBSITE_HOSTNAME="tenantsync-prod.azurewebsites.net")
    s = harness.services
    side.connect(harness)
    link = s.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    assert _redirect(link.url) == ("https://tenantsync-prod.azurewebsites.net/api/consent/"
                                   "callback")
    assert _redirect(s.partner_signin.start(side.partner.id).url) == (
        "https://tenantsync-prod.azurewebsites.net/api/partners/sign-in/callback")


def test_a_custom_domain_wins_and_no_address_means_no_link(
        harness: Harness, world: World) -> None:
    _, t, _ = consent_world(world, public_url="https://sync.example.com")
    harness.start(WEBSITE_HOSTNAME="tenantsync-prod.azurewebsites.net",
                  TENANTSYNC_PUBLIC_URL="https://sync.example.com/")
    link = harness.services.consent.create("directory", tenant_id=t.id, group_id=t.level0)
    assert _redirect(link.url) == "https://sync.example.com/api/consent/callback"
    # Without an address the link is refused, never made with a placeholder.
    flow = replace(harness.services.consent,
                   settings=replace(harness.services.settings, public_url=None))
    before = len(list(harness.services.tables.table("consents").list_entities()))
    with pytest.raises(ConfigurationError) as caught:
        flow.create("directory", tenant_id=t.id, group_id=t.level0)
    assert "TENANTSYNC_PUBLIC_URL" in caught.value.message
    assert len(list(harness.services.tables.table("consents").list_entities())) == before


def test_the_consent_timer_purges_links_a_week_after_they_expired(
        harness: Harness, world: World) -> None:
    d, t, _ = consent_world(world)
    harness.start(**d.env())
    s = harness.services
    old = s.consent.create("directory", tenant_id=t.id, group_id=t.level0).consent
    fresh = s.consent.create("directory", tenant_id=t.id, group_id=t.level0).consent
    long_ago = datetime.now(UTC) - timedelta(days=9)
    s.consents.save(replace(old, created_at=long_ago, expires_at=long_ago + timedelta(days=1)))
    indexed_functions()["consent_retry"].get_user_function()(TimerRequest(past_due=False))
    assert s.consents.find(old.consent_id) is None
    assert s.consents.find(fresh.consent_id) is not None
