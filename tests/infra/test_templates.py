"""Structural checks of the parsed templates: identity-based access, TLS, RBAC scopes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions.storage.tables import TABLE_NAMES

from .bicep import (
    BICEP_FILES,
    body,
    function_call,
    only_resource,
    parse,
    property_path,
    relative,
    resources_of_type,
)
from .queries import INFRA_DIR, REPO_ROOT

FORBIDDEN_IN_SETTINGS = (
    "AccountKey=",
    "SharedAccessSignature",
    "listKeys",
    "list_keys",
    "SharedAccessKey",
)
SETTINGS_THE_CODE_READS = {
    "TENANTSYNC_TABLE_ENDPOINT",
    "TENANTSYNC_QUEUE_ENDPOINT",
    "TENANTSYNC_TABLE_PREFIX",
    "TENANTSYNC_KEY_VAULT_URL",
    "TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID",
    "TENANTSYNC_AUTHORITY_HOST",
    "TENANTSYNC_GRAPH_URL",
    "TENANTSYNC_DIRECTORY_SCHEDULE",
    "TENANTSYNC_DEVICES_SCHEDULE",
    "TENANTSYNC_DIRECTORY_QUEUE",
    "TENANTSYNC_DEVICES_QUEUE",
    "TENANTSYNC_WEBHOOK_QUEUE",
    "TENANTSYNC_NOTIFICATION_QUEUE",
    "TENANTSYNC_NOTIFICATION_URL",
    "TENANTSYNC_DIRECTORY_APP_ID",
    "TENANTSYNC_INVENTORY_APP_ID",
    "TENANTSYNC_PARTNER_APP_ID",
    "TENANTSYNC_PUBLIC_URL",
}
ROLE_IDS = {
    "storage_blob_data_owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storage_queue_data_contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storage_table_data_contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "key_vault_secrets_officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "monitoring_metrics_publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
BROAD_SCOPE_TYPES = {"microsoft.resources/resourcegroups", "microsoft.resources/subscriptions"}


def _app_settings() -> dict[str, Any]:
    template = parse("modules/functionapp.bicep")
    settings = template["variables"]["appSettings"]["value"]
    assert isinstance(settings, dict)
    return settings


def _secure_parameters(template: dict[str, Any]) -> set[str]:
    return {
        name
        for name, parameter in template.get("parameters", {}).items()
        if any(decorator["type"] == "secure" for decorator in parameter["decorators"])
    }


# --- Function app -------------------------------------------------------------------


def test_every_app_setting_reaches_the_site_through_one_variable() -> None:
    site = only_resource(parse("modules/functionapp.bicep"), "Microsoft.Web/sites")
    app_settings = site["properties"]["siteConfig"]["appSettings"]
    call = function_call(app_settings["loop_type"]["detail"]["array_name"])
    assert call == ("items", {"arg_1": "appSettings"})
    assert not resources_of_type(parse("modules/functionapp.bicep"), "Microsoft.Web/sites/config")


def test_no_app_setting_holds_a_key_a_sas_or_a_secret_parameter() -> None:
    secure = _secure_parameters(parse("modules/functionapp.bicep"))
    for name, value in _app_settings().items():
        text = json.dumps(value)
        for forbidden in FORBIDDEN_IN_SETTINGS:
            assert forbidden not in text, f"{name} contains {forbidden}"
        for parameter in secure:
            assert parameter not in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text), name


def test_no_template_lists_keys_or_builds_connection_strings() -> None:
    for path in BICEP_FILES:
        text = path.read_text(encoding="utf-8")
        for forbidden in ("listKeys(", "listAccountSas(", "listServiceSas(", "AccountKey="):
            assert forbidden not in text, f"{relative(path)} uses {forbidden}"


def test_host_storage_is_reached_with_the_managed_identity() -> None:
    settings = _app_settings()
    assert "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == f"{service}Endpoint"
    assert not any(name.endswith("CONNECTION_STRING") and "STORAGE" in name for name in settings)


def test_application_insights_ingestion_uses_entra_id() -> None:
    settings = _app_settings()
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    assert (
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"
    )
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"


def test_the_settings_the_code_reads_are_all_set() -> None:
    assert set(_app_settings()) >= SETTINGS_THE_CODE_READS


def test_defaults_of_the_app_settings_match_the_code() -> None:
    parameters = parse("modules/functionapp.bicep")["parameters"]
    assert parameters["tablePrefix"]["default"] == "ts"
    assert parameters["authorityHost"]["default"] == "https://login.microsoftonline.com"
    assert parameters["graphUrl"]["default"] == "https://graph.microsoft.com/v1.0"
    assert parameters["directorySchedule"]["default"] == "0 */30 * * * *"
    assert parameters["devicesSchedule"]["default"] == "0 15 */6 * * *"
    assert parameters["directoryQueueName"]["default"] == "tenantsync-directory"
    assert parameters["devicesQueueName"]["default"] == "tenantsync-devices"
    # Unset until app-registrations.bicep made the apps; the public URL falls back to the
    # host name the platform gives the app (WEBSITE_HOSTNAME).
    for name in ("directoryAppId", "inventoryAppId", "partnerAppId", "publicUrl"):
        assert parameters[name]["default"] == ""


def test_function_app_is_https_only_with_tls_1_2_and_no_ftp() -> None:
    site = only_resource(parse("modules/functionapp.bicep"), "Microsoft.Web/sites")
    properties = site["properties"]
    assert properties["httpsOnly"] is True
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"
    assert properties["siteConfig"]["scmMinTlsVersion"] == "1.2"
    assert properties["siteConfig"]["ftpsState"] == "Disabled"
    assert site["identity"]["type"] == "UserAssigned"


def test_function_app_runs_python_3_11_on_flex_consumption() -> None:
    template = parse("modules/functionapp.bicep")
    plan = only_resource(template, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    config = only_resource(template, "Microsoft.Web/sites")["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    scale = config["scaleAndConcurrency"]
    assert scale == {
        "maximumInstanceCount": "maximumInstanceCount",
        "instanceMemoryMB": "instanceMemoryMB",
    }


# --- Storage, Key Vault, monitoring --------------------------------------------------


def test_storage_account_accepts_only_entra_id_over_tls_1_2() -> None:
    account = only_resource(parse("modules/storage.bicep"), "Microsoft.Storage/storageAccounts")
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_storage_declares_the_queues_tables_and_deployment_container() -> None:
    template = parse("modules/storage.bicep")
    container = only_resource(template, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"
    main = parse("main.bicep")
    assert main["variables"]["directoryQueueName"]["value"] == "tenantsync-directory"
    assert main["variables"]["devicesQueueName"]["value"] == "tenantsync-devices"
    # Exactly the tables the code uses, so that a deployment never lacks one.
    assert sorted(main["variables"]["tableSuffixes"]["value"]) == sorted(TABLE_NAMES)
    assert main["parameters"]["tablePrefix"]["default"] == "ts"


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    vault = only_resource(parse("modules/keyvault.bicep"), "Microsoft.KeyVault/vaults")
    properties = vault["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True


def test_application_insights_is_workspace_based_without_local_auth() -> None:
    component = only_resource(parse("modules/monitoring.bicep"), "Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    assert property_path(component["properties"]["WorkspaceResourceId"]) == ["workspace", "id"]


# --- Role assignments ----------------------------------------------------------------


def _role_assignments() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in BICEP_FILES:
        template = parse(relative(path))
        for symbol, resource in resources_of_type(
            template, "Microsoft.Authorization/roleAssignments"
        ).items():
            found.append((relative(path), symbol, body(resource["config"]), template))
    return found


def test_there_are_role_assignments() -> None:
    assert len(_role_assignments()) >= 5


@pytest.mark.parametrize("assignment", _role_assignments(), ids=lambda a: f"{a[0]}:{a[1]}")
def test_role_assignment_is_scoped_to_one_resource(
    assignment: tuple[str, str, dict[str, Any], dict[str, Any]],
) -> None:
    _, _, config, template = assignment
    scope = config.get("scope")
    assert isinstance(scope, str), "a role assignment needs an explicit resource scope"
    resources = template.get("resources", {})
    assert scope in resources, f"scope {scope!r} is not a resource of the template"
    assert resources[scope]["type"].lower() not in BROAD_SCOPE_TYPES


@pytest.mark.parametrize("assignment", _role_assignments(), ids=lambda a: f"{a[0]}:{a[1]}")
def test_role_assignment_name_is_a_guid_of_scope_principal_and_role(
    assignment: tuple[str, str, dict[str, Any], dict[str, Any]],
) -> None:
    _, _, config, _ = assignment
    call = function_call(config["name"])
    assert call is not None
    assert call[0] == "guid"
    arguments = call[1]
    assert property_path(arguments["base_string"]) == [config["scope"], "id"]
    assert arguments["extra_string_1"] == config["properties"]["principalId"]
    assert arguments["extra_string_2"] == config["properties"]["roleDefinitionId"]


def test_the_app_identity_gets_exactly_the_roles_it_needs() -> None:
    template = parse("modules/role-assignments.bicep")
    variables = {
        name: json.dumps(variable["value"]) for name, variable in template["variables"].items()
    }
    granted = set()
    for resource in resources_of_type(template, "Microsoft.Authorization/roleAssignments").values():
        config = body(resource["config"])
        if config["properties"]["principalId"] != "appPrincipalId":
            continue
        role_text = variables[config["properties"]["roleDefinitionId"]]
        role = next(name for name, role_id in ROLE_IDS.items() if role_id in role_text)
        granted.add((role, template["resources"][config["scope"]]["type"]))
    assert granted == {
        ("storage_blob_data_owner", "Microsoft.Storage/storageAccounts"),
        ("storage_queue_data_contributor", "Microsoft.Storage/storageAccounts"),
        ("storage_table_data_contributor", "Microsoft.Storage/storageAccounts"),
        ("key_vault_secrets_officer", "Microsoft.KeyVault/vaults"),
        ("monitoring_metrics_publisher", "Microsoft.Insights/components"),
    }


# --- Wiring --------------------------------------------------------------------------


def _module_calls() -> list[tuple[str, str, dict[str, Any]]]:
    calls = []
    for path in BICEP_FILES:
        for symbol, module in parse(relative(path)).get("modules", {}).items():
            calls.append((relative(path), symbol, module))
    return calls


@pytest.mark.parametrize("call", _module_calls(), ids=lambda c: f"{c[0]}:{c[1]}")
def test_module_call_matches_the_module_parameters(call: tuple[str, str, dict[str, Any]]) -> None:
    caller, _, module = call
    module_path = (INFRA_DIR / Path(caller).parent / module["detail"]["path"]).resolve()
    assert module_path.is_file()
    parameters = parse(module_path.relative_to(INFRA_DIR).as_posix()).get("parameters", {})
    passed = set(body(module["config"]).get("params", {}))
    required = {name for name, parameter in parameters.items() if parameter.get("default") is None}
    assert passed <= set(parameters), f"unknown parameters {passed - set(parameters)}"
    assert required <= passed, f"missing parameters {required - passed}"


def test_every_module_is_used_by_main() -> None:
    used = {
        (INFRA_DIR / module["detail"]["path"]).resolve()
        for module in parse("main.bicep")["modules"].values()
    }
    assert used == {path.resolve() for path in (INFRA_DIR / "modules").glob("*.bicep")}


def test_resource_names_come_from_the_azd_resource_token() -> None:
    text = (INFRA_DIR / "main.bicep").read_text(encoding="utf-8").replace(" ", "")
    assert (
        "varresourceToken=toLower(uniqueString(subscription().id,resourceGroup().id,environmentName))"
        in text
    )
    abbreviations = json.loads((INFRA_DIR / "abbreviations.json").read_text(encoding="utf-8"))
    assert all(isinstance(prefix, str) and prefix for prefix in abbreviations.values())
    for name in re.findall(r"abbrs\.([A-Za-z]+)", text):
        assert name in abbreviations


def test_main_parameters_come_from_the_azd_environment() -> None:
    document = json.loads((INFRA_DIR / "main.parameters.json").read_text(encoding="utf-8"))
    values = {name: entry["value"] for name, entry in document["parameters"].items()}
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    parameters = parse("main.bicep")["parameters"]
    assert set(values) <= set(parameters)
    required = {name for name, parameter in parameters.items() if parameter.get("default") is None}
    assert required <= set(values)


def test_workbook_module_loads_the_workbook_json() -> None:
    workbook = only_resource(parse("modules/workbook.bicep"), "Microsoft.Insights/workbooks")
    assert workbook["kind"] == "shared"
    assert function_call(workbook["name"])[0] == "guid"
    text = (INFRA_DIR / "modules" / "workbook.bicep").read_text(encoding="utf-8")
    assert "loadTextContent('../workbook.json')" in text


def test_azure_yaml_deploys_the_api_as_a_python_function_app() -> None:
    text = (REPO_ROOT / "azure.yaml").read_text(encoding="utf-8")
    service = text.split("services:", 1)[1]
    assert re.search(r"^  api:\s*$", service, re.MULTILINE)
    for line in ("project: .", "language: python", "host: function"):
        assert re.search(rf"^    {re.escape(line)}\s*$", service, re.MULTILINE), line
    tag = only_resource(parse("modules/functionapp.bicep"), "Microsoft.Web/sites")["tags"]
    assert function_call(tag)[1]["arg_2"] == {"'azd-service-name'": "serviceName"}


# --- App registrations ---------------------------------------------------------------

GRAPH_APP_ROLES = {
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
    "DeviceManagementManagedDevices.Read.All": "2f51be20-0bb4-4fed-bf7b-db946066c75e",
    "DeviceManagementApps.Read.All": "7a6ee1e7-141e-4cec-ae74-d9db155731ff",
    "DelegatedAdminRelationship.Read.All": "f6e9e124-4586-492f-adc0-c6f96e4823fd",
}


def test_graph_extension_is_configured() -> None:
    text = (INFRA_DIR / "app-registrations.bicep").read_text(encoding="utf-8")
    assert re.search(r"^extension microsoftGraphV1\s*$", text, re.MULTILINE)
    config = json.loads((INFRA_DIR / "bicepconfig.json").read_text(encoding="utf-8"))
    assert config["extensions"]["microsoftGraphV1"].startswith(
        "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:"
    )


def _requested_roles(application: dict[str, Any], template: dict[str, Any]) -> set[str]:
    roles = template["variables"]["graphAppRoles"]["value"]
    (access,) = application["requiredResourceAccess"]
    assert access["resourceAppId"] == "graphAppId"
    requested = set()
    for entry in access["resourceAccess"]:
        assert entry["type"] == "Role"
        path = property_path(entry["id"])
        assert path is not None
        assert path[0] == "graphAppRoles"
        requested.add(roles[path[1]])
    return requested


def _redirects_to_the_consent_callback(app: dict[str, Any], template: dict[str, Any]) -> None:
    # Admin-consent links need the API's callback registered as a redirect URI.
    assert app["web"]["redirectUris"] == "consentRedirectUris"
    uris = json.dumps(template["variables"]["consentRedirectUris"]["value"])
    assert "apiBaseUrl" in uris
    assert "/api/consent/callback" in uris


def test_directory_app_is_multitenant_with_its_permissions_and_the_callback() -> None:
    template = parse("app-registrations.bicep")
    app = body(template["resources"]["directoryApp"]["config"])
    assert app["signInAudience"] == "AzureADMultipleOrgs"
    _redirects_to_the_consent_callback(app, template)
    assert _requested_roles(app, template) == {
        GRAPH_APP_ROLES["GroupMember.Read.All"],
        GRAPH_APP_ROLES["User.Read.All"],
        GRAPH_APP_ROLES["Organization.Read.All"],  # names the tenant on the consent page
    }


def test_inventory_app_is_multitenant_with_its_three_permissions() -> None:
    template = parse("app-registrations.bicep")
    app = body(template["resources"]["inventoryApp"]["config"])
    assert app["signInAudience"] == "AzureADMultipleOrgs"
    _redirects_to_the_consent_callback(app, template)
    assert _requested_roles(app, template) == {
        GRAPH_APP_ROLES["Organization.Read.All"],
        GRAPH_APP_ROLES["DeviceManagementManagedDevices.Read.All"],
        GRAPH_APP_ROLES["DeviceManagementApps.Read.All"],
    }


def test_partner_app_lists_gdap_relationships_in_its_own_tenant() -> None:
    template = parse("app-registrations.bicep")
    app = body(template["resources"]["partnerApp"]["config"])
    # One tenant by default; multitenant only when the partner tenant is another one.
    audience = json.dumps(app["signInAudience"])
    assert "partnerAppMultitenant" in audience
    assert "AzureADMyOrg" in audience and "AzureADMultipleOrgs" in audience
    assert template["parameters"]["partnerAppMultitenant"]["default"] is False
    # The admin agent's one sign-in returns to the API's callback.
    assert app["web"]["redirectUris"] == "partnerSignInRedirectUris"
    uris = json.dumps(template["variables"]["partnerSignInRedirectUris"]["value"])
    assert "apiBaseUrl" in uris and "/api/partners/sign-in/callback" in uris
    assert _requested_roles(app, template) == {
        GRAPH_APP_ROLES["DelegatedAdminRelationship.Read.All"]}
    assert template["outputs"]["partnerAppClientId"]


def test_permissions_are_granted_on_the_microsoft_graph_service_principal() -> None:
    template = parse("app-registrations.bicep")
    graph = template["resources"]["graphServicePrincipal"]
    assert graph["existing"] is True
    assert template["variables"]["graphAppId"]["value"] == "00000003-0000-0000-c000-000000000000"
    grants = resources_of_type(template, "Microsoft.Graph/appRoleAssignedTo")
    assert set(grants) == {"directoryGrants", "inventoryGrants", "partnerGrants"}
    for grant in grants.values():
        assert property_path(body(grant["config"])["resourceId"]) == ["graphServicePrincipal", "id"]


def test_federated_credentials_trust_the_function_app_identity() -> None:
    template = parse("app-registrations.bicep")
    variables = template["variables"]
    assert variables["tokenExchangeAudience"]["value"] == "api://AzureADTokenExchange"
    assert variables["managedIdentityIssuer"]["value"].endswith("/v2.0")
    credentials = resources_of_type(
        template, "Microsoft.Graph/applications/federatedIdentityCredentials"
    )
    # One on each app: nothing signs in with a secret.
    assert set(credentials) == {"directoryManagedIdentityCredential",
                                "inventoryManagedIdentityCredential",
                                "partnerManagedIdentityCredential"}
    for credential in credentials.values():
        config = body(credential["config"])
        assert config["subject"] == "managedIdentityPrincipalId"
        assert config["issuer"] == "managedIdentityIssuer"
        assert config["audiences"] == ["tokenExchangeAudience"]
