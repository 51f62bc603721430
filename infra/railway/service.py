"""A service and its instance settings in the stack's environment. It never starts a deployment.

Railway starts a deployment as soon as a service gets a source: ``serviceConnect`` and ``serviceCreate``
with ``source`` both deploy at once, with the instance settings of that moment (terraform-community-providers/
terraform-provider-railway PR #21 and issue #82; railwayapp/cli ``src/commands/add.rs`` sends no deploy call
after ``serviceCreate`` with a source). So this resource creates the service *without* a source and writes
its settings with ``serviceInstanceUpdate``; a repository is connected only by the ``Deployment`` resource,
after the variables, volume and domain exist. An image is set here through ``serviceInstanceUpdate``, which
sets it without deploying (TF PR #21); ``Deployment`` then deploys it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, Resource, UpdateResult

from infra.railway import operations as ops
from infra.railway.client import RailwayClient
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, all_nodes, create_or_adopt

SERVICE_FIELDS = ResourceFields(
    (
        Field("project_id", "project_id", required=True, replace=True),
        Field("environment_id", "environment_id", required=True, replace=True),
        Field("name", "service_name", required=True),
        Field("source", "source", required=True),
        Field("settings", "settings"),
        Field("service_id"),
        Field("private_domain"),
        Field("adopted"),
    )
)

#: ServiceSettings keys -> ServiceInstanceUpdateInput fields
SETTINGS_FIELDS = {
    "root_directory": "rootDirectory",
    "dockerfile_path": "dockerfilePath",
    "start_command": "startCommand",
    "healthcheck_path": "healthcheckPath",
    "healthcheck_timeout_s": "healthcheckTimeout",
    "restart_policy": "restartPolicyType",
    "restart_policy_max_retries": "restartPolicyMaxRetries",
}


def instance_input(source: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ServiceInstanceUpdateInput for a service's settings (and image) in one environment.

    Replicas and region go one way only: ``multiRegionConfig`` when a region is set, else ``numReplicas``;
    never both, and never ``region`` (the top-level ``region`` does not move a deployment). Source:
    jamesprnich/terraform-provider-railway ``resource_service_instance.go`` (multiRegionConfig with a region,
    numReplicas without), terraform-community-providers ``resource_service.go`` ``buildServiceInstanceInput``
    (multiRegionConfig only), alchemy-run/alchemy #1748.
    """
    fields: dict[str, Any] = {
        field: settings[key] for key, field in SETTINGS_FIELDS.items() if settings.get(key) is not None
    }
    replicas = int(settings.get("replicas") or 1)
    if settings.get("region"):
        fields["multiRegionConfig"] = {settings["region"]: {"numReplicas": replicas}}
    else:
        fields["numReplicas"] = replicas
    if source.get("image"):
        fields["source"] = {"image": source["image"]}
    return fields


class ServiceProvider(RailwayProvider):
    fields = SERVICE_FIELDS

    def validate(self, news: Mapping[str, Any]) -> list[CheckFailure]:
        source = news.get("source") or {}
        if bool(source.get("image")) == bool(source.get("repo")):
            return [CheckFailure("source", "set exactly one of source.image or source.repo")]
        return []

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)

        def lookup() -> dict[str, Any] | None:
            # a half-created service from a failed run (every page): adopt and configure it
            services = all_nodes(
                client, ops.PROJECT_SERVICES, {"id": props["project_id"]}, ("project", "services")
            )
            return next((s for s in services if s["name"] == props["name"]), None)

        # no `source`: a source deploys at once, before the settings below exist (module docstring)
        create_input = {
            "projectId": props["project_id"],
            "name": props["name"],
            "environmentId": props["environment_id"],
        }
        service, adopted = create_or_adopt(
            lookup,
            lambda: client.execute(ops.SERVICE_CREATE, {"input": create_input}, creates=True)[
                "serviceCreate"
            ],
        )
        self._configure(client, service["id"], props)
        return CreateResult(service["id"], self._service_outs(props, service["id"], adopted=adopted))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client(news)
        if olds.get("name") != news.get("name"):
            client.execute(ops.SERVICE_UPDATE, {"id": id_, "input": {"name": news["name"]}})
        self._configure(client, id_, news)
        return UpdateResult(self._service_outs(news, id_, adopted=olds.get("adopted", False)))

    def _configure(self, client: RailwayClient, service_id: str, props: Mapping[str, Any]) -> None:
        client.execute(
            ops.SERVICE_INSTANCE_UPDATE,
            {
                "serviceId": service_id,
                # always scoped: environmentId null updates every environment (research/railway.md §2.4)
                "environmentId": props["environment_id"],
                "input": instance_input(props.get("source") or {}, props.get("settings") or {}),
            },
            # right after serviceCreate the instance can answer "ServiceInstance not found" (TF issue #82)
            retry_not_found=True,
        )

    def _service_outs(self, props: Mapping[str, Any], service_id: str, *, adopted: bool) -> dict[str, Any]:
        return self.outs(
            props, service_id=service_id, private_domain=f"{props['name']}.railway.internal", adopted=adopted
        )

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        service = client.execute(ops.SERVICE_GET, {"id": id_})["service"]
        if service.get("deletedAt"):
            return None
        instance = client.execute(
            ops.SERVICE_INSTANCE_GET, {"serviceId": id_, "environmentId": props["environment_id"]}
        )["serviceInstance"]
        settings = dict(props.get("settings") or {})
        for key, field in SETTINGS_FIELDS.items():
            # only managed settings, and only what Railway echoes back: values can be missing after a redeploy
            if key in settings and instance.get(field) not in (None, ""):
                settings[key] = instance[field]
        if instance.get("numReplicas"):
            settings["replicas"] = instance["numReplicas"]
        source = dict(props.get("source") or {})
        live_image = (instance.get("source") or {}).get("image")
        if live_image and source.get("image"):
            source["image"] = live_image
        return {**props, "name": service["name"], "settings": settings, "source": source}

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        client.execute(ops.SERVICE_DELETE, {"id": id_})


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
        super().__init__(ServiceProvider(), name, SERVICE_FIELDS.props(locals()), opts)
