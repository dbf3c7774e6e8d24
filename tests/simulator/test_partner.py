"""A partner's view: multitenant tokens, /organization, GDAP and Partner Center customers."""

from __future__ import annotations

import pytest

from simulator import Simulator

from .partners import (
    CUSTOMER,
    DEVICES_ONLY_APP,
    NO_ROLES_APP,
    OUTSIDER,
    PARTNER,
    PARTNER_CENTER_SCOPE,
    PC_CUSTOMERS,
    REL_ACTIVE,
    REL_EXPIRED,
    SINGLE_APP,
    SYNC_APP,
    UNLICENSED,
    get,
    read_all,
    token,
    token_result,
)

GDAP = "/v1.0/tenantRelationships"
CUSTOMERS_URL = "/partnercenter/v1/customers"


# --- tokens -----------------------------------------------------------------------------


def test_multitenant_app_gets_tokens_where_it_is_installed(partner_sim: Simulator) -> None:
    assert token(partner_sim, PARTNER)  # home tenant
    assert token(partner_sim, CUSTOMER)  # installed there, multitenant
    refused = token_result(partner_sim, OUTSIDER)  # multitenant but not installed
    assert refused["error"] == "unauthorized_client"
    assert 700016 in refused["error_codes"]


def test_single_tenant_app_gets_tokens_only_at_home(partner_sim: Simulator) -> None:
    assert token(partner_sim, PARTNER, SINGLE_APP)
    refused = token_result(partner_sim, CUSTOMER, SINGLE_APP)  # installed, not multitenant
    assert refused["error"] == "unauthorized_client"
    assert refused["error_description"].startswith(
        f"AADSTS700016: Application with identifier '{SINGLE_APP}' was not found in the "
        "directory 'Contoso Ltd'."
    )


# --- organization -----------------------------------------------------------------------


def test_organization_lists_the_verified_domains(partner_sim: Simulator) -> None:
    response = get(partner_sim, "/v1.0/organization", token(partner_sim, CUSTOMER))
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{partner_sim.base_url}/v1.0/$metadata#organization"
    (org,) = body["value"]
    assert org["id"] == CUSTOMER
    assert org["displayName"] == "Contoso Ltd"
    assert [(d["name"], d["isDefault"], d["isInitial"]) for d in org["verifiedDomains"]] == [
        ("contoso.example", True, False),
        ("contosoltd.onmicrosoft.com", False, True),
    ]
    assert org["verifiedDomains"][0]["type"] == "Managed"


def test_organization_default_domain_and_select(partner_sim: Simulator) -> None:
    # Fabrikam has no organization section: one initial, default domain from its name
    url = "/v1.0/organization?$select=id,verifiedDomains"
    body = get(partner_sim, url, token(partner_sim, UNLICENSED)).json()
    assert body["value"] == [
        {
            "id": UNLICENSED,
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": True,
                    "isInitial": True,
                    "name": "fabrikam.onmicrosoft.com",
                    "type": "Managed",
                }
            ],
        }
    ]


def test_organization_needs_a_permission(partner_sim: Simulator) -> None:
    response = get(partner_sim, "/v1.0/organization", token(partner_sim, CUSTOMER, NO_ROLES_APP))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


# --- GDAP -------------------------------------------------------------------------------


def test_gdap_customers(partner_sim: Simulator) -> None:
    body = get(partner_sim, f"{GDAP}/delegatedAdminCustomers", token(partner_sim, PARTNER)).json()
    assert body["@odata.context"] == (
        f"{partner_sim.base_url}/v1.0/tenantRelationships/$metadata#delegatedAdminCustomers"
    )
    assert [(c["id"], c["tenantId"], c["displayName"]) for c in body["value"]] == [
        (CUSTOMER, CUSTOMER, "Contoso Ltd"),
        (UNLICENSED, UNLICENSED, "Fabrikam Inc"),
    ]
    assert body["value"][0]["@odata.type"] == "#microsoft.graph.delegatedAdminCustomer"
    assert body["value"][0]["@odata.etag"].startswith('W/"')


def test_gdap_relationships_filter_on_status_and_page(partner_sim: Simulator) -> None:
    bearer = token(partner_sim, PARTNER)
    everything = read_all(partner_sim, f"{GDAP}/delegatedAdminRelationships", bearer)
    assert len(everything[0]["value"]) == len(REL_ACTIVE) + 1
    url = f"{GDAP}/delegatedAdminRelationships?$filter=status eq 'active'&$top=2"
    pages = read_all(partner_sim, url, bearer)
    assert [len(page["value"]) for page in pages] == [2, 2, 1]
    assert "$filter=status%20eq%20'active'" in pages[0]["@odata.nextLink"]
    relationships = [rel for page in pages for rel in page["value"]]
    assert [rel["id"] for rel in relationships] == REL_ACTIVE
    first = relationships[0]
    assert first["customer"] == {"tenantId": CUSTOMER, "displayName": "Contoso Ltd"}
    assert first["status"] == "active"
    assert first["endDateTime"] == "2026-01-01T00:00:00Z"
    expired = get(
        partner_sim, f"{GDAP}/delegatedAdminRelationships?$filter=status eq 'expired'", bearer
    ).json()["value"]
    assert [rel["id"] for rel in expired] == [REL_EXPIRED]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("$filter=displayName eq 'x'", 400),  # only status can be filtered on
        ("$filter=status eq 'bogus'", 400),
        ("$top=301", 400),  # GDAP takes $top up to 300
        ("$orderby=displayName", 400),
        ("$top=300", 200),
    ],
)
def test_gdap_query_options(partner_sim: Simulator, query: str, status: int) -> None:
    bearer = token(partner_sim, PARTNER)
    response = get(partner_sim, f"{GDAP}/delegatedAdminRelationships?{query}", bearer)
    assert response.status_code == status, response.text


