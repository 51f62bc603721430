"""The fake Railway's Mutation resolvers, each with the behaviour the real API has and where that is written."""

# resolver and argument names are Railway's GraphQL field names (graphql-core resolves by name)
# ruff: noqa: N802, N803

from __future__ import annotations

import time
from typing import Any

from graphql import GraphQLError

from tests.railway.fake_railway_state import SETTINGS, RailwayData


class RailwayState(RailwayData):
    def projectCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._no_personal_with_a_workspace_token(input.get("workspaceId"))
        pid = self.new_id()
        self.db_projects[pid] = {
            "id": pid,
            "name": input.get("name") or "unnamed",
            "deletedAt": None,
            "workspaceId": input.get("workspaceId"),
        }
        # the project comes with its default environment (research/railway.md §2.1)
        env_id = self.new_id()
        name = input.get("defaultEnvironmentName") or "production"
        self.db_environments[env_id] = {"id": env_id, "name": name, "projectId": pid}
        return self._project_view(self.db_projects[pid])

    def projectUpdate(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        self.project(info, id)
        self.db_projects[id].update({k: v for k, v in input.items() if k == "name"})
        return self._project_view(self.db_projects[id])

    def projectDelete(self, info: Any, id: str) -> bool:
        if id not in self.db_projects:
            raise GraphQLError(
                "Not Authorized"
            )  # Railway's answer for deleted objects (railwayapp/cli client.rs)
        del self.db_projects[id]
        # everything in the project goes with it
        services = [sid for sid, s in self.db_services.items() if s["projectId"] == id]
        for sid in services:
            self._drop_service(sid)
        for table in (self.db_environments, self.db_volumes):
            for key in [k for k, v in table.items() if v.get("projectId") == id]:
                del table[key]
        for key in [k for k in self.db_variables if k[0] == id]:
            del self.db_variables[key]
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
            # the message TF issue #82 shows for a retry after a half-created service
            raise GraphQLError(f'A service named "{input.get("name")}" already exists in this project')
        sid = self.new_id()
        self.db_services[sid] = {"id": sid, "name": input.get("name"), "projectId": pid, "deletedAt": None}
        self.created_at[sid] = time.monotonic()
        if input.get("source"):
            # a service created with a source deploys at once (railwayapp/cli src/commands/add.rs sends no deploy
            # call after serviceCreate with a source), in every environment it exists in
            for env_id in self._environments_of(pid):
                self.db_instances.setdefault((sid, env_id), {})["source"] = dict(input["source"])
                self._deploy(sid, env_id)
        return self.db_services[sid]

    def serviceUpdate(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        self.service(info, id)["name"] = input.get("name") or self.db_services[id]["name"]
        return self.db_services[id]

    def serviceConnect(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        # "serviceConnect ServiceInstance not found" right after create (TF issue #82)
        self._instance_or_fail(id)
        service = self.db_services[id]
        # service-wide (every non-fork environment), and it deploys at once with the settings of that moment
        # (TF PR #21; research/railway.md §2.3)
        for env_id in self._environments_of(service["projectId"]):
            instance = self.db_instances.setdefault((id, env_id), {})
            instance["source"] = {"repo": input.get("repo"), "image": input.get("image")}
            instance["branch"] = input.get("branch")
            self._deploy(id, env_id)
        return service

    def serviceDelete(self, info: Any, id: str, environmentId: str | None = None) -> bool:
        if id not in self.db_services:
            raise GraphQLError("Not Authorized")
        self._drop_service(id)
        return True

    def _drop_service(self, sid: str) -> None:
        del self.db_services[sid]
        for key in [k for k in self.db_instances if k[0] == sid]:
            del self.db_instances[key]
        for key in [k for k in self.db_variables if k[2] == sid]:
            del self.db_variables[key]
        for did in [d for d, v in self.db_domains.items() if v["serviceId"] == sid]:
            del self.db_domains[did]
        self.book.forget_service(sid)

    def serviceInstanceUpdate(
        self, info: Any, serviceId: str, input: dict[str, Any], environmentId: str | None = None
    ) -> bool:
        self._instance_or_fail(serviceId)
        if environmentId is None:
            raise GraphQLError("test fake: the provider must always scope instance updates to an environment")
        instance = self.db_instances.setdefault((serviceId, environmentId), {})
        instance.update({k: v for k, v in input.items() if k in SETTINGS})
        if input.get("source"):
            # sets the source without deploying: only serviceConnect deploys (TF PR #21)
            instance["source"] = dict(input["source"])
        if input.get("multiRegionConfig"):
            # only multiRegionConfig moves a deployment (jamesprnich resource_service_instance.go)
            config = input["multiRegionConfig"]
            instance["multiRegionConfig"] = config
            instance["numReplicas"] = sum(int(r.get("numReplicas", 1)) for r in config.values())
        elif input.get("numReplicas") is not None:
            instance["numReplicas"] = input["numReplicas"]
        # `region` alone is ignored (alchemy-run/alchemy #1748; jamesprnich resource_service_instance.go)
        if "region" in input:
            instance.setdefault("ignored", []).append("region")
        if input.get("multiRegionConfig") and input.get("numReplicas") is not None:
            instance.setdefault("ignored", []).append("numReplicas")  # assumption: the config wins
        return True

    def serviceInstanceDeployV2(
        self, info: Any, serviceId: str, environmentId: str, commitSha: str | None = None
    ) -> str:
        self._instance_or_fail(serviceId)
        # deploys what is set on the instance now (research/railway.md §0 item 5)
        return self._deploy(serviceId, environmentId)

    def variableCollectionUpsert(self, info: Any, input: dict[str, Any]) -> bool:
        key = (input["projectId"], input["environmentId"], input.get("serviceId"))
        if input.get("replace"):
            self.db_variables[key] = {}  # replace: true deletes every variable not in the map (schema text)
        self.db_variables.setdefault(key, {}).update(input["variables"])
        if not input.get("skipDeploys") and input.get("serviceId") in self.db_services:
            self._deploy(input["serviceId"], input["environmentId"])  # skipDeploys defaults to false
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
        domain["targetPort"] = input.get("targetPort")  # a missing port clobbers it to null (TF issue #81)
        return True

    def serviceDomainDelete(self, info: Any, id: str) -> bool:
        if id not in self.db_domains:
            raise GraphQLError("Domain not found")
        del self.db_domains[id]
        return True

    def volumeCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        vid = self.new_id()
        instances = []
        if input.get("environmentId"):  # without it no volume instance is created (TF issue #61)
            instances.append(
                {
                    "id": self.new_id(),
                    "environmentId": input["environmentId"],
                    "serviceId": input.get("serviceId"),
                    "mountPath": input["mountPath"],
                }
            )
        name = f"volume-{vid[-4:]}"
        self.db_volumes[vid] = {
            "id": vid,
            "name": name,
            "projectId": input["projectId"],
            "instances": instances,
        }
        return self.db_volumes[vid]

    def volumeInstanceUpdate(
        self, info: Any, volumeId: str, input: dict[str, Any], environmentId: str | None = None
    ) -> bool:
        if volumeId not in self.db_volumes:
            raise GraphQLError("Volume not found")
        for instance in self.db_volumes[volumeId]["instances"]:
            if environmentId in (None, instance["environmentId"]):
                # "The service to attach the volume to. If not provided, the volume will be disconnected."
                # (schema: VolumeInstanceUpdateInput.serviceId)
                instance["serviceId"] = input.get("serviceId")
                if input.get("mountPath"):
                    instance["mountPath"] = input["mountPath"]
        return True

    def volumeDelete(self, info: Any, volumeId: str) -> bool:
        if volumeId not in self.db_volumes:
            raise GraphQLError("Volume not found")
        del self.db_volumes[volumeId]
        return True
