// The Entra ID app registrations tenantsync signs in with, through the Microsoft Graph Bicep
// extension (alias microsoftGraphV1 in bicepconfig.json). A separate deployment from
// main.bicep, because it needs Microsoft Graph rights that a subscription owner may not have
// (Application.ReadWrite.All, or Cloud Application Administrator, plus
// AppRoleAssignment.ReadWrite.All or Privileged Role Administrator to grant the permissions):
//
//   az deployment group create -g <resource group> -f infra/app-registrations.bicep \
//     -p managedIdentityPrincipalId=<MANAGED_IDENTITY_PRINCIPAL_ID> \
//        apiBaseUrl=<SERVICE_API_URI>      (both are azd outputs)
//
// It creates, in the tenant it is deployed to (the deployment's own tenant):
// - the directory app: multitenant, GroupMember.Read.All and User.Read.All (application), and
//   Organization.Read.All to name the tenant;
// - the inventory app: multitenant, Organization.Read.All, DeviceManagementManagedDevices.Read.All
//   and DeviceManagementApps.Read.All (application);
// - the partner app: single-tenant, DelegatedAdminRelationship.Read.All (application), to list
//   an MSP's customers from its GDAP relationships;
// their service principals, admin consent in this tenant (app role assignments on the
// Microsoft Graph service principal), the consent redirect URI of the deployed API on the
// multitenant apps, and on each app a federated credential that trusts the function app's
// user-assigned managed identity, so that no secret exists at all. Customer tenants consent
// to the multitenant apps through admin-consent links the API makes (docs/deploy.md); the
// credential works in each of them because the apps and the identity share this tenant.

extension microsoftGraphV1

@description('Prefix of the apps\' unique names and display names.')
@minLength(1)
param namePrefix string = 'tenantsync'

@description('Create the directory (group membership) sync app.')
param createDirectoryApp bool = true

@description('Create the multitenant device and software inventory app.')
param createInventoryApp bool = true

@description('Create the partner app that lists an MSP\'s customers (GDAP relationships).')
param createPartnerApp bool = true

@description('Make the partner app multitenant, for a partner tenant that is not this (the deployment\'s) tenant: the federated credential works only on apps registered where the function app\'s identity lives, so the partner\'s Global Administrator consents this app in the partner tenant instead (docs/deploy.md).')
param partnerAppMultitenant bool = false

@description('Principal (object) ID of the function app\'s user-assigned managed identity (azd output MANAGED_IDENTITY_PRINCIPAL_ID). When set, each app gets a federated credential trusting it. The identity must live in this tenant.')
param managedIdentityPrincipalId string = ''

@description('Base URL of the deployed API (azd output SERVICE_API_URI, or TENANTSYNC_PUBLIC_URL behind a custom domain). The multitenant apps get {apiBaseUrl}/api/consent/callback as their redirect URI, where Entra returns a customer\'s admin after consent (it carries no token). Without one, consent links fail with AADSTS900971.')
param apiBaseUrl string = ''

var graphAppId = '00000003-0000-0000-c000-000000000000'

// IDs of Microsoft Graph application permissions (app roles), from the Microsoft Graph
// permissions reference, https://learn.microsoft.com/graph/permissions-reference
var graphAppRoles = {
  groupMemberReadAll: '98830695-27a2-44f7-8c18-0c3ebc9698f6'
  userReadAll: 'df021288-bdef-4463-88db-98f22de89214'
  organizationReadAll: '498476ce-e0fe-48b0-b801-37ba7e2685c6'
  deviceManagementManagedDevicesReadAll: '2f51be20-0bb4-4fed-bf7b-db946066c75e'
  deviceManagementAppsReadAll: '7a6ee1e7-141e-4cec-ae74-d9db155731ff'
  delegatedAdminRelationshipReadAll: 'f6e9e124-4586-492f-adc0-c6f96e4823fd'
}

// Organization.Read.All only names the tenant (on the consent page and in the portal); the
// sync needs the other two, and the connection test checks those.
var directoryAppRoleIds = [
  graphAppRoles.groupMemberReadAll
  graphAppRoles.userReadAll
  graphAppRoles.organizationReadAll
]

var inventoryAppRoleIds = [
  graphAppRoles.organizationReadAll
  graphAppRoles.deviceManagementManagedDevicesReadAll
  graphAppRoles.deviceManagementAppsReadAll
]

var partnerAppRoleIds = [
  graphAppRoles.delegatedAdminRelationshipReadAll
]

// Where Entra returns a customer's admin after an admin-consent link: the API's anonymous
// consent_callback function (functions/blueprints/consent.py).
var consentRedirectUris = empty(apiBaseUrl) ? [] : [
  '${apiBaseUrl}/api/consent/callback'
]

// A managed identity's tokens are issued by its tenant's v2.0 endpoint; the subject is its
// principal (object) ID and the audience the fixed token-exchange audience of public Azure.
var managedIdentityIssuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
var tokenExchangeAudience = 'api://AzureADTokenExchange'

// Where Entra returns the partner's admin agent after the one sign-in (authorization code):
// the API's anonymous partner_sign_in_callback function (functions/blueprints/consent.py).
var partnerSignInRedirectUris = empty(apiBaseUrl) ? [] : [
  '${apiBaseUrl}/api/partners/sign-in/callback'
]
var useManagedIdentityCredential = !empty(managedIdentityPrincipalId)

