"""Every GraphQL document the Railway provider can send. Tests validate each against Railway's schema.

One module owns them so nothing else builds query strings: a schema change shows up as a failing test here,
not as a runtime error in someone's ``pulumi up``.
"""

from __future__ import annotations

PROJECT_CREATE = """
mutation ProjectCreate($input: ProjectCreateInput!) {
  projectCreate(input: $input) { id name environments { edges { node { id name } } } }
}"""
PROJECT_UPDATE = """
mutation ProjectUpdate($id: String!, $input: ProjectUpdateInput!) {
  projectUpdate(id: $id, input: $input) { id name }
}"""
PROJECT_DELETE = """
mutation ProjectDelete($id: String!) { projectDelete(id: $id) }"""
PROJECT_GET = """
query ProjectGet($id: String!) { project(id: $id) { id name deletedAt } }"""
#: paginated (first/after, pageInfo): a workspace can hold more projects than one page (docs manage-projects.md)
PROJECTS = """
query Projects($workspaceId: String, $first: Int, $after: String) {
  projects(workspaceId: $workspaceId, first: $first, after: $after) {
    edges { node { id name deletedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""
#: the workspaces the token can act in (schema: Query.apiToken, "Introspect the current API token and its
#: accessible workspaces"); a workspace token has exactly one (docs integrations/api.md)
TOKEN_WORKSPACES = """
query TokenWorkspaces { apiToken { workspaces { id name } } }"""
PROJECT_SERVICES = """
query ProjectServices($id: String!, $first: Int, $after: String) {
  project(id: $id) {
    services(first: $first, after: $after) { edges { node { id name } } pageInfo { hasNextPage endCursor } }
  }
}"""

ENVIRONMENTS = """
query Environments($projectId: String!, $first: Int, $after: String) {
  environments(projectId: $projectId, first: $first, after: $after) {
    edges { node { id name } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ENVIRONMENT_CREATE = """
mutation EnvironmentCreate($input: EnvironmentCreateInput!) {
  environmentCreate(input: $input) { id name }
}"""
ENVIRONMENT_DELETE = """
mutation EnvironmentDelete($id: String!) { environmentDelete(id: $id) }"""

SERVICE_CREATE = """
mutation ServiceCreate($input: ServiceCreateInput!) { serviceCreate(input: $input) { id name } }"""
SERVICE_UPDATE = """
mutation ServiceUpdate($id: String!, $input: ServiceUpdateInput!) { serviceUpdate(id: $id, input: $input) { id name } }"""
SERVICE_CONNECT = """
mutation ServiceConnect($id: String!, $input: ServiceConnectInput!) { serviceConnect(id: $id, input: $input) { id } }"""
SERVICE_DELETE = """
mutation ServiceDelete($id: String!) { serviceDelete(id: $id) }"""
SERVICE_GET = """
query ServiceGet($id: String!) { service(id: $id) { id name projectId deletedAt } }"""
SERVICE_INSTANCE_UPDATE = """
mutation ServiceInstanceUpdate($serviceId: String!, $environmentId: String!, $input: ServiceInstanceUpdateInput!) {
  serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input)
}"""
SERVICE_INSTANCE_GET = """
query ServiceInstanceGet($serviceId: String!, $environmentId: String!) {
  serviceInstance(serviceId: $serviceId, environmentId: $environmentId) {
    id
    source { image repo }
    rootDirectory dockerfilePath startCommand
    healthcheckPath healthcheckTimeout
    numReplicas region restartPolicyType restartPolicyMaxRetries
  }
}"""
SERVICE_INSTANCE_DEPLOY = """
mutation ServiceInstanceDeploy($serviceId: String!, $environmentId: String!) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId)
}"""

VARIABLES = """
query Variables($projectId: String!, $environmentId: String!, $serviceId: String) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId, unrendered: true)
}"""
VARIABLE_COLLECTION_UPSERT = """
mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) { variableCollectionUpsert(input: $input) }"""
VARIABLE_DELETE = """
mutation VariableDelete($input: VariableDeleteInput!) { variableDelete(input: $input) }"""

SERVICE_DOMAIN_CREATE = """
mutation ServiceDomainCreate($input: ServiceDomainCreateInput!) {
  serviceDomainCreate(input: $input) { id domain targetPort }
}"""
SERVICE_DOMAIN_UPDATE = """
mutation ServiceDomainUpdate($input: ServiceDomainUpdateInput!) { serviceDomainUpdate(input: $input) }"""
SERVICE_DOMAIN_DELETE = """
mutation ServiceDomainDelete($id: String!) { serviceDomainDelete(id: $id) }"""
DOMAINS = """
query Domains($projectId: String!, $environmentId: String!, $serviceId: String!) {
  domains(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) {
    serviceDomains { id domain targetPort }
  }
}"""

VOLUME_CREATE = """
mutation VolumeCreate($input: VolumeCreateInput!) { volumeCreate(input: $input) { id name } }"""
VOLUME_DELETE = """
mutation VolumeDelete($volumeId: String!) { volumeDelete(volumeId: $volumeId) }"""
VOLUME_INSTANCE_UPDATE = """
mutation VolumeInstanceUpdate($volumeId: String!, $environmentId: String, $input: VolumeInstanceUpdateInput!) {
  volumeInstanceUpdate(volumeId: $volumeId, environmentId: $environmentId, input: $input)
}"""
PROJECT_VOLUMES = """
query ProjectVolumes($id: String!, $first: Int, $after: String) {
  project(id: $id) {
    volumes(first: $first, after: $after) {
      edges { node { id name volumeInstances { edges { node { id environmentId serviceId mountPath } } } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

# deployments: status and logs (railwayapp/cli src/gql/queries/strings/DeploymentStatus.graphql,
# Deployments.graphql, BuildLogs.graphql, DeploymentLogs.graphql; docs integrations/api/manage-deployments.md)
DEPLOYMENT_STATUS = """
query DeploymentStatus($id: String!) { deployment(id: $id) { id status } }"""
LATEST_DEPLOYMENTS = """
query LatestDeployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) { edges { node { id status createdAt } } }
}"""
BUILD_LOGS = """
query BuildLogs($deploymentId: String!, $limit: Int) {
  buildLogs(deploymentId: $deploymentId, limit: $limit) { timestamp message severity }
}"""
DEPLOYMENT_LOGS = """
query DeploymentLogs($deploymentId: String!, $limit: Int) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit) { timestamp message severity }
}"""

#: every document, by operation name (the name the client sends as ``operationName``)
ALL: dict[str, str] = {
    "ProjectCreate": PROJECT_CREATE,
    "ProjectUpdate": PROJECT_UPDATE,
    "ProjectDelete": PROJECT_DELETE,
    "ProjectGet": PROJECT_GET,
    "Projects": PROJECTS,
    "ProjectServices": PROJECT_SERVICES,
    "TokenWorkspaces": TOKEN_WORKSPACES,
    "Environments": ENVIRONMENTS,
    "EnvironmentCreate": ENVIRONMENT_CREATE,
    "EnvironmentDelete": ENVIRONMENT_DELETE,
    "ServiceCreate": SERVICE_CREATE,
    "ServiceUpdate": SERVICE_UPDATE,
    "ServiceConnect": SERVICE_CONNECT,
    "ServiceDelete": SERVICE_DELETE,
    "ServiceGet": SERVICE_GET,
    "ServiceInstanceUpdate": SERVICE_INSTANCE_UPDATE,
    "ServiceInstanceGet": SERVICE_INSTANCE_GET,
    "ServiceInstanceDeploy": SERVICE_INSTANCE_DEPLOY,
    "Variables": VARIABLES,
    "VariableCollectionUpsert": VARIABLE_COLLECTION_UPSERT,
    "VariableDelete": VARIABLE_DELETE,
    "ServiceDomainCreate": SERVICE_DOMAIN_CREATE,
    "ServiceDomainUpdate": SERVICE_DOMAIN_UPDATE,
    "ServiceDomainDelete": SERVICE_DOMAIN_DELETE,
    "Domains": DOMAINS,
    "VolumeCreate": VOLUME_CREATE,
    "VolumeDelete": VOLUME_DELETE,
    "VolumeInstanceUpdate": VOLUME_INSTANCE_UPDATE,
    "ProjectVolumes": PROJECT_VOLUMES,
    "DeploymentStatus": DEPLOYMENT_STATUS,
    "LatestDeployments": LATEST_DEPLOYMENTS,
    "BuildLogs": BUILD_LOGS,
    "DeploymentLogs": DEPLOYMENT_LOGS,
}


def operation_name(document: str) -> str:
    for name, doc in ALL.items():
        if doc is document or doc == document:
            return name
    raise KeyError("not one of the provider's operations")
