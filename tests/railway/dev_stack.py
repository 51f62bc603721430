"""The ``dev`` stack's Railway resources in the program's dependency order, and a tiny engine that runs
``up`` and ``destroy`` over the provider host the way Pulumi does (create, or diff then update/replace;
delete in reverse order), keeping a state between runs.

The resources mirror ``infra/program.py`` and ``infra/components/`` for dev: a project and its environment,
Postgres and Redis from images on volumes, the gateway and the bot from the repository with a public
domain each; every service's Deployment comes after its variables, volume and domain, and the bot's after
the gateway's and Postgres's variables (``deploy_after``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.proto import provider_pb2

from infra.railway.resources import (
    DeploymentProvider,
    EnvironmentProvider,
    ProjectProvider,
    RailwayProvider,
    ServiceDomainProvider,
    ServiceProvider,
    VariablesProvider,
    VolumeProvider,
)
from tests.railway.provider_host import ProviderHost

REPO = "acme/llm-stack"


@dataclass(frozen=True)
class AppSpec:
    name: str
    source: dict[str, Any]
    settings: dict[str, Any]
    variables: dict[str, str]
    volume_mount: str | None = None
    public_port: int | None = None


def dev_apps(*, gateway_workers: int = 2) -> list[AppSpec]:
    """The dev stack's services; ``gateway_workers`` stands for a catalog edit that changes the gateway."""
    return [
        AppSpec(
            "postgres",
            {"image": "ghcr.io/railwayapp-templates/postgres-ssl:17"},
            {"replicas": 1, "region": "europe-west4", "restart_policy": "ALWAYS"},
            {"POSTGRES_PASSWORD": "pw-1", "PGDATA": "/var/lib/postgresql/data/pgdata"},
            volume_mount="/var/lib/postgresql/data",
        ),
        AppSpec(
            "redis",
            {"image": "ghcr.io/railwayapp-templates/redis:8"},
            {
                "replicas": 1,
                "region": "europe-west4",
                "start_command": "redis-server --requirepass $REDIS_PASSWORD",
            },
            {"REDIS_PASSWORD": "pw-2"},
            volume_mount="/data",
        ),
        AppSpec(
            "gateway",
            {"repo": REPO, "branch": "main"},
            {
                "root_directory": "services/litellm-gateway",
                "healthcheck_path": "/health/ready",
                "replicas": 1,
            },
            {
                "PORT": "4000",
                "LITELLM_NUM_WORKERS": str(gateway_workers),
                "REDIS_HOST": "${{redis.RAILWAY_PRIVATE_DOMAIN}}",
            },
            public_port=4000,
        ),
        AppSpec(
            "bot",
            {"repo": REPO, "branch": "main"},
            {"root_directory": "services/telegram-bot", "healthcheck_path": "/healthz", "replicas": 1},
            {
                "PORT": "8080",
                "DATABASE_URL": "${{postgres.DATABASE_URL}}",
                "GATEWAY_URL": "http://gateway.railway.internal:4000",
            },
            public_port=8080,
        ),
    ]


@dataclass
class Step:
    key: str
    kind: str
    provider: RailwayProvider
    props: Callable[[dict[str, dict[str, Any]]], dict[str, Any]]
    #: the steps whose outputs or completion this one waits for (the program's dependencies)
    after: tuple[str, ...] = ()


def dev_steps(
    url: str, apps: list[AppSpec], *, timeout_s: float = 20.0, poll_interval_s: float = 0.02
) -> list[Step]:
    steps = [
        Step(
            "project",
            "Project",
            ProjectProvider(),
            lambda s: {"name": "llmstack-dev", "default_environment": "dev", "api_url": url},
        ),
        Step(
            "environment",
            "Environment",
            EnvironmentProvider(),
            lambda s: {"project_id": s["project"]["project_id"], "name": "dev", "api_url": url},
            ("project",),
        ),
    ]

    def scope(s: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "project_id": s["project"]["project_id"],
            "environment_id": s["environment"]["environment_id"],
            "api_url": url,
        }

    for app in apps:
        steps += _app_steps(app, scope, timeout_s, poll_interval_s)
    # the bot deploys after the gateway's and Postgres's variables (infra/program.py deploy_after)
    for step in steps:
        if step.key == "bot-deployment":
            step.after += ("gateway-variables", "postgres-variables")
    return steps


def _app_steps(
    app: AppSpec,
    scope: Callable[[dict[str, dict[str, Any]]], dict[str, Any]],
    timeout_s: float,
    poll_interval_s: float,
) -> list[Step]:
    name = app.name

    def attached(
        part: str, kind: str, provider: RailwayProvider, fields: dict[str, Any], after: tuple[str, ...] = ()
    ) -> Step:
        """A resource of this service (variables, volume, domain, deployment): the scope, the service's id and
        ``fields``; after the service and ``after``."""
        return Step(
            f"{name}-{part}",
            kind,
            provider,
            lambda s: {**scope(s), "service_id": s[f"{name}-service"]["service_id"], **fields},
            (f"{name}-service", *after),
        )

    steps = [
        Step(
            f"{name}-service",
            "Service",
            ServiceProvider(),
            lambda s: {**scope(s), "name": name, "source": app.source, "settings": app.settings},
            ("environment",),
        ),
        attached("variables", "Variables", VariablesProvider(), {"variables": app.variables}),
    ]
    if app.volume_mount:
        steps.append(attached("volume", "Volume", VolumeProvider(), {"mount_path": app.volume_mount}))
    if app.public_port:
        steps.append(
            attached("domain", "ServiceDomain", ServiceDomainProvider(), {"target_port": app.public_port})
        )
    revision = hashlib.sha256(
        json.dumps([app.source, app.settings, app.variables], sort_keys=True).encode()
    ).hexdigest()
    deployment = {
        "service_name": name,
        "source": app.source,
        "revision": revision,
        "timeout_s": timeout_s,
        "poll_interval_s": poll_interval_s,
    }
    # its variables, volume and domain: what RailwayApp makes it wait for
    after = tuple(step.key for step in steps[1:])
    steps.append(attached("deployment", "Deployment", DeploymentProvider(), deployment, after))
    return steps


@dataclass
class Engine:
    """What Pulumi's engine does with a provider for ``up`` and ``destroy``, sequentially, keeping state."""

    host: ProviderHost
    #: key -> (id, outputs) of what exists, as the state file would hold it
    state: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)

    def up(self, steps: list[Step]) -> None:
        outs = {key: value[1] for key, value in self.state.items()}
        for step in steps:
            news = step.props(outs)
            if step.key not in self.state:
                self._create(step, news)
            else:
                id_, olds = self.state[step.key]
                diff = self.host.diff(step.provider, step.kind, id_, olds, news)
                if diff.changes != provider_pb2.DiffResponse.DIFF_SOME:
                    self.log.append(("same", step.key))
                elif diff.replaces:
                    self.host.delete(step.provider, step.kind, id_, olds)
                    del self.state[step.key]
                    self._create(step, news)
                else:
                    self.state[step.key] = (id_, self.host.update(step.provider, step.kind, id_, olds, news))
                    self.log.append(("update", step.key))
            outs[step.key] = self.state[step.key][1]

    def _create(self, step: Step, news: dict[str, Any]) -> None:
        self.state[step.key] = self.host.create(step.provider, step.kind, news)
        self.log.append(("create", step.key))

    def destroy(self, steps: list[Step]) -> None:
        for step in reversed(steps):
            if step.key in self.state:
                id_, olds = self.state.pop(step.key)
                self.host.delete(step.provider, step.kind, id_, olds)
                self.log.append(("delete", step.key))
