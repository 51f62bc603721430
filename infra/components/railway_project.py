"""A Railway project per stack, with the stack's environment (the project's default one, adopted by name)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.railway.resources import DEFAULT_API_URL, Environment, Project


@dataclass(frozen=True)
class RailwayProjectArgs:
    project_name: str
    environment_name: str
    workspace_id: str | None = None
    api_url: str = DEFAULT_API_URL


class RailwayProject(pulumi.ComponentResource):
    """One project per stack: no service, variable or volume can leak between environments (research §4.1)."""

    project_id: pulumi.Output[str]
    environment_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: RailwayProjectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmstack:railway:Project", name, None, opts)
        self.project = Project(
            f"{name}-project",
            project_name=args.project_name,
            default_environment=args.environment_name,
            workspace_id=args.workspace_id,
            api_url=args.api_url,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.environment = Environment(
            f"{name}-environment",
            project_id=self.project.project_id,
            environment_name=args.environment_name,
            api_url=args.api_url,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.project_id = self.project.project_id
        self.environment_id = self.environment.environment_id
        self.register_outputs({"project_id": self.project_id, "environment_id": self.environment_id})
