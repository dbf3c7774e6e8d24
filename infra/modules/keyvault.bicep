// Key Vault for the tenants' client secrets. The app writes them when a tenant is onboarded
// and reads them on every token request; nothing else holds a secret.

@description('Key Vault name: 3-24 letters, digits and hyphens.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Days a deleted vault or secret can be recovered. Purge protection keeps the vault name reserved for that long after deletion.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // checkov:skip=CKV_AZURE_109: The Flex Consumption app has no VNet integration and reaches the vault over its public endpoint; access needs an Entra token and an RBAC role on the vault (no access policies).
    // checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109: disabling public network access would cut the app (and the admin's onboarding CLI) off from the vault.
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Data-plane access through Azure RBAC role assignments only; access policies are ignored.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
