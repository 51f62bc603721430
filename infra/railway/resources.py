"""Railway resources: Project, Environment, Service, Variables, Deployment, ServiceDomain, Volume.

Each provider keeps only plain data on ``self`` (it is pickled into the state by dill) and builds its HTTP client
per call. The token comes from ``llmstack:railway_token`` (Pulumi config, secret) or ``RAILWAY_TOKEN``; it is
never an input, so it never lands in the state.

Idempotency: ``create`` first looks for an object with the same name (or, for domains and volumes, the same
service) and adopts it, so a run that died half-way leaves neither duplicates nor orphans. ``delete`` treats
"already gone" as done. ``read`` reports drift (or disappearance) on ``pulumi refresh``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from infra.railway import operations as ops
from infra.railway.client import RailwayClient, RailwayError

TOKEN_CONFIG_KEY = "llmstack:railway_token"
TOKEN_ENV_VARS = ("RAILWAY_TOKEN", "RAILWAY_API_TOKEN")
DEFAULT_API_URL = "https://backboard.railway.com/graphql/v2"


def digest(values: Mapping[str, Any]) -> str:
    """A stable fingerprint of values that must not be stored themselves (variables holding secrets)."""
    canonical = json.dumps(dict(values), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class RailwayProvider(ResourceProvider):
    """What every Railway provider shares: the token, the client, and diff by replace/update keys."""

    #: inputs whose change replaces the resource; every other input change is an in-place update
    replace_keys: ClassVar[tuple[str, ...]] = ()
    #: inputs compared by ``diff`` (outputs computed by Railway are not)
    input_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self._config_token: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        token = req.config.get(TOKEN_CONFIG_KEY)
        self._config_token = str(token) if token else None

    def client(self, props: Mapping[str, Any]) -> RailwayClient:
        token = self._config_token or next((os.environ[v] for v in TOKEN_ENV_VARS if os.environ.get(v)), "")
        return RailwayClient(str(props.get("api_url") or DEFAULT_API_URL), token)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in self.input_keys if _normal(olds.get(k)) != _normal(news.get(k))]
        replaces = [k for k in changed if k in self.replace_keys]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [CheckFailure(k, f"{k} is required") for k in self.required() if not news.get(k)]
        return CheckResult(news, failures)

    def required(self) -> tuple[str, ...]:
        return ()

    def _outs(self, props: Mapping[str, Any], **computed: Any) -> dict[str, Any]:
        return {**{k: props.get(k) for k in (*self.input_keys, "api_url")}, **computed}


def _normal(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


def _gone(exc: RailwayError) -> bool:
    return exc.is_gone


def _edges(connection: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (connection or {}).get("edges", [])]


# --- project ----------------------------------------------------------------------------------------------


class ProjectProvider(RailwayProvider):
    input_keys = ("name", "workspace_id", "default_environment")
    replace_keys = ("workspace_id",)

    def required(self) -> tuple[str, ...]:
        return ("name", "default_environment")

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        listing = client.execute(ops.PROJECTS, {"workspaceId": props.get("workspace_id")})
        existing = [
            p for p in _edges(listing["projects"]) if p["name"] == props["name"] and not p.get("deletedAt")
        ]
        if existing:
            project_id = existing[0]["id"]
        else:
            created = client.execute(
                ops.PROJECT_CREATE,
                {
                    "input": {
                        "name": props["name"],
                        "workspaceId": props.get("workspace_id"),
                        "defaultEnvironmentName": props["default_environment"],
                        "isPublic": False,
                        "prDeploys": False,
                    }
                },
            )
            project_id = created["projectCreate"]["id"]
        return CreateResult(project_id, self._outs(props, project_id=project_id, adopted=bool(existing)))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("name") != news.get("name"):
            self.client(news).execute(ops.PROJECT_UPDATE, {"id": id_, "input": {"name": news["name"]}})
        return UpdateResult(self._outs(news, project_id=id_, adopted=olds.get("adopted", False)))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            project = self.client(props).execute(ops.PROJECT_GET, {"id": id_})["project"]
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        if project.get("deletedAt"):
            return ReadResult("", {})
        return ReadResult(id_, {**props, "name": project["name"], "project_id": id_})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            self.client(props).execute(ops.PROJECT_DELETE, {"id": id_})
        except RailwayError as exc:
            if not _gone(exc):
                raise


class Project(Resource, module="railway", name="Project"):
    project_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project_name: pulumi.Input[str],
        default_environment: pulumi.Input[str],
        workspace_id: pulumi.Input[str] | None = None,
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "name": project_name,
            "workspace_id": workspace_id,
            "default_environment": default_environment,
            "api_url": api_url,
            "project_id": None,
            "adopted": None,
        }
        super().__init__(ProjectProvider(), name, props, opts)


# --- environment ------------------------------------------------------------------------------------------


class EnvironmentProvider(RailwayProvider):
    input_keys = ("project_id", "name")
    replace_keys = ("project_id", "name")

    def required(self) -> tuple[str, ...]:
        return ("project_id", "name")

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        listing = client.execute(ops.ENVIRONMENTS, {"projectId": props["project_id"]})
        existing = [e for e in _edges(listing["environments"]) if e["name"] == props["name"]]
        if existing:
            # the project's default environment (created with it), or one a failed run left behind
            return CreateResult(
                existing[0]["id"], self._outs(props, environment_id=existing[0]["id"], adopted=True)
            )
        created = client.execute(
            ops.ENVIRONMENT_CREATE,
            {
                "input": {
                    "projectId": props["project_id"],
                    "name": props["name"],
                    "stageInitialChanges": False,
                }
            },
        )
        env_id = created["environmentCreate"]["id"]
        return CreateResult(env_id, self._outs(props, environment_id=env_id, adopted=False))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            listing = self.client(props).execute(ops.ENVIRONMENTS, {"projectId": props["project_id"]})
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        # the list is authoritative: environment(id) can return stale data for a deleted environment
        found = [e for e in _edges(listing["environments"]) if e["id"] == id_]
        if not found:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "name": found[0]["name"], "environment_id": id_})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return  # the project's own default environment goes with the project
        try:
            self.client(props).execute(ops.ENVIRONMENT_DELETE, {"id": id_})
        except RailwayError as exc:
            if not _gone(exc):
                raise


class Environment(Resource, module="railway", name="Environment"):
    environment_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project_id: pulumi.Input[str],
        environment_name: pulumi.Input[str],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "project_id": project_id,
            "name": environment_name,
            "api_url": api_url,
            "environment_id": None,
            "adopted": None,
        }
        super().__init__(EnvironmentProvider(), name, props, opts)


# --- service ----------------------------------------------------------------------------------------------

#: ServiceSettings keys -> ServiceInstanceUpdateInput fields
_SETTINGS_FIELDS = {
    "root_directory": "rootDirectory",
    "dockerfile_path": "dockerfilePath",
    "start_command": "startCommand",
    "healthcheck_path": "healthcheckPath",
    "healthcheck_timeout_s": "healthcheckTimeout",
    "restart_policy": "restartPolicyType",
    "restart_policy_max_retries": "restartPolicyMaxRetries",
}


def instance_input(source: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ServiceInstanceUpdateInput for a service's source and settings (one environment)."""
    fields: dict[str, Any] = {
        field: settings[key] for key, field in _SETTINGS_FIELDS.items() if settings.get(key) is not None
    }
    replicas = int(settings.get("replicas") or 1)
    fields["numReplicas"] = replicas
    if settings.get("region"):
        # `region` alone does not move a deployment; multiRegionConfig does (research/railway.md §2.4)
        fields["region"] = settings["region"]
        fields["multiRegionConfig"] = {settings["region"]: {"numReplicas": replicas}}
    if source.get("image"):
        fields["source"] = {"image": source["image"]}
    return fields


