"""The LiteLLM gateway on Railway: the rendered config, the provider keys and the master key, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.catalog import StackSpec
from infra.catalog.deploy import ServiceSource
from infra.components.railway_app import RailwayApp, RailwayAppArgs
from infra.components.stores import Cache
from infra.railway.resources import DEFAULT_API_URL
from infra.render import MASTER_KEY_ENV, REDIS_ENV

GATEWAY_SERVICE = "gateway"
GATEWAY_PORT = 4000
#: where the gateway's budget hook posts alerts: the bot's alerts endpoint on the private network
ALERTS_PATH = "/alerts"


def source_and_build(source: ServiceSource) -> tuple[dict[str, str], dict[str, str]]:
    """Railway's service source, and the build settings that go with a repository source."""
    if source.image:
        return {"image": source.image}, {}
    assert source.repo is not None
    build = {
        k: v
        for k, v in {
            "root_directory": source.root_directory,
            "dockerfile_path": source.dockerfile_path,
        }.items()
        if v
    }
    return {"repo": source.repo, "branch": source.branch}, build


@dataclass(frozen=True)
class GatewayArgs:
    spec: StackSpec
    config_text: str
    #: environment variable -> provider key (secret)
    provider_keys: Mapping[str, pulumi.Input[str]]
    master_key: pulumi.Input[str]
    alerts_secret: pulumi.Input[str]
    alerts_url: str
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    cache: Cache | None = None
    api_url: str = DEFAULT_API_URL


class Gateway(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:gateway:Gateway", name, None, opts)
        spec = args.spec
        gateway = spec.catalog.gateway
        source, build = source_and_build(spec.deploy.services.gateway)
        variables: dict[str, pulumi.Input[str]] = {
            "PORT": str(GATEWAY_PORT),
            "LITELLM_CONFIG_YAML": args.config_text,
            "LITELLM_NUM_WORKERS": str(gateway.workers),
            # the bundled cost map of the pinned LiteLLM, not a download at every start
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            MASTER_KEY_ENV: args.master_key,
            "BUDGET_ALERT_URL": args.alerts_url,
            "BUDGET_ALERT_SECRET": args.alerts_secret,
            **args.provider_keys,
        }
        deploy_after: list[pulumi.Resource] = []
        if args.cache is not None:
            variables[REDIS_ENV["host"]] = Cache.host_reference
            variables[REDIS_ENV["port"]] = Cache.port
            variables[REDIS_ENV["password"]] = Cache.password_reference
            deploy_after.append(args.cache.app.variables)
        self.app = RailwayApp(
            f"{name}-app",
            RailwayAppArgs(
                project_id=args.project_id,
                environment_id=args.environment_id,
                service_name=GATEWAY_SERVICE,
                source=source,
                settings={
                    **build,
                    "healthcheck_path": "/health/ready",
                    "healthcheck_timeout_s": spec.deploy.services.healthcheck_timeout_s,
                    "replicas": gateway.replicas,
                    "region": spec.deploy.railway.region,
                    "restart_policy": "ON_FAILURE",
                },
                variables=variables,
                public_port=GATEWAY_PORT,
                api_url=args.api_url,
                deploy_after=deploy_after,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        assert self.app.url is not None
        self.url = self.app.url
        self.register_outputs({"url": self.url})
