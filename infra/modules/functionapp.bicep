// The Flex Consumption plan and the function app, running as the user-assigned identity.
// Every connection is identity-based: no app setting holds a key, a SAS or a secret.

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app (must offer Flex Consumption).')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('azd service name the app is deployed as (matches azure.yaml).')
param serviceName string = 'api'

@description('Resource ID of the user-assigned identity the app runs as.')
param identityId string

@description('Client ID of that identity.')
param identityClientId string

@description('Name of the host\'s storage account (AzureWebJobsStorage), which holds the job queues.')
param storageAccountName string

@description('Blob endpoint of the host\'s storage account, without a trailing slash.')
param blobEndpoint string

@description('Queue endpoint of the host\'s storage account (the job queues), without a trailing slash.')
param queueEndpoint string

@description('Table endpoint of the host\'s storage account, without a trailing slash.')
param tableEndpoint string

@description('Table endpoint of the account that holds the app\'s tables (the host\'s own unless main.bicep separates them).')
param dataTableEndpoint string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (an address, not a secret: local auth is disabled).')
param applicationInsightsConnectionString string

@description('Key Vault URI, e.g. https://kv-x.vault.azure.net/.')
param keyVaultUri string

@description('Largest number of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance, in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Prefix of the app\'s table names.')
param tablePrefix string = 'ts'

@description('Entra ID authority host the app requests tokens from.')
param authorityHost string = 'https://login.microsoftonline.com'

@description('Microsoft Graph base URL.')
param graphUrl string = 'https://graph.microsoft.com/v1.0'

@description('NCRONTAB schedule of the directory sync timer.')
param directorySchedule string = '0 */30 * * * *'

@description('NCRONTAB schedule of the device and software sync timer.')
param devicesSchedule string = '0 15 */6 * * *'

@description('Queue of directory sync jobs.')
param directoryQueueName string = 'tenantsync-directory'

@description('Queue of device and software sync jobs.')
param devicesQueueName string = 'tenantsync-devices'

@description('Queue of webhook delivery attempts.')
param webhookQueueName string = 'tenantsync-webhooks'

@description('Queue of change notifications\' follow-up work (a trigger while a sync runs, lifecycle events).')
param notificationQueueName string = 'tenantsync-notifications'

@description('Public HTTPS base URL Graph delivers change notifications to; empty: notifications off.')
param notificationUrl string = ''

@description('Partner Center API base URL (customer discovery from Partner Center).')
param partnerCenterUrl string = 'https://api.partnercenter.microsoft.com'

@description('Application (client) ID of the deployment\'s multitenant directory app (an output of app-registrations.bicep); empty until it exists. It signs in with the managed identity (federated).')
param directoryAppId string = ''

@description('Application (client) ID of the deployment\'s multitenant inventory app; empty until it exists.')
param inventoryAppId string = ''

@description('Application (client) ID of the deployment\'s partner app (GDAP customers); empty until it exists.')
param partnerAppId string = ''

@description('Base URL the API is reached at, where consent links return; empty: the app\'s own host name (WEBSITE_HOSTNAME). Set it behind a custom domain.')
param publicUrl string = ''

// Every setting is an address, a name or a switch; none is a key, a SAS or a secret.
var appSettings = {
  // Host storage through the managed identity: __credential and __clientId select the
  // user-assigned identity, the service URIs say where each storage service lives.
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  // Entra ID authenticated ingestion, required because the component disables local auth.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Documented switch that lets the Python worker set up the Azure Monitor OpenTelemetry
  // distro itself and stream its logs, instead of the host forwarding them a second time.
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  // The worker passes this to the distro as the logger to collect: only the app's own
  // 'tenantsync' logger tree, not every library's (nor the exporter's own) records.
  PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME: 'tenantsync'

  // One thread per job an instance runs at once: host.json's queue batchSize (4) plus
  // newBatchThreshold (2). Unset, Python's pool is min(32, cores + 4): 5 threads on the one
  // core of a 2,048 MB instance, and the sixth job would wait for a thread, its lease held.
  PYTHON_THREADPOOL_THREAD_COUNT: '6'

  TENANTSYNC_TABLE_ENDPOINT: dataTableEndpoint
  // The queue triggers read AzureWebJobsStorage's queues, so the jobs go there too.
  TENANTSYNC_QUEUE_ENDPOINT: queueEndpoint
  TENANTSYNC_TABLE_PREFIX: tablePrefix
  TENANTSYNC_KEY_VAULT_URL: keyVaultUri
  TENANTSYNC_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  TENANTSYNC_AUTHORITY_HOST: authorityHost
  TENANTSYNC_GRAPH_URL: graphUrl
  TENANTSYNC_PARTNER_CENTER_URL: partnerCenterUrl
  TENANTSYNC_DIRECTORY_SCHEDULE: directorySchedule
  TENANTSYNC_DEVICES_SCHEDULE: devicesSchedule
  TENANTSYNC_DIRECTORY_QUEUE: directoryQueueName
  TENANTSYNC_DEVICES_QUEUE: devicesQueueName
  TENANTSYNC_WEBHOOK_QUEUE: webhookQueueName
  TENANTSYNC_NOTIFICATION_QUEUE: notificationQueueName
  TENANTSYNC_NOTIFICATION_URL: notificationUrl
  // Admin-consent onboarding: the deployment's own apps, each signing in with this app's
  // user-assigned identity as a federated credential (no secret), and where links return.
  TENANTSYNC_DIRECTORY_APP_ID: directoryAppId
  TENANTSYNC_INVENTORY_APP_ID: inventoryAppId
  TENANTSYNC_PARTNER_APP_ID: partnerAppId
  TENANTSYNC_PUBLIC_URL: publicUrl
  // Graph's identity and access budget is per app across all tenants (150,000 units per
  // 20 s, 3 a members page: about 50,000 requests); every instance draws on one record.
  TENANTSYNC_GRAPH_APP_BUDGET: '45000'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // checkov:skip=CKV_AZURE_225: Zone redundancy on Flex Consumption keeps at least two always-ready instances billed around the clock; a zone outage only delays a scheduled sync, whose jobs wait in the queue.
    // Flex Consumption runs on Linux only.
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to deploy the 'api' service to by this tag.
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_222: The HTTP API is called by the partner's portal over the internet; without VNet integration or a private endpoint the app needs public network access. Callers authenticate at the HTTP trigger.
    // checkov:skip=CKV_AZURE_17: The API's callers authenticate at the HTTP trigger, not with TLS client certificates, which the portal integration does not use.
    // checkov:skip=CKV_AZURE_212: siteConfig.numberOfWorkers is a Dedicated/Premium setting; Flex Consumption scales instances per function from zero up to maximumInstanceCount.
    // checkov:skip=CKV_AZURE_213: The App Service health check feature is not supported on the Flex Consumption plan.
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    // Flex Consumption takes runtime, scale and deployment source from here rather than from
    // FUNCTIONS_WORKER_RUNTIME / WEBSITE_RUN_FROM_PACKAGE app settings, which it does not accept.
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}/${deploymentContainerName}'
          authentication: {
            // The platform reads the package with this identity, which needs a blob data role.
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