resource graphServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// --- Directory sync app ---

resource directoryApp 'Microsoft.Graph/applications@v1.0' = if (createDirectoryApp) {
  uniqueName: '${namePrefix}-directory'
  displayName: '${namePrefix} directory sync'
  // Multitenant: each customer's admin consents through a link; tokens are requested from
  // each customer tenant's authority, signed with the managed identity's federated credential.
  signInAudience: 'AzureADMultipleOrgs'
  web: {
    redirectUris: consentRedirectUris
  }
  // What admin consent grants; the role assignments below grant it in this tenant.
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        {
          id: graphAppRoles.groupMemberReadAll
          type: 'Role'
        }
        {
          id: graphAppRoles.userReadAll
          type: 'Role'
        }
        {
          id: graphAppRoles.organizationReadAll
          type: 'Role'
        }
      ]
    }
  ]
}

resource directoryServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = if (createDirectoryApp) {
  appId: directoryApp.appId
}

resource directoryGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRoleId in (createDirectoryApp ? directoryAppRoleIds : []): {
  appRoleId: appRoleId
  principalId: directoryServicePrincipal.id
  resourceId: graphServicePrincipal.id
}]

resource directoryManagedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = if (createDirectoryApp && useManagedIdentityCredential) {
  name: '${directoryApp.uniqueName}/function-app-identity'
  description: 'The tenantsync function app\'s user-assigned managed identity'
  issuer: managedIdentityIssuer
  subject: managedIdentityPrincipalId
  audiences: [
    tokenExchangeAudience
  ]
}

// --- Device and software inventory app ---

resource inventoryApp 'Microsoft.Graph/applications@v1.0' = if (createInventoryApp) {
  uniqueName: '${namePrefix}-inventory'
  displayName: '${namePrefix} device inventory'
  // Multitenant: each customer tenant consents to it (admin consent URL) and gets its own
  // service principal; tokens are requested from each customer tenant's authority.
  signInAudience: 'AzureADMultipleOrgs'
  web: {
    redirectUris: consentRedirectUris
  }
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        {
          id: graphAppRoles.organizationReadAll
          type: 'Role'
        }
        {
          id: graphAppRoles.deviceManagementManagedDevicesReadAll
          type: 'Role'
        }
        {
          id: graphAppRoles.deviceManagementAppsReadAll
          type: 'Role'
        }
      ]
    }
  ]
}

resource inventoryServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = if (createInventoryApp) {
  appId: inventoryApp.appId
}

resource inventoryGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRoleId in (createInventoryApp ? inventoryAppRoleIds : []): {
  appRoleId: appRoleId
  principalId: inventoryServicePrincipal.id
  resourceId: graphServicePrincipal.id
}]

// With this credential the app signs in to any consenting tenant with a token of the managed
// identity instead of a secret (the app is multitenant, registered in the identity's tenant).
resource inventoryManagedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = if (createInventoryApp && useManagedIdentityCredential) {
  name: '${inventoryApp.uniqueName}/function-app-identity'
  description: 'The tenantsync function app\'s user-assigned managed identity'
  issuer: managedIdentityIssuer
  subject: managedIdentityPrincipalId
  audiences: [
    tokenExchangeAudience
  ]
}

// --- Partner app (an MSP's customer list) ---

resource partnerApp 'Microsoft.Graph/applications@v1.0' = if (createPartnerApp) {
  uniqueName: '${namePrefix}-partner'
  displayName: '${namePrefix} partner customers'
  // GDAP relationships are the partner's objects: this tenant only, unless the partner
  // tenant is another one (partnerAppMultitenant), where it is consented and signed in to.
  signInAudience: partnerAppMultitenant ? 'AzureADMultipleOrgs' : 'AzureADMyOrg'
  web: {
    redirectUris: partnerSignInRedirectUris
  }
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        {
          id: graphAppRoles.delegatedAdminRelationshipReadAll
          type: 'Role'
        }
      ]
    }
  ]
}

resource partnerServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = if (createPartnerApp) {
  appId: partnerApp.appId
}

resource partnerGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRoleId in (createPartnerApp ? partnerAppRoleIds : []): {
  appRoleId: appRoleId
  principalId: partnerServicePrincipal.id
  resourceId: graphServicePrincipal.id
}]

resource partnerManagedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = if (createPartnerApp && useManagedIdentityCredential) {
  name: '${partnerApp.uniqueName}/function-app-identity'
  description: 'The tenantsync function app\'s user-assigned managed identity'
  issuer: managedIdentityIssuer
  subject: managedIdentityPrincipalId
  audiences: [
    tokenExchangeAudience
  ]
}

output tenantId string = tenant().tenantId
output directoryAppClientId string = createDirectoryApp ? directoryApp.appId : ''
output inventoryAppClientId string = createInventoryApp ? inventoryApp.appId : ''
output partnerAppClientId string = createPartnerApp ? partnerApp.appId : ''
output consentRedirectUri string = empty(apiBaseUrl) ? '' : consentRedirectUris[0]
