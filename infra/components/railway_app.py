"""One service on Railway: the service, its variables, optional volume and public domain, and one deploy.

Order (what Railway needs, infra/railway/service.py): the service and its instance settings first, then its
variables, volume and domain, and only then the ``Deployment``, the one resource that can start a build
(it connects a repository or deploys the image) and that waits for SUCCESS. ``deploy_after`` adds what
must exist or serve before this service starts (the stores it references, the gateway for the bot).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.railway.deployment import DEFAULT_TIMEOUT_S
from infra.railway.resources import DEFAULT_API_URL, Deployment, Service, ServiceDomain, Variables, Volume


@dataclass(frozen=True)
class RailwayAppArgs:
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    #: the name on Railway; also the namespace of its reference variables (``${{<name>.X}}``)
    service_name: str
    source: Mapping[str, Any]
    settings: Mapping[str, Any]
    variables: Mapping[str, pulumi.Input[str]]
    volume_mount: str | None = None
    public_port: int | None = None
    api_url: str = DEFAULT_API_URL
    #: what must exist (or serve) before this service deploys: the variables its references resolve against
    deploy_after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    #: how long `up` waits for the deployment to reach SUCCESS
    deploy_timeout_s: float = DEFAULT_TIMEOUT_S
    #: what this service's reference variables resolve to (another service's password): Railway resolves
    #: ``${{service.VAR}}`` only when it deploys, so a change to these must redeploy this service too
    referenced: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class RailwayApp(pulumi.ComponentResource):
    service_id: pulumi.Output[str]
    private_domain: pulumi.Output[str]
    url: pulumi.Output[str] | None

    def __init__(self, name: str, args: RailwayAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:railway:App", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.service = Service(
            f"{name}-service",
            project_id=args.project_id,
            environment_id=args.environment_id,
            service_name=args.service_name,
            source=dict(args.source),
            settings=dict(args.settings),
            api_url=args.api_url,
            opts=child,
        )
        self.service_id = self.service.service_id
        self.private_domain = self.service.private_domain
        scope = {
            "project_id": args.project_id,
            "environment_id": args.environment_id,
            "api_url": args.api_url,
        }
        self.variables = Variables(
            f"{name}-variables",
            service_id=self.service.service_id,
            variables=dict(args.variables),
            **scope,
            opts=child,
        )
        ready: list[pulumi.Resource] = [self.variables, *args.deploy_after]
        self.volume: Volume | None = None
        if args.volume_mount:
            self.volume = Volume(
                f"{name}-volume",
                service_id=self.service.service_id,
                mount_path=args.volume_mount,
                **scope,
                opts=child,
            )
            ready.append(self.volume)
        self.domain: ServiceDomain | None = None
        self.url = None
        if args.public_port:
            self.domain = ServiceDomain(
                f"{name}-domain",
                service_id=self.service.service_id,
                target_port=args.public_port,
                **scope,
                opts=child,
            )
            self.url = self.domain.url
            ready.append(self.domain)
        # one fingerprint of everything that should redeploy: a change to any of them deploys exactly once
        revision = pulumi.Output.all(
            source=dict(args.source),
            settings=dict(args.settings),
            variables=dict(args.variables),
            referenced=dict(args.referenced),
        ).apply(_fingerprint)
        self.deployment = Deployment(
            f"{name}-deployment",
            service_id=self.service.service_id,
            environment_id=args.environment_id,
            revision=revision,
            # the Deployment connects a repository (after variables, volume and domain exist) and waits
            source=dict(args.source),
            project_id=args.project_id,
            service_name=args.service_name,
            api_url=args.api_url,
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        self.register_outputs(
            {"service_id": self.service_id, "private_domain": self.private_domain, "url": self.url}
        )


def _fingerprint(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