class ServiceProvider(RailwayProvider):
    input_keys = ("project_id", "environment_id", "name", "source", "settings")
    replace_keys = ("project_id", "environment_id")

    def required(self) -> tuple[str, ...]:
        return ("project_id", "environment_id", "name", "source")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        source = news.get("source") or {}
        if bool(source.get("image")) == bool(source.get("repo")):
            result.failures.append(CheckFailure("source", "set exactly one of source.image or source.repo"))
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        project = client.execute(ops.PROJECT_GET, {"id": props["project_id"]})["project"]
        existing = [s for s in _edges(project["services"]) if s["name"] == props["name"]]
        if existing:
            service_id = existing[0]["id"]  # a half-created service from a failed run: adopt and configure it
        else:
            created = client.execute(
                ops.SERVICE_CREATE,
                {
                    "input": {
                        "projectId": props["project_id"],
                        "name": props["name"],
                        "environmentId": props["environment_id"],
                    }
                },
            )
            service_id = created["serviceCreate"]["id"]
        self._configure(client, service_id, props)
        return CreateResult(service_id, self._service_outs(props, service_id, adopted=bool(existing)))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client(news)
        if olds.get("name") != news.get("name"):
            client.execute(ops.SERVICE_UPDATE, {"id": id_, "input": {"name": news["name"]}})
        self._configure(client, id_, news)
        return UpdateResult(self._service_outs(news, id_, adopted=olds.get("adopted", False)))

    def _configure(self, client: RailwayClient, service_id: str, props: Mapping[str, Any]) -> None:
        source = props.get("source") or {}
        if source.get("repo"):
            client.execute(
                ops.SERVICE_CONNECT,
                {
                    "id": service_id,
                    "input": {"repo": source["repo"], "branch": source.get("branch") or "main"},
                },
            )
        client.execute(
            ops.SERVICE_INSTANCE_UPDATE,
            {
                "serviceId": service_id,
                "environmentId": props["environment_id"],
                "input": instance_input(source, props.get("settings") or {}),
            },
        )

    def _service_outs(self, props: Mapping[str, Any], service_id: str, *, adopted: bool) -> dict[str, Any]:
        return self._outs(
            props,
            service_id=service_id,
            private_domain=f"{props['name']}.railway.internal",
            adopted=adopted,
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self.client(props)
        try:
            service = client.execute(ops.SERVICE_GET, {"id": id_})["service"]
            instance = client.execute(
                ops.SERVICE_INSTANCE_GET, {"serviceId": id_, "environmentId": props["environment_id"]}
            )["serviceInstance"]
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        if service.get("deletedAt"):
            return ReadResult("", {})
        settings = dict(props.get("settings") or {})
        for key, field in _SETTINGS_FIELDS.items():
            # only managed settings, and only what Railway echoes back: values can be missing after a redeploy
            if key in settings and instance.get(field) not in (None, ""):
                settings[key] = instance[field]
        if instance.get("numReplicas"):
            settings["replicas"] = instance["numReplicas"]
        source = dict(props.get("source") or {})
        live_image = (instance.get("source") or {}).get("image")
        if live_image and source.get("image"):
            source["image"] = live_image
        outs = {**props, "name": service["name"], "settings": settings, "source": source}
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            self.client(props).execute(ops.SERVICE_DELETE, {"id": id_})
        except RailwayError as exc:
            if not _gone(exc):
                raise


class Service(Resource, module="railway", name="Service"):
    service_id: pulumi.Output[str]
    private_domain: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        service_name: pulumi.Input[str],
        source: pulumi.Input[Mapping[str, Any]],
        settings: pulumi.Input[Mapping[str, Any]],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "project_id": project_id,
            "environment_id": environment_id,
            "name": service_name,
            "source": source,
            "settings": settings,
            "api_url": api_url,
            "service_id": None,
            "private_domain": None,
            "adopted": None,
        }
        super().__init__(ServiceProvider(), name, props, opts)


