"""The LiteLLM gateway on Railway: the rendered config, the provider keys and the master key, nothing else.

It is done when it serves: a ``ServingCheck`` after its deployment asks the public domain for readiness (the
budget counter reachable), for a 401 without the key and for this stack's routes and groups with the master
key. The bot deploys only after that check passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from infra.catalog import StackSpec
from infra.catalog.deploy import ServiceSource
from infra.components.railway_app import RailwayApp, RailwayAppArgs
from infra.components.stores import Cache
from infra.railway.resources import DEFAULT_API_URL
from infra.render import MASTER_KEY_ENV, REDIS_ENV
from infra.serving import ServingCheck, gateway_probes

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
    #: the budget counter's Redis (every deployed stack has one: issue 9's team decision)
    cache: Cache
    api_url: str = DEFAULT_API_URL
    #: what the catalog's ``observability:`` section needs (infra/observability.py): the exporters' plain
    #: variables and their credentials (variable -> secret value), none when the section is absent
    trace_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: each client's key as the variable the rendered config names (``LLMSTACK_CLIENT_<NAME>_KEY`` -> secret)
    client_keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def served_model_ids(spec: StackSpec) -> list[str]:
    """What ``GET /v1/models`` lists for this stack's config: every route (LiteLLM's ``model_group_alias``)
    and every enabled group (measured against the real proxy with the dev config)."""
    return [*sorted(spec.catalog.routes), *spec.catalog.models]


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
            **args.trace_variables,
            **args.client_keys,
        }
        # the budget counter: references to the Redis service, resolved by Railway when the gateway deploys
        variables[REDIS_ENV["host"]] = Cache.host_reference
        variables[REDIS_ENV["port"]] = Cache.port
        variables[REDIS_ENV["password"]] = Cache.password_reference
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
                # Redis must be deployed, not only declared: the gateway's readiness asks it
                deploy_after=(args.cache.app.deployment,),
                deploy_timeout_s=spec.deploy.services.deploy_timeout_s,
                referenced={"redis_password": args.cache.password},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        assert self.app.url is not None
        self.url = self.app.url
        counter = "redis" if gateway.shared_state == "redis" else None
        self.serving = ServingCheck(
            f"{name}-serving",
            base_url=self.url,
            probes=gateway_probes(served_model_ids(spec), counter),
            # a new deployment (any change to the gateway) runs the checks again
            revision=self.app.deployment.deployment_id,
            key=args.master_key,
            timeout_s=spec.deploy.services.serving_timeout_s,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.app.deployment]),
        )
        self.register_outputs({"url": self.url})
