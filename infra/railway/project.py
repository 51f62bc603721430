"""A Railway project, looked up in its workspace before it is created, so a re-run never duplicates it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from infra.railway import operations as ops
from infra.railway.client import RailwayClient, RailwayError
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, all_nodes, create_or_adopt

PROJECT_FIELDS = ResourceFields(
    (
        Field("name", "project_name", required=True),
        Field("workspace_id", "workspace_id", replace=True),
        Field("default_environment", "default_environment", required=True),
        Field("project_id"),
        Field("adopted"),
    )
)


def token_workspace(client: RailwayClient) -> str | None:
    """The workspace to use when the stack names none: the token's only one, or personal when it has none.

    A workspace token "cannot be used to access your personal resources" (docs integrations/api.md), so
    looking among personal projects with it would miss the stack's project and create it again.
    """
    workspaces = client.execute(ops.TOKEN_WORKSPACES)["apiToken"]["workspaces"]
    if len(workspaces) == 1:
        return str(workspaces[0]["id"])
    if len(workspaces) > 1:
        listed = ", ".join(f"{w['name']} ({w['id']})" for w in workspaces)
        raise RailwayError(
            "TokenWorkspaces",
            f"the token can act in several workspaces ({listed}): choose one with "
            "`pulumi config set --path 'llmstack:railway.workspace_id' <id>`",
        )
    return None


class ProjectProvider(RailwayProvider):
    fields = PROJECT_FIELDS

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        workspace_id = props.get("workspace_id") or token_workspace(client)

        # without workspaceId, `projects` lists only personal projects (docs integrations/api/manage-projects.md):
        # a team workspace's project would be missed and created twice; and every page is read
        def lookup() -> dict[str, Any] | None:
            listing = all_nodes(client, ops.PROJECTS, {"workspaceId": workspace_id}, ("projects",))
            return next((p for p in listing if p["name"] == props["name"] and not p.get("deletedAt")), None)

        create_input = {
            "name": props["name"],
            "workspaceId": workspace_id,
            # only honoured at create (research/railway.md §2.1)
            "defaultEnvironmentName": props["default_environment"],
            "isPublic": False,
            "prDeploys": False,
        }
        project, adopted = create_or_adopt(
            lookup,
            lambda: client.execute(ops.PROJECT_CREATE, {"input": create_input}, creates=True)[
                "projectCreate"
            ],
        )
        project_id = project["id"]
        return CreateResult(project_id, self.outs(props, project_id=project_id, adopted=adopted))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("name") != news.get("name"):
            self.client(news).execute(ops.PROJECT_UPDATE, {"id": id_, "input": {"name": news["name"]}})
        return UpdateResult(self.outs(news, project_id=id_, adopted=olds.get("adopted", False)))

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        project = client.execute(ops.PROJECT_GET, {"id": id_})["project"]
        if project.get("deletedAt"):
            return None
        return {**props, "name": project["name"], "project_id": id_}

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        # projectDelete removes the project with everything in it: services, volumes, domains, variables
        client.execute(ops.PROJECT_DELETE, {"id": id_})


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
        super().__init__(ProjectProvider(), name, PROJECT_FIELDS.props(locals()), opts)
