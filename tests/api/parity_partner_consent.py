"""The partner-side consent's commands against its API operations (part of the CLI parity
test): sign-in, its status and callback, the opt-in, the consent and its audit."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from functions.partners.signin import refresh_token_name
from tests.conftest import Harness
from tests.partner_side import PartnerSide, browser_redirect


def partner_side_consent(p: Any, harness: Harness, side: PartnerSide, customer: str) -> None:
    pid = side.partner.id
    side.connect(harness)
    harness.services.runner.run_one("devices", customer, "cli")
    access = p.run("get_partner_gdap_access", "partner", "gdap-access", "--partner-tenant-id",
                   pid, "--json").json()
    assert access == p.get(f"/api/partners/{pid}/gdap-access")
    assert [(a["tenantId"], a["mayConsent"]) for a in access["items"]] == [(customer, True)]
    started = p.run("start_partner_sign_in", "partner", "sign-in", "--partner-tenant-id", pid,
                    "--wait-seconds", "0", "--json").json()
    answer = p.api.post(f"/api/partners/{pid}/sign-in")
    assert answer.status_code == 201, answer.text
    assert set(started) == set(answer.json()) and started["partnerTenantId"] == pid
    assert urlsplit(started["url"]).path.endswith("/oauth2/v2.0/authorize")
    redirect = browser_redirect(harness, answer.json()["url"])
    signed = p.run("partner_sign_in_callback", "partner", "sign-in-complete",
                   "--redirect-url", redirect, "--json").json()
    assert signed == p.get(f"/api/partners/{pid}/sign-in") and signed["health"] == "signed_in"
    token = harness.services.secrets.get(refresh_token_name(pid), fresh=True).value.reveal()
    p.cli.extra_secrets.append(token)
    assert p.run("get_partner_sign_in", "partner", "sign-in-status", "--partner-tenant-id",
                 pid, "--json").json() == signed
    off = p.run("set_partner_auto_consent", "partner", "auto-consent", "--partner-tenant-id",
                pid, "--off", "--json").json()
    put = p.api.put(f"/api/partners/{pid}/auto-consent", json={"autoConsent": False})
    assert put.status_code == 200 and off == put.json() and off["autoConsent"] is False
    ran = p.run("run_partner_consent", "partner", "consent", "--partner-tenant-id", pid,
                "--json").json()
    assert [(i["tenantId"], i["outcome"]) for i in ran["items"]] == [(customer, "connected")]
    again = p.api.post(f"/api/partners/{pid}/consent", json={})
    assert again.status_code == 200 and again.json() == {"partnerTenantId": pid, "items": []}
    audit = p.run("list_partner_consents", "partner", "consents", "--partner-tenant-id", pid,
                  "--json").json()
    assert audit == p.get(f"/api/partners/{pid}/consents")
    assert [(r["tenantId"], r["outcome"], r["userId"]) for r in audit["items"]] == [
        (customer, "connected", side.agent)]
