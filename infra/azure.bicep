// Portcullis in one resource group: App Service (Linux, Node), a user-assigned managed identity
// that is both the bot's identity and the one that calls Azure, the Azure Bot with its Teams
// channel, PostgreSQL Flexible Server, and Key Vault for the database URL. The custom role for
// JIT (role.bicep) is created at subscription scope and assigned to the identity.
// Deploy: az deployment group create -g <rg> -f infra/azure.bicep -p infra/azure.parameters.json

@description('Short name used in every resource name, e.g. portcullis or pcl-prod.')
@minLength(3)
@maxLength(16)
param resourceBaseName string

param location string = resourceGroup().location

@description('App Service plan size. B1 is enough for one bot instance; use P0v3 or larger for production.')
param appServiceSku string = 'B1'

@description('Node version of the App Service runtime stack (npm scripts then use Node 24 from node_modules).')
param linuxFxVersion string = 'NODE|22-lts'

@description('Resource groups whose VMs the bot may see and open; empty = the whole subscription.')
param vmResourceGroups array = []

@description('PostgreSQL administrator login.')
param postgresAdminLogin string = 'portcullis'

@secure()
@description('PostgreSQL administrator password (stored in Key Vault as part of DATABASE_URL).')
param postgresAdminPassword string

@description('Comma-separated UPNs allowed to break glass.')
param breakGlassUsers string = ''

@description('Front ends whose X-Forwarded-For is believed. App Service for Linux forwards from link-local addresses.')
param trustedProxies string = '169.254.0.0/16'

var suffix = uniqueString(resourceGroup().id)
var appName = '${resourceBaseName}-${suffix}'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${resourceBaseName}-id'
  location: location
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${resourceBaseName}kv${suffix}', 24)
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    enablePurgeProtection: true
  }
}

// Key Vault Secrets User: the app reads DATABASE_URL through a Key Vault reference.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${resourceBaseName}-pg-${suffix}'
  location: location
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 32 }
    backup: { backupRetentionDays: 7, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    network: { publicNetworkAccess: 'Enabled' }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'portcullis'
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

// 0.0.0.0–0.0.0.0 means "Azure services": the App Service's outbound addresses. TLS is required.
resource postgresFromAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAzureServices'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource databaseUrl 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'database-url'
  properties: {
    value: 'postgres://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${database.name}?sslmode=require'
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${resourceBaseName}-plan'
  location: location
  kind: 'linux'
  sku: { name: appServiceSku }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2023-12-01' = {
  name: appName
  location: location
  kind: 'app,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      linuxFxVersion: linuxFxVersion
      appCommandLine: 'npm run bot'
      alwaysOn: appServiceSku != 'F1'
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      healthCheckPath: '/healthz'
      appSettings: [
        // The bot signs in to Bot Framework and to ARM as the same user-assigned identity.
        { name: 'BOT_ID', value: identity.properties.clientId }
        { name: 'BOT_TYPE', value: 'UserAssignedMSI' }
        { name: 'BOT_TENANT_ID', value: tenant().tenantId }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'AZURE_SUBSCRIPTION_ID', value: subscription().subscriptionId }
        { name: 'DATABASE_URL', value: '@Microsoft.KeyVault(SecretUri=${databaseUrl.properties.secretUri})' }
        { name: 'PUBLIC_BASE_URL', value: 'https://${appName}.azurewebsites.net' }
        { name: 'TRUSTED_PROXIES', value: trustedProxies }
        { name: 'BREAK_GLASS_USERS', value: breakGlassUsers }
        { name: 'SCM_DO_BUILD_DURING_DEPLOYMENT', value: 'true' }
      ]
    }
  }
  dependsOn: [vaultAccess]
}

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: appName
  location: 'global'
  kind: 'azurebot'
  sku: { name: 'F0' }
  properties: {
    displayName: 'Portcullis'
    endpoint: 'https://${site.properties.defaultHostName}/api/messages'
    msaAppId: identity.properties.clientId
    msaAppType: 'UserAssignedMSI'
    msaAppTenantId: tenant().tenantId
    msaAppMSIResourceId: identity.id
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: { isEnabled: true }
  }
}

// The JIT role: defined once per subscription, assigned to the identity where the VMs are.
module role 'role.bicep' = {
  name: 'portcullis-role'
  scope: subscription()
  params: {
    principalId: identity.properties.principalId
    assignAtSubscription: empty(vmResourceGroups)
  }
}

module roleAssignments 'role-assignment.bicep' = [
  for group in vmResourceGroups: {
    name: 'portcullis-role-${group}'
    scope: resourceGroup(group)
    params: {
      principalId: identity.properties.principalId
      roleDefinitionId: role.outputs.roleDefinitionId
    }
  }
]

output BOT_ID string = identity.properties.clientId
output BOT_TENANT_ID string = tenant().tenantId
output BOT_ENDPOINT string = 'https://${site.properties.defaultHostName}/api/messages'
output BOT_AZURE_APP_SERVICE_RESOURCE_ID string = site.id
output PUBLIC_BASE_URL string = 'https://${site.properties.defaultHostName}'
output IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output KEY_VAULT_NAME string = vault.name
output ROLE_DEFINITION_ID string = role.outputs.roleDefinitionId
output TEAMS_CHANNEL string = teams.name
