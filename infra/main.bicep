// tenantsync: everything around the function app, deployed into one resource group by
// `azd up` (or `azd provision`). The app registrations are a separate deployment:
// app-registrations.bicep.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the unique part of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of all resources; it must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Object ID of the person or pipeline running azd (azd sets AZURE_PRINCIPAL_ID). When set, it gets data access to tables, queues and secrets so the tenantsync CLI can onboard tenants; leave empty to grant nothing.')
param principalId string = ''

@description('Kind of principal principalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('E-mail address the alert rules notify; empty to create the rules without notifications.')
param alertEmail string = ''

@description('Prefix of the app\'s table names (TENANTSYNC_TABLE_PREFIX).')
@minLength(1)
@maxLength(20)
param tablePrefix string = 'ts'

@description('NCRONTAB schedule of the directory sync timer.')
param directorySchedule string = '0 */30 * * * *'

@description('Period of directorySchedule in minutes, used by the "timer stopped" alert.')
@minValue(1)
@maxValue(1440)
param directoryTimerPeriodMinutes int = 30

@description('NCRONTAB schedule of the device and software sync timer.')
param devicesSchedule string = '0 15 */6 * * *'

@description('Period of devicesSchedule in minutes, used by the "timer stopped" alert.')
@minValue(1)
@maxValue(1440)
param devicesTimerPeriodMinutes int = 360

@description('Alert when a tenant fails this many runs of one kind in a row.')
@minValue(1)
@maxValue(20)
param consecutiveFailuresAlert int = 3

@description('Alert when a client secret expires within this many days.')
@minValue(1)
@maxValue(60)
param secretExpiryAlertDays int = 14

@description('Largest number of instances the function app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each function app instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Put the host\'s storage (deployment package, host blobs, the job queues every instance polls) in an account of its own, apart from the tables. Worth it past a few thousand tenants: both otherwise share one account\'s request rate.')
param separateHostStorage bool = false

@description('Replication of the storage account; use Standard_GRS in a region without availability zones.')
@allowed([
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSkuName string = 'Standard_GZRS'

@description('Days a deleted Key Vault (and its secrets) can be recovered; the vault name stays reserved that long.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Application (client) ID of the multitenant directory app (app-registrations.bicep output directoryAppClientId); empty until it exists.')
param directoryAppId string = ''

@description('Application (client) ID of the multitenant inventory app (output inventoryAppClientId).')
param inventoryAppId string = ''

@description('Application (client) ID of the partner app (output partnerAppClientId).')
param partnerAppId string = ''

@description('Base URL the API is reached at (consent links return there); empty: the function app\'s host name.')
param publicUrl string = ''

@description('Public HTTPS base URL of the function app for Graph change notifications (e.g. https://<app>.azurewebsites.net); empty: notifications off, the timer syncs only.')
param notificationUrl string = ''

@description('Days the Log Analytics workspace keeps telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
}

var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var directoryQueueName = 'tenantsync-directory'
var devicesQueueName = 'tenantsync-devices'
var webhookQueueName = 'tenantsync-webhooks'
var notificationQueueName = 'tenantsync-notifications'
// The tables the app uses (functions/storage/tables.py TABLE_NAMES; tests/infra keeps them equal).
var tableSuffixes = [
  'tenants'
  'users'
  'groups'
  'memberships'
  'runs'
  'partners'
  'inventory'
  'claims'
  'feed'
  'holds'
  'webhooks'
  'deliveries'
  'consents'
  'checkpoints'
  'outbox'
  'subscriptions'
  'notified'
  'partneraccess'
  'consentaudit'
  'budgets'
]
var tableNames = [for suffix in tableSuffixes: '${tablePrefix}${suffix}']

module managedIdentity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
  }
}

// The job queues, and the poison queues the host moves a message to after its last attempt
// (functions/blueprints/poison.py watches those of the sync queues).
var queueNames = [
  directoryQueueName
  devicesQueueName
  webhookQueueName
  notificationQueueName
  '${directoryQueueName}-poison'
  '${devicesQueueName}-poison'
]

// The data: the tables (and, unless separateHostStorage, everything else too).
module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: separateHostStorage ? '' : 'app-package-${resourceToken}'
    queueNames: separateHostStorage ? [] : queueNames
    tableNames: tableNames
  }
}

// The host's own account when separateHostStorage: its blobs, the package and the queues.
module hostStorage 'modules/storage.bicep' = if (separateHostStorage) {
  name: 'host-storage'
  params: {
    name: '${abbrs.storageStorageAccounts}host${resourceToken}'
    location: location
    tags: tags
    // Nothing here outlives a redeployment: host state and queued jobs are rebuilt.
    skuName: 'Standard_ZRS'
    deploymentContainerName: 'app-package-${resourceToken}'
    queueNames: queueNames
  }
}

var hostAccountName = separateHostStorage ? hostStorage.outputs.name : storage.outputs.name
var hostBlobEndpoint = separateHostStorage ? hostStorage.outputs.blobEndpoint : storage.outputs.blobEndpoint
var hostQueueEndpoint = separateHostStorage ? hostStorage.outputs.queueEndpoint : storage.outputs.queueEndpoint
var hostTableEndpoint = separateHostStorage ? hostStorage.outputs.tableEndpoint : storage.outputs.tableEndpoint
var hostDeploymentContainer = separateHostStorage ? hostStorage.outputs.deploymentContainerName : storage.outputs.deploymentContainerName

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
  }
}

module roleAssignments 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  params: {
    appPrincipalId: managedIdentity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    storageAccountName: storage.outputs.name
    hostStorageAccountName: separateHostStorage ? hostAccountName : ''
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: managedIdentity.outputs.id
    identityClientId: managedIdentity.outputs.clientId
    storageAccountName: hostAccountName
    blobEndpoint: hostBlobEndpoint
    queueEndpoint: hostQueueEndpoint
    tableEndpoint: hostTableEndpoint
    dataTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: hostDeploymentContainer
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: keyVault.outputs.uri
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    tablePrefix: tablePrefix
    directorySchedule: directorySchedule
    devicesSchedule: devicesSchedule
    directoryQueueName: directoryQueueName
    devicesQueueName: devicesQueueName
    webhookQueueName: webhookQueueName
    notificationQueueName: notificationQueueName
    notificationUrl: notificationUrl
    directoryAppId: directoryAppId
    inventoryAppId: inventoryAppId
    partnerAppId: partnerAppId
    publicUrl: publicUrl
  }
  // The app starts as soon as it exists; let it find its data roles already in place.
  dependsOn: [
    roleAssignments
  ]
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    displayName: 'tenantsync (${environmentName})'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    nameSeed: environmentName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    namePrefix: '${abbrs.insightsScheduledQueryRules}${resourceToken}'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    consecutiveFailures: consecutiveFailuresAlert
    secretExpiryDays: secretExpiryAlertDays
    directoryTimerPeriodMinutes: directoryTimerPeriodMinutes
    devicesTimerPeriodMinutes: devicesTimerPeriodMinutes
    alertEmail: alertEmail
  }
}

// azd stores these in the environment (.azure/<env>/.env); none is a secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output MANAGED_IDENTITY_CLIENT_ID string = managedIdentity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = managedIdentity.outputs.principalId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output TENANTSYNC_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output TENANTSYNC_QUEUE_ENDPOINT string = hostQueueEndpoint
output TENANTSYNC_TABLE_PREFIX string = tablePrefix
output TENANTSYNC_KEY_VAULT_URL string = keyVault.outputs.uri
