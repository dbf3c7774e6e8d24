// Log search alert rules over the workspace's AppTraces table. The queries use only the
// events and dimensions of docs/telemetry.md, written as Properties.<dimension>, so that
// tests/infra can check them against the contract.

@description('Prefix of the rule names.')
param namePrefix string

@description('Azure region of the rules (the workspace\'s region).')
param location string

@description('Tags applied to the rules.')
param tags object = {}

@description('Resource ID of the Log Analytics workspace the rules query.')
param workspaceId string

@description('Alert when a tenant\'s last N non-skipped runs of one kind all failed.')
@minValue(1)
@maxValue(20)
param consecutiveFailures int = 3

@description('Alert when a tenant\'s client secret expires within this many days (or has expired).')
@minValue(1)
@maxValue(60)
param secretExpiryDays int = 14

@description('Period of the directory sync timer in minutes; must match TENANTSYNC_DIRECTORY_SCHEDULE.')
@minValue(1)
@maxValue(1440)
param directoryTimerPeriodMinutes int = 30

@description('Period of the device sync timer in minutes; must match TENANTSYNC_DEVICES_SCHEDULE.')
@minValue(1)
@maxValue(1440)
param devicesTimerPeriodMinutes int = 360

@description('E-mail address notified when a rule fires; empty to create the rules without notifications.')
param alertEmail string = ''

// A tenant's runs of one kind, newest first; alert when the newest N all failed. Skipped runs
// (excluded or quarantined tenants) neither break nor extend a streak. Runs are deduplicated
// by run_id so that a record exported twice cannot fake a streak.
var failingTenantQuery = format('''
AppTraces
| where tostring(Properties.event) == "tenantsync.run"
| summarize arg_max(TimeGenerated, Properties) by run_id = tostring(Properties.run_id)
| extend tenant_id = tostring(Properties.tenant_id), sync_kind = tostring(Properties.kind), status = tostring(Properties.status), error_code = tostring(Properties.error_code)
| where status != "skipped"
| order by tenant_id asc, sync_kind asc, TimeGenerated desc
| extend recency = row_number(1, prev(tenant_id) != tenant_id or prev(sync_kind) != sync_kind)
| where recency <= {0}
| summarize runs = count(), failures = countif(status == "failed"), error_codes = make_set(error_code), last_run = max(TimeGenerated) by tenant_id, sync_kind
| where runs == {0} and failures == {0}
''', consecutiveFailures)

// The newest expiry report per tenant and kind; an unknown expiry (empty expires_on, days_left
// -1) is not alerted on.
var secretExpiryQuery = format('''
AppTraces
| where tostring(Properties.event) == "tenantsync.secret_expiry"
| summarize arg_max(TimeGenerated, Properties) by tenant_id = tostring(Properties.tenant_id), sync_kind = tostring(Properties.kind)
| extend days_left = toint(Properties.days_left), expires_on = tostring(Properties.expires_on)
| where isnotempty(expires_on) and days_left <= {0}
| project tenant_id, sync_kind, days_left, expires_on
''', secretExpiryDays)

// One row per timer whose last firing is older than twice its period (or that never fired in
// the lookback).
var timerStoppedQuery = format('''
let expected = datatable(sync_kind: string, period_minutes: int) [
    "directory", {0},
    "devices", {1}
];
let fired = AppTraces
    | where tostring(Properties.event) == "tenantsync.schedule"
    | summarize last_fired = max(TimeGenerated) by sync_kind = tostring(Properties.kind);
expected
| join kind=leftouter fired on sync_kind
| where isnull(last_fired) or now() - last_fired > period_minutes * 2m
| project sync_kind, period_minutes, last_fired
''', directoryTimerPeriodMinutes, devicesTimerPeriodMinutes)

// Every job whose queue message failed all its deliveries (the poison queue's function
// reports each one; its run is closed as job_poisoned).
var poisonedJobQuery = '''
AppTraces
| where tostring(Properties.event) == "tenantsync.poison"
| summarize jobs = count(), tenants = dcount(tostring(Properties.tenant_id)), outcomes = make_set(tostring(Properties.outcome)), last_seen = max(TimeGenerated) by sync_kind = tostring(Properties.kind)
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'tenantsync'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = empty(alertEmail) ? [] : [
  actionGroup.id
]

resource failingTenant 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-tenant-failing'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'tenantsync: tenant failed ${consecutiveFailures} runs in a row'
    description: 'A tenant\'s last ${consecutiveFailures} directory or device runs all failed. See the error codes in the alert and the tenant\'s health in the tenantsync workbook.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    // Look back two days so that N runs of the six-hourly device sync are in view.
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: failingTenantQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          // One alert per tenant and kind.
          dimensions: [
            {
              name: 'tenant_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'sync_kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource secretExpiring 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-secret-expiring'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'tenantsync: client secret expires within ${secretExpiryDays} days'
    description: 'A tenant\'s client secret expires soon or has expired. Create a new secret in the tenant\'s app registration and save its value with the tenantsync CLI or API.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    // Every run reports its secret's expiry; two days covers several device syncs.
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: secretExpiryQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'tenant_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'sync_kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource timerStopped 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-timer-stopped'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'tenantsync: a sync timer stopped firing'
    description: 'No tenantsync.schedule event for a timer in twice its period: the function app is stopped, failing to start, or its schedule setting is wrong.'
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    // Twice the longest allowed timer period (1440 minutes).
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: timerStoppedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'sync_kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

output ruleIds array = [
  failingTenant.id
  secretExpiring.id
  timerStopped.id
]

resource poisonedJob 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-job-poisoned'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'tenantsync: a sync job failed every delivery'
    description: 'A sync job\'s queue message failed all its deliveries (storage unavailable or the worker crashing) and went to the poison queue; its run is failed with job_poisoned. Check storage health and the function\'s logs for the run id.'
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: poisonedJobQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'sync_kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroupIds
    }
  }
}
