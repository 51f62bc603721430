"""The stack's environment in its project: the project's default one, adopted by name, or a new one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource

from infra.railway import operations as ops
from infra.railway.client import RailwayClient
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, all_nodes, create_or_adopt

ENVIRONMENT_FIELDS = ResourceFields(
    (
        Field("project_id", "project_id", required=True, replace=True),
        Field("name", "environment_name", required=True, replace=True),
        Field("environment_id"),
        Field("adopted"),
    )
)


class EnvironmentProvider(RailwayProvider):
    fields = ENVIRONMENT_FIELDS

    def _listing(self, client: RailwayClient, props: Mapping[str, Any]) -> list[dict[str, Any]]:
        # the list is authoritative: environment(id) can return stale data for a deleted environment
        # (jamesprnich/terraform-provider-railway resource_environment.go); every page is read
        return all_nodes(
            client,
            ops.ENVIRONMENTS,
            {"projectId": props["project_id"]},
            ("environments",),
            retry_not_found=True,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)

        def lookup() -> dict[str, Any] | None:
            # the project's default environment (created with it), or one a failed run left behind
            return next((e for e in self._listing(client, props) if e["name"] == props["name"]), None)

        create_input = {"projectId": props["project_id"], "name": props["name"], "stageInitialChanges": False}
        environment, adopted = create_or_adopt(
            lookup,
            lambda: client.execute(ops.ENVIRONMENT_CREATE, {"input": create_input}, creates=True)[
                "environmentCreate"
            ],
        )
        env_id = environment["id"]
        return CreateResult(env_id, self.outs(props, environment_id=env_id, adopted=adopted))

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        found = [e for e in self._listing(client, props) if e["id"] == id_]
        return {**props, "name": found[0]["name"], "environment_id": id_} if found else None

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return  # the project's own default environment goes with the project
        super().delete(id_, props)

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        client.execute(ops.ENVIRONMENT_DELETE, {"id": id_})


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
        super().__init__(EnvironmentProvider(), name, ENVIRONMENT_FIELDS.props(locals()), opts)
