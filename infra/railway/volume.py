"""A volume mounted on one service in the stack's environment; adopted if the service already has one.

``volumeInstanceUpdate`` always carries ``serviceId``: the schema's own text for
``VolumeInstanceUpdateInput.serviceId`` says "If not provided, the volume will be disconnected", and the CLI
(``src/gql/mutations/strings/VolumeMountPathUpdate.graphql``), both Terraform providers and jamesprnich's
``resource_volume.go`` all send it with ``mountPath``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from infra.railway import operations as ops
from infra.railway.client import RailwayClient
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, all_nodes, create_or_adopt, edges
from infra.railway.scope import SCOPE_FIELDS, ServiceScope

VOLUME_FIELDS = ResourceFields(
    (
        *SCOPE_FIELDS,
        Field("mount_path", "mount_path", required=True),
        Field("volume_id"),
        Field("volume_name"),
    )
)


def instance_update(volume_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of volumeInstanceUpdate: serviceId always, or Railway detaches the volume."""
    return {
        "volumeId": volume_id,
        "environmentId": props["environment_id"],
        "input": {"serviceId": props["service_id"], "mountPath": props["mount_path"]},
    }


class VolumeProvider(RailwayProvider):
    fields = VOLUME_FIELDS

    @staticmethod
    def _mine(client: RailwayClient, props: Mapping[str, Any]) -> list[dict[str, Any]]:
        volumes = all_nodes(client, ops.PROJECT_VOLUMES, {"id": props["project_id"]}, ("project", "volumes"))
        mine = []
        for volume in volumes:
            for instance in edges(volume["volumeInstances"]):
                if (
                    instance["serviceId"] == props["service_id"]
                    and instance["environmentId"] == props["environment_id"]
                ):
                    mine.append({**volume, "mountPath": instance["mountPath"]})
        return mine

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        create_input = {
            "projectId": props["project_id"],
            # always pass the environment: without it Railway creates no volume instance (TF #61)
            "environmentId": props["environment_id"],
            "serviceId": props["service_id"],
            "mountPath": props["mount_path"],
        }
        volume, adopted = create_or_adopt(
            lambda: next(iter(self._mine(client, props)), None),
            lambda: client.execute(
                ops.VOLUME_CREATE, {"input": create_input}, retry_not_found=True, creates=True
            )["volumeCreate"],
        )
        if adopted and volume["mountPath"] != props["mount_path"]:
            client.execute(ops.VOLUME_INSTANCE_UPDATE, instance_update(volume["id"], props))
        return CreateResult(
            volume["id"], self.outs(props, volume_id=volume["id"], volume_name=volume["name"])
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.client(news).execute(ops.VOLUME_INSTANCE_UPDATE, instance_update(id_, news))
        return UpdateResult(self.outs(news, volume_id=id_, volume_name=olds.get("volume_name")))

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        found = [v for v in self._mine(client, props) if v["id"] == id_]
        return {**props, "mount_path": found[0]["mountPath"]} if found else None

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        client.execute(ops.VOLUME_DELETE, {"volumeId": id_})


class Volume(Resource, module="railway", name="Volume"):
    volume_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        mount_path: pulumi.Input[str],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
        **scope: Unpack[ServiceScope],
    ) -> None:
        super().__init__(VolumeProvider(), name, VOLUME_FIELDS.props({**scope, **locals()}), opts)