def test_gdap_needs_delegated_admin_relationship_read(partner_sim: Simulator) -> None:
    bearer = token(partner_sim, PARTNER, NO_ROLES_APP)
    for name in ("delegatedAdminCustomers", "delegatedAdminRelationships"):
        response = get(partner_sim, f"{GDAP}/{name}", bearer)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "Authorization_RequestDenied"


# --- Partner Center ---------------------------------------------------------------------


def test_partner_center_pages_with_the_continuation_header(partner_sim: Simulator) -> None:
    bearer = token(partner_sim, PARTNER, scope=PARTNER_CENTER_SCOPE)
    first = get(partner_sim, f"{CUSTOMERS_URL}?size=2", bearer)
    assert first.status_code == 200
    body = first.json()
    assert body["attributes"] == {"objectType": "Collection"}
    assert body["totalCount"] == 2
    assert body["links"]["self"]["uri"] == "/v1/customers?size=2"
    customers = list(body["items"])
    while "next" in body["links"]:
        link = body["links"]["next"]
        assert link["uri"] == "/v1/customers?size=2&seekOperation=Next"
        assert link["method"] == "GET"
        headers = {h["key"]: h["value"] for h in link["headers"]}
        assert list(headers) == ["MS-ContinuationToken"]
        body = get(partner_sim, f"/partnercenter{link['uri']}", bearer, **headers).json()
        customers.extend(body["items"])
    assert [c["id"] for c in customers] == [CUSTOMER, UNLICENSED, *PC_CUSTOMERS[2:]]
    contoso, fabrikam = customers[0], customers[1]
    assert contoso["companyProfile"]["tenantId"] == CUSTOMER
    assert contoso["companyProfile"]["domain"] == "contoso.example"  # its default domain
    assert contoso["companyProfile"]["companyName"] == "Contoso Ltd"
    assert contoso["relationshipToPartner"] == "reseller"
    assert contoso["attributes"] == {"objectType": "Customer"}
    assert fabrikam["relationshipToPartner"] == "advisor"
    assert fabrikam["companyProfile"]["domain"] == "fabrikam.onmicrosoft.com"


def test_partner_center_seek_needs_a_valid_token(partner_sim: Simulator) -> None:
    bearer = token(partner_sim, PARTNER, scope=PARTNER_CENTER_SCOPE)
    url = f"{CUSTOMERS_URL}?size=2&seekOperation=Next"
    missing = get(partner_sim, url, bearer)
    assert missing.status_code == 400
    assert set(missing.json()) == {"code", "description", "data", "source"}
    forged = get(partner_sim, url, bearer, **{"MS-ContinuationToken": "forged"})
    assert forged.status_code == 400
    assert get(partner_sim, f"{CUSTOMERS_URL}?size=501", bearer).status_code == 400


def test_partner_center_checks_audience_and_access(partner_sim: Simulator) -> None:
    graph_token = token(partner_sim, PARTNER)  # audience Graph, not Partner Center
    wrong = get(partner_sim, CUSTOMERS_URL, graph_token)
    assert wrong.status_code == 401
    assert "audience" in wrong.json()["description"]
    assert get(partner_sim, CUSTOMERS_URL, "garbage").status_code == 401
    no_access = token(partner_sim, PARTNER, NO_ROLES_APP, PARTNER_CENTER_SCOPE)
    denied = get(partner_sim, CUSTOMERS_URL, no_access)
    assert denied.status_code == 403
    assert denied.json()["source"] == "PartnerFD"
    # a customer tenant is not a partner: its Partner Center token gets 403
    customer_token = token(partner_sim, CUSTOMER, SYNC_APP, PARTNER_CENTER_SCOPE)
    assert get(partner_sim, CUSTOMERS_URL, customer_token).status_code == 403
    # an app installed only in a customer has no token in the partner tenant at all
    assert "error" in token_result(partner_sim, PARTNER, DEVICES_ONLY_APP, PARTNER_CENTER_SCOPE)


def test_new_path_kinds_are_counted(partner_sim: Simulator) -> None:
    partner_sim.reset_stats()
    graph_bearer = token(partner_sim, CUSTOMER)
    get(partner_sim, "/v1.0/organization", graph_bearer)
    get(partner_sim, "/v1.0/deviceManagement/managedDevices", graph_bearer)
    get(partner_sim, "/v1.0/deviceManagement/detectedApps", graph_bearer)
    get(partner_sim, "/v1.0/deviceAppManagement/mobileApps", graph_bearer)
    get(partner_sim, f"{GDAP}/delegatedAdminCustomers", token(partner_sim, PARTNER))
    get(partner_sim, CUSTOMERS_URL, token(partner_sim, PARTNER, scope=PARTNER_CENTER_SCOPE))
    kinds = partner_sim.stats()["by_path_kind"]
    for kind in (
        "graph.organization",
        "graph.managedDevices",
        "graph.detectedApps",
        "graph.mobileApps",
        "graph.gdap",
        "partnercenter.customers",
    ):
        assert kinds[f"GET {kind}"] == 1, kind
