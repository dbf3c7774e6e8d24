"""Saving a GDAP partner connection checks its GDAP access: the answer (API and command
line) says, per customer, whether the partner's side may consent there and what is missing,
as `partner gdap-access` does."""

from __future__ import annotations

import json

import pytest

from functions.api.models import discovery_out
from functions.cli.partners import _print_access, _saved
from functions.core.sensitive import SecretValue
from tests.api.conftest import Api, partner_body
from tests.cli_tools import Cli
from tests.conftest import Harness
from tests.partner_side import HELPDESK_ADMIN, PUBLIC_URL, PartnerSide
from tests.world import World


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def test_adding_a_gdap_partner_answers_what_each_customer_lacks_for_a_consent(
        harness: Harness, world: World, api: Api) -> None:
    side = PartnerSide(world)
    contoso = side.customer("Contoso", consented=True)
    fabrikam = side.customer("Fabrikam", roles=[HELPDESK_ADMIN])
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    r = api.post("/api/partners", json=partner_body(side.partner))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["gdapAccessError"] is None
    access = {a["tenantId"]: a for a in body["gdapAccess"]}
    assert access[contoso]["mayConsent"] and access[contoso]["missing"] is None
    assert access[contoso]["roles"] == ["Application Administrator",
                                        "Privileged Role Administrator"]
    assert not access[fabrikam]["mayConsent"]
    assert "Privileged Role Administrator" in access[fabrikam]["missing"]
    # The same as the read-only check answers.
    listed = api.get(f"/api/partners/{side.partner.id}/gdap-access").json()["items"]
    assert sorted(listed, key=lambda a: a["tenantId"]) == sorted(
        body["gdapAccess"], key=lambda a: a["tenantId"])


def test_partner_add_on_the_command_line_says_what_is_missing(
        harness: Harness, world: World, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    side = PartnerSide(world)
    side.customer("Contoso", consented=True)
    fabrikam = side.customer("Fabrikam", roles=[HELPDESK_ADMIN])
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    monkeypatch.setenv("P_SECRET", side.partner.partner_secret)
    monkeypatch.setenv("I_SECRET", side.partner.inventory_secret)
    added = cli("partner", "add", "--partner-tenant-id", side.partner.id,
                "--partner-client-id", side.partner.partner_app, "--partner-secret-env",
                "P_SECRET", "--inventory-client-id", side.partner.inventory_app,
                "--inventory-secret-env", "I_SECRET", "--source", "gdap")
    # Not a terminal: the first line is what the API answers, GDAP access included.
    saved = json.loads(added.out.splitlines()[0])
    access = {a["tenantId"]: a for a in saved["gdapAccess"]}
    assert [t for t, a in access.items() if not a["mayConsent"]] == [fabrikam]
    assert "Privileged Role Administrator" in access[fabrikam]["missing"]


def test_the_text_answer_of_partner_add_lists_the_customers_it_cannot_consent_in(
        harness: Harness, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    side = PartnerSide(world)
    side.customer("Contoso", consented=True)
    fabrikam = side.customer("Fabrikam", roles=[HELPDESK_ADMIN])
    harness.start(TENANTSYNC_PUBLIC_URL=PUBLIC_URL)
    s = harness.services
    saved = s.partners.add(side.partner.id, side.partner.partner_app,
                           SecretValue(side.partner.partner_secret), side.partner.inventory_app,
                           SecretValue(side.partner.inventory_secret), source="gdap")
    s.partners.discover(side.partner.id)
    _print_access(_saved(saved, discovery_out(s.partners.discover(side.partner.id), []),
                         None, s))
    out = capsys.readouterr().out
    assert "GDAP access: the partner's side may consent in 1 of 2 customers" in out
    [line] = [x for x in out.splitlines() if fabrikam in x]
    assert "Fabrikam: missing a role that may consent" in line
