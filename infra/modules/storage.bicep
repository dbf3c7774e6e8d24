// A storage account of the app. By default the only one: host storage (AzureWebJobsStorage),
// the Flex Consumption deployment container, the fan-out queues and the tables the app writes.
// With separateHostStorage (main.bicep) there are two: the host's (package, host blobs and the
// queues every instance polls) and the data's (the tables).
// Shared keys are off: the host, the app, azd and the admin's CLI all sign in with Entra ID.

@description('Storage account name: 3-24 lowercase letters and digits.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Blob container that holds the app package deployed by azd (Flex Consumption); empty in an account that holds data only.')
param deploymentContainerName string = ''

@description('Replication of the account. Geo-zone-redundant by default: the tables hold the tenant list and the history of who was marked deleted when, which a new sync cannot rebuild. Pick Standard_GRS in a region without availability zones.')
@allowed([
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_ZRS'
  'Standard_LRS'
])
param skuName string = 'Standard_GZRS'

@description('Queues the timers fan work out to, one message per tenant, and their poison queues (empty in an account that holds data only).')
param queueNames array = []

@description('Tables the app reads and writes: TENANTSYNC_TABLE_PREFIX followed by the table suffix (empty in the host\'s own account).')
param tableNames array = []

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    // checkov:skip=CKV_AZURE_35: The Flex Consumption app has no VNet integration, so it reaches storage over the public endpoint; shared keys are disabled, so every request needs an Entra token and an RBAC role.
    // checkov:skip=CKV_AZURE_59: Same reason as CKV_AZURE_35: the app, azd and the admin's CLI reach the account without a VNet; authorisation is Entra-only.
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    // Identity-based connections only: no account key can be listed into a setting or used.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (!empty(deploymentContainerName)) {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// The Functions runtime would create a '-poison' queue itself on the first failed message;
// declared here (in queueNames) so that the functions watching them find them from the start.
resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Declared here so that the deployment owns them; the names must match what the app derives
// from TENANTSYNC_TABLE_PREFIX.
resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = 'https://${account.name}.blob.${environment().suffixes.storage}'
output queueEndpoint string = 'https://${account.name}.queue.${environment().suffixes.storage}'
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}'
output deploymentContainerName string = deploymentContainerName
