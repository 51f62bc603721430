"""A fake Railway GraphQL API on 127.0.0.1, executed by graphql-core against the schema itself.

Every request is parsed and validated against the schema (Railway's full one from ``../shared`` when present,
else the project's subset), so an operation that Railway would reject fails here too. State lives in memory;
faults are scripted per request: HTTP 429 with Retry-After, Cloudflare's non-JSON 429, transient GraphQL errors.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync, parse, validate

from infra.simulator.loopback import serve

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ROOT / "infra" / "railway" / "schema.graphql"
FULL = ROOT.parent / "shared" / "railway" / "railway-cli-schema.graphql"


@functools.cache
def load_schema() -> GraphQLSchema:
    return build_schema((FULL if FULL.exists() else SUBSET).read_text())


@dataclass
class Fault:
    status: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: only for requests of this operation (None: the next request, whatever it is)
    operation: str | None = None


class RailwayState:
    """Projects, environments, services, variables, domains, volumes; the resolvers of Query and Mutation."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.db_projects: dict[str, dict[str, Any]] = {}
        self.db_environments: dict[str, dict[str, Any]] = {}
        self.db_services: dict[str, dict[str, Any]] = {}
        self.db_instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.db_variables: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self.db_domains: dict[str, dict[str, Any]] = {}
        self.db_volumes: dict[str, dict[str, Any]] = {}
        self.deploys: list[tuple[str, str]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.faults: list[Fault] = []
        self._counter = itertools.count(1)

    def new_id(self) -> str:
        return str(uuid.UUID(int=next(self._counter)))

    # -- helpers for tests -----------------------------------------------------------------------------
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def take_fault(self, operation: str | None) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.operation in (None, operation):
                    return self.faults.pop(i)
        return None

    @staticmethod
    def _conn(nodes: list[dict[str, Any]]) -> dict[str, Any]:
        return {"edges": [{"node": n} for n in nodes]}

    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        pid = project["id"]
        envs = [e for e in self.db_environments.values() if e["projectId"] == pid]
        services = [s for s in self.db_services.values() if s["projectId"] == pid]
        volumes = []
        for volume in self.db_volumes.values():
            if volume["projectId"] == pid:
                volumes.append({**volume, "volumeInstances": self._conn(volume["instances"])})
        return {
            **project,
            "environments": lambda info, **_: self._conn(envs),
            "services": lambda info, **_: self._conn(services),
            "volumes": lambda info, **_: self._conn(volumes),
        }

    # -- Query ---------------------------------------------------------------------------------------------
    def projects(self, info: Any, workspaceId: str | None = None, **_: Any) -> dict[str, Any]:
        found = [
            self._project_view(p) for p in self.db_projects.values() if p.get("workspaceId") == workspaceId
        ]
        return self._conn(found)

    def project(self, info: Any, id: str) -> dict[str, Any]:
        if id not in self.db_projects:
            raise GraphQLError("Project not found")
        return self._project_view(self.db_projects[id])

    def environments(self, info: Any, projectId: str, **_: Any) -> dict[str, Any]:
        if projectId not in self.db_projects:
            raise GraphQLError("Project not found")
        return self._conn([e for e in self.db_environments.values() if e["projectId"] == projectId])

    def service(self, info: Any, id: str) -> dict[str, Any]:
        if id not in self.db_services:
            raise GraphQLError("Service not found")
        return self.db_services[id]

    def serviceInstance(self, info: Any, serviceId: str, environmentId: str) -> dict[str, Any]:
        key = (serviceId, environmentId)
        if serviceId not in self.db_services:
            raise GraphQLError("ServiceInstance not found")
        return {
            "id": f"{serviceId}-{environmentId}",
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 10,
            **self.db_instances.get(key, {}),
        }

    def variables(
        self,
        info: Any,
        projectId: str,
        environmentId: str,
        serviceId: str | None = None,
        **_: Any,
    ) -> dict[str, str]:
        return dict(self.db_variables.get((projectId, environmentId, serviceId), {}))

    def domains(self, info: Any, projectId: str, environmentId: str, serviceId: str) -> dict[str, Any]:
        found = [
            d
            for d in self.db_domains.values()
            if d["serviceId"] == serviceId and d["environmentId"] == environmentId
        ]
        return {"serviceDomains": found, "customDomains": []}

    # -- Mutation ------------------------------------------------------------------------------------------
    def projectCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        pid = self.new_id()
        self.db_projects[pid] = {
            "id": pid,
            "name": input.get("name") or "unnamed",
            "deletedAt": None,
            "workspaceId": input.get("workspaceId"),
        }
        env_id = self.new_id()
        self.db_environments[env_id] = {
            "id": env_id,
            "name": input.get("defaultEnvironmentName") or "production",
            "projectId": pid,
        }
        return self._project_view(self.db_projects[pid])

    def projectUpdate(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        self.project(info, id)
        self.db_projects[id].update({k: v for k, v in input.items() if k == "name"})
        return self._project_view(self.db_projects[id])

    def projectDelete(self, info: Any, id: str) -> bool:
        if id not in self.db_projects:
            raise GraphQLError("Not Authorized")
        del self.db_projects[id]
        for table in (self.db_environments, self.db_services, self.db_volumes):
            for key in [k for k, v in table.items() if v.get("projectId") == id]:
                del table[key]
        return True

    def environmentCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        if input["projectId"] not in self.db_projects:
            raise GraphQLError("Project not found")
        env_id = self.new_id()
        self.db_environments[env_id] = {"id": env_id, "name": input["name"], "projectId": input["projectId"]}
        return self.db_environments[env_id]

    def environmentDelete(self, info: Any, id: str) -> bool:
        if id not in self.db_environments:
            raise GraphQLError("Environment not found")
        del self.db_environments[id]
        return True

    def serviceCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        pid = input["projectId"]
        if pid not in self.db_projects:
            raise GraphQLError("Project not found")
        if any(s["name"] == input.get("name") and s["projectId"] == pid for s in self.db_services.values()):
            raise GraphQLError(f'A service named "{input.get("name")}" already exists in this project')
        sid = self.new_id()
        self.db_services[sid] = {"id": sid, "name": input.get("name"), "projectId": pid, "deletedAt": None}
        return self.db_services[sid]

    def serviceUpdate(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        self.service(info, id)["name"] = input.get("name") or self.db_services[id]["name"]
        return self.db_services[id]

    def serviceConnect(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        service = self.service(info, id)
        service["connected"] = dict(input)
        return service

    def serviceDelete(self, info: Any, id: str, environmentId: str | None = None) -> bool:
        if id not in self.db_services:
            raise GraphQLError("Not Authorized")
        del self.db_services[id]
        return True

    def serviceInstanceUpdate(
        self,
        info: Any,
        serviceId: str,
        input: dict[str, Any],
        environmentId: str | None = None,
    ) -> bool:
        if serviceId not in self.db_services:
            raise GraphQLError("ServiceInstance not found")
        if environmentId is None:
            raise GraphQLError("test fake: the provider must always scope instance updates to an environment")
        self.db_instances.setdefault((serviceId, environmentId), {}).update(input)
        return True

    def serviceInstanceDeployV2(
        self,
        info: Any,
        serviceId: str,
        environmentId: str,
        commitSha: str | None = None,
    ) -> str:
        if serviceId not in self.db_services:
            raise GraphQLError("Service not found")
        self.deploys.append((serviceId, environmentId))
        return self.new_id()

    def variableCollectionUpsert(self, info: Any, input: dict[str, Any]) -> bool:
        key = (input["projectId"], input["environmentId"], input.get("serviceId"))
        if input.get("replace"):
            self.db_variables[key] = {}
        self.db_variables.setdefault(key, {}).update(input["variables"])
        if not input.get("skipDeploys"):
            self.deploys.append((str(input.get("serviceId")), input["environmentId"]))
        return True

    def variableDelete(self, info: Any, input: dict[str, Any]) -> bool:
        key = (input["projectId"], input["environmentId"], input.get("serviceId"))
        if input["name"] not in self.db_variables.get(key, {}):
            raise GraphQLError("Variable not found")
        del self.db_variables[key][input["name"]]
        return True

    def serviceDomainCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        service = self.service(info, input["serviceId"])
        did = self.new_id()
        self.db_domains[did] = {
            "id": did,
            "domain": f"{service['name']}-{did[-4:]}.up.railway.app",
            "targetPort": input.get("targetPort"),
            "serviceId": input["serviceId"],
            "environmentId": input["environmentId"],
        }
        return self.db_domains[did]

    def serviceDomainUpdate(self, info: Any, input: dict[str, Any]) -> bool:
        domain = self.db_domains.get(input["serviceDomainId"])
        if domain is None:
            raise GraphQLError("Domain not found")
        domain["targetPort"] = input.get("targetPort")
        return True

    def serviceDomainDelete(self, info: Any, id: str) -> bool:
        if id not in self.db_domains:
            raise GraphQLError("Domain not found")
        del self.db_domains[id]
        return True

    def volumeCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        vid = self.new_id()
        instances = []
        if input.get("environmentId"):
            instances.append(
                {
                    "id": self.new_id(),
                    "environmentId": input["environmentId"],
                    "serviceId": input.get("serviceId"),
                    "mountPath": input["mountPath"],
                }
            )
        self.db_volumes[vid] = {
            "id": vid,
            "name": f"volume-{vid[-4:]}",
            "projectId": input["projectId"],
            "instances": instances,
        }
        return self.db_volumes[vid]

    def volumeInstanceUpdate(
        self,
        info: Any,
        volumeId: str,
        input: dict[str, Any],
        environmentId: str | None = None,
    ) -> bool:
        for instance in self.db_volumes[volumeId]["instances"]:
            if instance["environmentId"] == environmentId and input.get("mountPath"):
                instance["mountPath"] = input["mountPath"]
        return True

    def volumeDelete(self, info: Any, volumeId: str) -> bool:
        if volumeId not in self.db_volumes:
            raise GraphQLError("Volume not found")
        del self.db_volumes[volumeId]
        return True


class FakeRailway:
    """The HTTP server around ``RailwayState``; requires ``Authorization: Bearer <token>``."""

    def __init__(self, token: str = "fake-railway-token") -> None:
        self.token = token
        self.state = RailwayState()
        self.schema = load_schema()
        self.rejected: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/graphql/v2"

    def handle(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        name = request.get("operationName")
        fault = self.state.take_fault(name)
        if fault is not None:
            payload = (
                fault.body if fault.body is not None else json.dumps({"errors": [{"message": "injected"}]})
            )
            return fault.status, fault.headers, payload.encode()
        if authorization != f"Bearer {self.token}":
            return 200, {}, json.dumps({"data": None, "errors": [{"message": "Not Authorized"}]}).encode()
        document = parse(request["query"])
        errors = validate(self.schema, document)
        if errors:
            self.rejected.append(name)
            return 400, {}, json.dumps({"errors": [{"message": e.message} for e in errors]}).encode()
        with self.state.lock:
            self.state.calls.append((name, request.get("variables") or {}))
            result = graphql_sync(
                self.schema,
                request["query"],
                root_value=self.state,
                variable_values=request.get("variables"),
                operation_name=name,
            )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return 200, {}, json.dumps(payload).encode()

    @contextmanager
    def running(self) -> Iterator[FakeRailway]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                status, headers, payload = fake.handle(
                    self.rfile.read(length), self.headers.get("authorization")
                )
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        with serve(Handler) as server:
            self._server = server
            yield self
