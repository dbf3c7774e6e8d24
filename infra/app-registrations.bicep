// The Entra ID app registrations tenantsync signs in with, through the Microsoft Graph Bicep
// extension (alias microsoftGraphV1 in bicepconfig.json). A separate deployment from
// main.bicep, because it needs Microsoft Graph rights that a subscription owner may not have
// (Application.ReadWrite.All, or Cloud Application Administrator, plus
// AppRoleAssignment.ReadWrite.All or Privileged Role Administrator to grant the permissions):
//
//   az deployment group create -g <resource group> -f infra/app-registrations.bicep \
//     -p managedIdentityPrincipalId=<MANAGED_IDENTITY_PRINCIPAL_ID> \
//        adminConsentRedirectUri=<SERVICE_API_URI>      (both are azd outputs)
//
// It creates, in the tenant it is deployed to:
// - the directory app: single-tenant, GroupMember.Read.All and User.Read.All (application);
// - the inventory app: multitenant, Organization.Read.All, DeviceManagementManagedDevices.Read.All
//   and DeviceManagementApps.Read.All (application);
// their service principals, admin consent in this tenant (app role assignments on the
// Microsoft Graph service principal) and, optionally, a federated credential that trusts the
// function app's managed identity so that no client secret is needed. Customer tenants
// consent to the inventory app through the admin consent URL (docs/deploy.md).

extension microsoftGraphV1

@description('Prefix of the apps\' unique names and display names.')
@minLength(1)
param namePrefix string = 'tenantsync'

@description('Create the directory (group membership) sync app.')
param createDirectoryApp bool = true

@description('Create the multitenant device and software inventory app.')
param createInventoryApp bool = true

@description('Principal (object) ID of the function app\'s user-assigned managed identity (azd output MANAGED_IDENTITY_PRINCIPAL_ID). When set, each app gets a federated credential trusting it. The identity must live in this tenant.')
param managedIdentityPrincipalId string = ''

@description('Web redirect URI of the inventory app, where the admin consent page of a customer tenant returns to (it carries no token); the function app\'s URL, azd output SERVICE_API_URI, is a good choice. Without one, the admin consent URL fails with AADSTS900971.')
param adminConsentRedirectUri string = ''

var graphAppId = '00000003-0000-0000-c000-000000000000'

// IDs of Microsoft Graph application permissions (app roles), from the Microsoft Graph
// permissions reference, https://learn.microsoft.com/graph/permissions-reference
var graphAppRoles = {
  groupMemberReadAll: '98830695-27a2-44f7-8c18-0c3ebc9698f6'
  userReadAll: 'df021288-bdef-4463-88db-98f22de89214'
  organizationReadAll: '498476ce-e0fe-48b0-b801-37ba7e2685c6'
  deviceManagementManagedDevicesReadAll: '2f51be20-0bb4-4fed-bf7b-db946066c75e'
  deviceManagementAppsReadAll: '7a6ee1e7-141e-4cec-ae74-d9db155731ff'
}

var directoryAppRoleIds = [
  graphAppRoles.groupMemberReadAll
  graphAppRoles.userReadAll
]

var inventoryAppRoleIds = [
  graphAppRoles.organizationReadAll
  graphAppRoles.deviceManagementManagedDevicesReadAll
  graphAppRoles.deviceManagementAppsReadAll
]

// A managed identity's tokens are issued by its tenant's v2.0 endpoint; the subject is its
// principal (object) ID and the audience the fixed token-exchange audience of public Azure.
var managedIdentityIssuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
var tokenExchangeAudience = 'api://AzureADTokenExchange'
var useManagedIdentityCredential = !empty(managedIdentityPrincipalId)

resource graphServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

// --- Directory sync app ---

resource directoryApp 'Microsoft.Graph/applications@v1.0' = if (createDirectoryApp) {
  uniqueName: '${namePrefix}-directory'
  displayName: '${namePrefix} directory sync'
  signInAudience: 'AzureADMyOrg'
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
    redirectUris: empty(adminConsentRedirectUri) ? [] : [
      adminConsentRedirectUri
    ]
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
// identity instead of a secret (the app must be multitenant for other tenants).
resource inventoryManagedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = if (createInventoryApp && useManagedIdentityCredential) {
  name: '${inventoryApp.uniqueName}/function-app-identity'
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
