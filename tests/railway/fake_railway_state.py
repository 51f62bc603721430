"""The fake Railway's data and its Query / Mutation resolvers (graphql-core calls them by field name).

Each behaviour names its source. Where Railway's behaviour is not written down anywhere we could read, the
comment says "assumption".
"""

# resolver and argument names are Railway's GraphQL field names (graphql-core resolves by name)
# ruff: noqa: N802, N803

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

from tests.railway.fake_deployments import DeploymentBook

#: ServiceInstanceUpdateInput fields the fake keeps as settings (schema: ServiceInstanceUpdateInput)
SETTINGS = (
    "rootDirectory",
    "dockerfilePath",
    "startCommand",
    "healthcheckPath",
    "healthcheckTimeout",
    "restartPolicyType",
    "restartPolicyMaxRetries",
)


@dataclass
class Fault:
    status: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: only for requests of this operation (None: the next request, whatever it is)
    operation: str | None = None
    #: the API carried the request out and the answer was lost on the way back (an edge 502 after the
    #: backend created the object; research/railway.md §5.1 "Problem processing request" right after a create)
    after_execution: bool = False


class RailwayData:
    """The stored objects, the deployment book, test helpers and the Query resolvers."""

    def __init__(
        self, *, build_s: float = 0.0, deploy_s: float = 0.0, not_found_window_s: float = 0.0
    ) -> None:
        self.lock = threading.RLock()
        self.db_projects: dict[str, dict[str, Any]] = {}
        self.db_environments: dict[str, dict[str, Any]] = {}
        self.db_services: dict[str, dict[str, Any]] = {}
        self.db_instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.db_variables: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self.db_domains: dict[str, dict[str, Any]] = {}
        self.db_volumes: dict[str, dict[str, Any]] = {}
        self.book = DeploymentBook(build_s=build_s, deploy_s=deploy_s)
        #: right after serviceCreate the instance answers "ServiceInstance not found" for a moment
        #: (terraform-provider-railway issue #82; jamesprnich helpers.go retryReadAfterCreateContext)
        self.not_found_window_s = not_found_window_s
        self.created_at: dict[str, float] = {}
        #: largest page a connection returns (the schema's Relay connections take first/after)
        self.page_size_cap = 100
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.call_times: list[float] = []
        self.faults: list[Fault] = []
        #: the workspaces the token can act in (apiToken.workspaces); none: an account without a team
        self.token_workspaces: list[dict[str, str]] = []
        #: the token is a workspace token: it "cannot be used to access your personal resources"
        #: (docs integrations/api.md, "Account tokens and workspace tokens")
        self.workspace_token = False
        self._counter = itertools.count(1)

    def new_id(self) -> str:
        return str(uuid.UUID(int=next(self._counter)))

    # -- helpers for tests ---------------------------------------------------------------------------------
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    @property
    def deploys(self) -> list[tuple[str, str]]:
        return [(d.service_id, d.environment_id) for d in self.book.all]

    def take_fault(self, operation: str | None) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.operation in (None, operation):
                    return self.faults.pop(i)
        return None

    def _page(
        self, nodes: list[dict[str, Any]], first: int | None = None, after: str | None = None
    ) -> dict[str, Any]:
        start = int(after) if after else 0
        size = min(first or self.page_size_cap, self.page_size_cap)
        chunk = nodes[start : start + size]
        more = start + size < len(nodes)
        return {
            "edges": [{"node": n} for n in chunk],
            "pageInfo": {"hasNextPage": more, "endCursor": str(start + size) if more else None},
        }

    def _young(self, service_id: str) -> bool:
        return time.monotonic() - self.created_at.get(service_id, -1e9) < self.not_found_window_s

    def _instance_or_fail(self, service_id: str) -> None:
        if service_id not in self.db_services or self._young(service_id):
            raise GraphQLError("ServiceInstance not found")

    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        pid = project["id"]
        envs = [e for e in self.db_environments.values() if e["projectId"] == pid]
        services = [s for s in self.db_services.values() if s["projectId"] == pid]
        volumes = [
            {**v, "volumeInstances": self._page(v["instances"])}
            for v in self.db_volumes.values()
            if v["projectId"] == pid
        ]
        return {
            **project,
            "environments": lambda info, **kw: self._page(envs, kw.get("first"), kw.get("after")),
            "services": lambda info, **kw: self._page(services, kw.get("first"), kw.get("after")),
            "volumes": lambda info, **kw: self._page(volumes, kw.get("first"), kw.get("after")),
        }

    def _snapshot(self, service_id: str, environment_id: str) -> dict[str, Any]:
        instance = self.db_instances.get((service_id, environment_id), {})
        project_id = self.db_services[service_id]["projectId"]
        return {
            "settings": {k: instance.get(k) for k in SETTINGS},
            "source": dict(instance.get("source") or {}),
            "replicas": instance.get("numReplicas"),
            "multiRegionConfig": instance.get("multiRegionConfig"),
            "variables": dict(self.db_variables.get((project_id, environment_id, service_id), {})),
        }

    def _deploy(self, service_id: str, environment_id: str) -> str:
        deployment_id = self.new_id()
        service = self.db_services[service_id]
        self.book.start(deployment_id, service, environment_id, self._snapshot(service_id, environment_id))
        return deployment_id

    def _environments_of(self, project_id: str) -> list[str]:
        return [e["id"] for e in self.db_environments.values() if e["projectId"] == project_id]

    # -- Query ---------------------------------------------------------------------------------------------
    def apiToken(self, info: Any) -> dict[str, Any]:
        return {"workspaces": list(self.token_workspaces)}

    def projects(self, info: Any, workspaceId: str | None = None, **kw: Any) -> dict[str, Any]:
        self._no_personal_with_a_workspace_token(workspaceId)
        # without workspaceId only personal projects are listed (docs integrations/api/manage-projects.md)
        found = [
            self._project_view(p) for p in self.db_projects.values() if p.get("workspaceId") == workspaceId
        ]
        return self._page(found, kw.get("first"), kw.get("after"))

    def _no_personal_with_a_workspace_token(self, workspace_id: str | None) -> None:
        if self.workspace_token and workspace_id is None:
            raise GraphQLError("Not Authorized")

    def project(self, info: Any, id: str) -> dict[str, Any]:
        if id not in self.db_projects:
            raise GraphQLError("Project not found")
        return self._project_view(self.db_projects[id])

    def environments(self, info: Any, projectId: str, **kw: Any) -> dict[str, Any]:
        if projectId not in self.db_projects:
            raise GraphQLError("Project not found")
        envs = [e for e in self.db_environments.values() if e["projectId"] == projectId]
        return self._page(envs, kw.get("first"), kw.get("after"))

    def service(self, info: Any, id: str) -> dict[str, Any]:
        if id not in self.db_services:
            raise GraphQLError("Service not found")
        return self.db_services[id]

    def serviceInstance(self, info: Any, serviceId: str, environmentId: str) -> dict[str, Any]:
        self._instance_or_fail(serviceId)
        instance = self.db_instances.get((serviceId, environmentId), {})
        return {
            "id": f"{serviceId}-{environmentId}",
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 10,
            **{k: v for k, v in instance.items() if k != "multiRegionConfig"},
        }

    def variables(
        self, info: Any, projectId: str, environmentId: str, serviceId: str | None = None, **_: Any
    ) -> Any:
        return dict(self.db_variables.get((projectId, environmentId, serviceId), {}))

    def domains(self, info: Any, projectId: str, environmentId: str, serviceId: str) -> dict[str, Any]:
        found = [
            d
            for d in self.db_domains.values()
            if d["serviceId"] == serviceId and d["environmentId"] == environmentId
        ]
        return {"serviceDomains": found, "customDomains": []}

    def deployment(self, info: Any, id: str) -> dict[str, Any]:
        found = self.book.find(id)
        if found is None:
            raise GraphQLError("Deployment not found")
        return self.book.view(found)

    def deployments(self, info: Any, input: dict[str, Any], **kw: Any) -> dict[str, Any]:
        # newest first, as the docs' "latest deployment" example (first: 1) relies on
        found = [
            self.book.view(d)
            for d in reversed(self.book.all)
            if d.service_id == input.get("serviceId", d.service_id)
            and d.environment_id == input.get("environmentId", d.environment_id)
        ]
        return self._page(found, kw.get("first"), kw.get("after"))

    def buildLogs(
        self, info: Any, deploymentId: str, limit: int | None = None, **_: Any
    ) -> list[dict[str, Any]]:
        found = self.book.find(deploymentId)
        lines = found.build_log() if found else []
        return [{"message": m, "timestamp": "2026-12-01T00:00:00Z", "severity": "info"} for m in lines][
            -(limit or 500) :
        ]

    def deploymentLogs(
        self, info: Any, deploymentId: str, limit: int | None = None, **_: Any
    ) -> list[dict[str, Any]]:
        found = self.book.find(deploymentId)
        lines = found.deploy_log() if found else []
        return [{"message": m, "timestamp": "2026-12-01T00:00:00Z", "severity": "info"} for m in lines][
            -(limit or 500) :
        ]
