// The operator's dashboard: an Azure Monitor workbook whose panels query the workspace's
// AppTraces table for the events of docs/telemetry.md. Its content is infra/workbook.json.

@description('Display name of the workbook in the portal gallery.')
param displayName string

@description('Azure region of the workbook.')
param location string

@description('Tags applied to the workbook.')
param tags object = {}

@description('Resource ID of the Log Analytics workspace the panels query.')
param workspaceId string

@description('Seed of the workbook\'s GUID name; the same seed updates the same workbook.')
param nameSeed string

// The JSON names the workspace through a placeholder so that the file stays independent of
// any one deployment.
var serializedData = replace(loadTextContent('../workbook.json'), '__LOG_ANALYTICS_WORKSPACE_ID__', workspaceId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's resource name must be a GUID.
  name: guid(resourceGroup().id, 'tenantsync-workbook', nameSeed)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    version: 'Notebook/1.0'
    // Opening the workbook from the workspace (Workbooks blade) binds the panels to it.
    sourceId: workspaceId
    serializedData: serializedData
  }
}

output id string = workbook.id
