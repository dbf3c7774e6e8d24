// The user-assigned managed identity the function app runs as. Being user-assigned, it
// exists before the app does, so role assignments and the optional federated credential
// of the app registrations can name it in the same deployment.

@description('Name of the managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
