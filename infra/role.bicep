// The custom role with exactly the actions Portcullis uses (infra/portcullis-role.json, which the
// bot's doctor and a contract test read too), optionally assigned at subscription scope.
targetScope = 'subscription'

@description('Object id of the identity that gets the role.')
param principalId string

@description('Assign at the subscription; false when azure.bicep assigns per resource group instead.')
param assignAtSubscription bool = true

var role = loadJsonContent('portcullis-role.json')

resource definition 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, role.Name)
  properties: {
    roleName: role.Name
    description: role.Description
    type: 'CustomRole'
    permissions: [
      {
        actions: role.Actions
        notActions: role.NotActions
        dataActions: role.DataActions
        notDataActions: role.NotDataActions
      }
    ]
    assignableScopes: [subscription().id]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignAtSubscription) {
  name: guid(subscription().id, principalId, definition.id)
  properties: {
    roleDefinitionId: definition.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output roleDefinitionId string = definition.id