# --- variables --------------------------------------------------------------------------------------------


class VariablesProvider(RailwayProvider):
    """A service's variables, upserted in bulk with deploys skipped (the Deployment resource deploys once).

    Only the names we own are managed; values are never written to the outputs, only their digest.
    """

    input_keys = ("project_id", "environment_id", "service_id")
    replace_keys = ("project_id", "environment_id", "service_id")

    def required(self) -> tuple[str, ...]:
        return ("project_id", "environment_id", "service_id")

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        base = super().diff(id_, olds, news)
        values = news.get("variables") or {}
        changed = bool(base.changes) or olds.get("digest") != digest(values)
        changed = changed or sorted(olds.get("names") or []) != sorted(values)
        return DiffResult(
            changes=changed, replaces=base.replaces, delete_before_replace=base.delete_before_replace
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._upsert(props, removed=())
        return CreateResult(f"{props['service_id']}:{props['environment_id']}", self._variable_outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        removed = sorted(set(olds.get("names") or []) - set(news.get("variables") or {}))
        self._upsert(news, removed=removed)
        return UpdateResult(self._variable_outs(news))

    def _scope(self, props: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "projectId": props["project_id"],
            "environmentId": props["environment_id"],
            "serviceId": props["service_id"],
        }

    def _upsert(self, props: Mapping[str, Any], removed: Any) -> None:
        client = self.client(props)
        variables = {k: str(v) for k, v in (props.get("variables") or {}).items()}
        if variables:
            client.execute(
                ops.VARIABLE_COLLECTION_UPSERT,
                # replace=false: variables Railway or a person added stay; skipDeploys: one deploy comes later
                {
                    "input": {
                        **self._scope(props),
                        "variables": variables,
                        "replace": False,
                        "skipDeploys": True,
                    }
                },
            )
        for name in removed:
            try:
                client.execute(ops.VARIABLE_DELETE, {"input": {**self._scope(props), "name": name}})
            except RailwayError as exc:
                if not _gone(exc):
                    raise

    def _variable_outs(self, props: Mapping[str, Any]) -> dict[str, Any]:
        values = props.get("variables") or {}
        return self._outs(props, names=sorted(values), digest=digest({k: str(v) for k, v in values.items()}))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            live = self.client(props).execute(ops.VARIABLES, self._scope(props))["variables"] or {}
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        owned = {name: live[name] for name in props.get("names") or [] if name in live}
        # a changed or deleted value shows up as a different digest, so the next `up` writes it again
        return ReadResult(id_, {**props, "names": sorted(owned), "digest": digest(owned)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self.client(props)
        for name in props.get("names") or []:
            try:
                client.execute(ops.VARIABLE_DELETE, {"input": {**self._scope(props), "name": name}})
            except RailwayError as exc:
                if not _gone(exc):
                    raise


class Variables(Resource, module="railway", name="Variables"):
    names: pulumi.Output[list[str]]
    digest: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        service_id: pulumi.Input[str],
        variables: pulumi.Input[Mapping[str, pulumi.Input[str]]],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "project_id": project_id,
            "environment_id": environment_id,
            "service_id": service_id,
            # every value is treated as secret: provider keys, the master key and tokens travel here
            "variables": pulumi.Output.secret(variables),
            "api_url": api_url,
            "names": None,
            "digest": None,
        }
        super().__init__(VariablesProvider(), name, props, opts)


# --- deployment -------------------------------------------------------------------------------------------


class DeploymentProvider(RailwayProvider):
    """One deploy per change: ``revision`` fingerprints everything that should redeploy the service."""

    input_keys = ("service_id", "environment_id", "revision")
    replace_keys = ("service_id", "environment_id")

    def required(self) -> tuple[str, ...]:
        return ("service_id", "environment_id", "revision")

    def create(self, props: dict[str, Any]) -> CreateResult:
        deployment_id = self._deploy(props)
        return CreateResult(
            f"{props['service_id']}:{props['environment_id']}", self._outs(props, deployment_id=deployment_id)
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._outs(news, deployment_id=self._deploy(news)))

    def _deploy(self, props: Mapping[str, Any]) -> str:
        result = self.client(props).execute(
            ops.SERVICE_INSTANCE_DEPLOY,
            {"serviceId": props["service_id"], "environmentId": props["environment_id"]},
        )
        return str(result["serviceInstanceDeployV2"])

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing to undo: the running deployment goes with its service


class Deployment(Resource, module="railway", name="Deployment"):
    deployment_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        revision: pulumi.Input[str],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "service_id": service_id,
            "environment_id": environment_id,
            "revision": revision,
            "api_url": api_url,
            "deployment_id": None,
        }
        super().__init__(DeploymentProvider(), name, props, opts)


# --- service domain ---------------------------------------------------------------------------------------


class ServiceDomainProvider(RailwayProvider):
    input_keys = ("project_id", "environment_id", "service_id", "target_port")
    replace_keys = ("project_id", "environment_id", "service_id")

    def required(self) -> tuple[str, ...]:
        return ("project_id", "environment_id", "service_id", "target_port")

    def _domains(self, props: Mapping[str, Any]) -> list[dict[str, Any]]:
        result = self.client(props).execute(
            ops.DOMAINS,
            {
                "projectId": props["project_id"],
                "environmentId": props["environment_id"],
                "serviceId": props["service_id"],
            },
        )
        domains: list[dict[str, Any]] = result["domains"]["serviceDomains"]
        return domains

    def create(self, props: dict[str, Any]) -> CreateResult:
        existing = self._domains(props)
        if existing:
            domain = existing[0]
            if domain.get("targetPort") != props["target_port"]:
                self._set_port(props, domain)
        else:
            domain = self.client(props).execute(
                ops.SERVICE_DOMAIN_CREATE,
                {
                    "input": {
                        "environmentId": props["environment_id"],
                        "serviceId": props["service_id"],
                        "targetPort": int(props["target_port"]),
                    }
                },
            )["serviceDomainCreate"]
        return CreateResult(domain["id"], self._domain_outs(props, domain))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        domain = {"id": id_, "domain": olds.get("domain")}
        self._set_port(news, domain)
        return UpdateResult(self._domain_outs(news, domain))

    def _set_port(self, props: Mapping[str, Any], domain: Mapping[str, Any]) -> None:
        # always send the real port: a missing or zero targetPort clobbers it (research/railway.md §2.7)
        self.client(props).execute(
            ops.SERVICE_DOMAIN_UPDATE,
            {
                "input": {
                    "domain": domain["domain"],
                    "environmentId": props["environment_id"],
                    "serviceDomainId": domain["id"],
                    "serviceId": props["service_id"],
                    "targetPort": int(props["target_port"]),
                }
            },
        )

    def _domain_outs(self, props: Mapping[str, Any], domain: Mapping[str, Any]) -> dict[str, Any]:
        return self._outs(props, domain=domain["domain"], url=f"https://{domain['domain']}")

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            found = [d for d in self._domains(props) if d["id"] == id_]
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        if not found:
            return ReadResult("", {})
        return ReadResult(
            id_, {**props, **self._domain_outs(props, found[0]), "target_port": found[0]["targetPort"]}
        )

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            self.client(props).execute(ops.SERVICE_DOMAIN_DELETE, {"id": id_})
        except RailwayError as exc:
            if not _gone(exc):
                raise


class ServiceDomain(Resource, module="railway", name="ServiceDomain"):
    domain: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        service_id: pulumi.Input[str],
        target_port: pulumi.Input[int],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "project_id": project_id,
            "environment_id": environment_id,
            "service_id": service_id,
            "target_port": target_port,
            "api_url": api_url,
            "domain": None,
            "url": None,
        }
        super().__init__(ServiceDomainProvider(), name, props, opts)


# --- volume -----------------------------------------------------------------------------------------------


class VolumeProvider(RailwayProvider):
    input_keys = ("project_id", "environment_id", "service_id", "mount_path")
    replace_keys = ("project_id", "environment_id", "service_id")

    def required(self) -> tuple[str, ...]:
        return ("project_id", "environment_id", "service_id", "mount_path")

    def _mine(self, props: Mapping[str, Any]) -> list[dict[str, Any]]:
        project = self.client(props).execute(ops.PROJECT_VOLUMES, {"id": props["project_id"]})["project"]
        mine = []
        for volume in _edges(project["volumes"]):
            for instance in _edges(volume["volumeInstances"]):
                if (
                    instance["serviceId"] == props["service_id"]
                    and instance["environmentId"] == props["environment_id"]
                ):
                    mine.append({**volume, "mountPath": instance["mountPath"]})
        return mine

    def create(self, props: dict[str, Any]) -> CreateResult:
        existing = self._mine(props)
        if existing:
            volume = existing[0]
            if volume["mountPath"] != props["mount_path"]:
                self._move(props, volume["id"])
        else:
            volume = self.client(props).execute(
                ops.VOLUME_CREATE,
                {
                    "input": {
                        "projectId": props["project_id"],
                        # always pass the environment: without it Railway creates no volume instance
                        "environmentId": props["environment_id"],
                        "serviceId": props["service_id"],
                        "mountPath": props["mount_path"],
                    }
                },
            )["volumeCreate"]
        return CreateResult(
            volume["id"], self._outs(props, volume_id=volume["id"], volume_name=volume["name"])
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._move(news, id_)
        return UpdateResult(self._outs(news, volume_id=id_, volume_name=olds.get("volume_name")))

    def _move(self, props: Mapping[str, Any], volume_id: str) -> None:
        self.client(props).execute(
            ops.VOLUME_INSTANCE_UPDATE,
            {
                "volumeId": volume_id,
                "environmentId": props["environment_id"],
                "input": {"mountPath": props["mount_path"]},
            },
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            found = [v for v in self._mine(props) if v["id"] == id_]
        except RailwayError as exc:
            if exc.is_not_found:
                return ReadResult("", {})
            raise
        if not found:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "mount_path": found[0]["mountPath"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            self.client(props).execute(ops.VOLUME_DELETE, {"volumeId": id_})
        except RailwayError as exc:
            if not _gone(exc):
                raise


class Volume(Resource, module="railway", name="Volume"):
    volume_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        project_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        service_id: pulumi.Input[str],
        mount_path: pulumi.Input[str],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "project_id": project_id,
            "environment_id": environment_id,
            "service_id": service_id,
            "mount_path": mount_path,
            "api_url": api_url,
            "volume_id": None,
            "volume_name": None,
        }
        super().__init__(VolumeProvider(), name, props, opts)
